"""The tamper-evident audit trail: every staff and device action, hash-chained per hall.

Each entry carries the hash of the one before it and its own position; the chain's head (count
and last hash) is kept in `audit_heads`. Editing, deleting or inserting a row breaks a link that
`verify` finds. Appends happen inside the action's own transaction, after the hall's row lock,
so chains never fork under concurrency (on PostgreSQL the hall row is locked first).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from hall_server.storage import audit_heads, audit_log, read_tx

GENESIS = "0" * 64
GLOBAL_CHAIN = "*"  # actions that belong to no hall: logins


def entry_hash(chain: str, n: int, at: datetime, actor: str, action: str, ticket: str | None,
               file: str | None, data: Any, prev: str) -> str:
    """The SHA-256 of an entry's canonical JSON, including the previous entry's hash."""
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    body = json.dumps([chain, n, stamp, actor, action, ticket, file, data, prev],
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# Built once: a statement built per call costs more Python than its execution (hot path).
_HEAD = select(audit_heads.c.count, audit_heads.c.hash).where(audit_heads.c.chain == bindparam("chain"))
_HEAD_LOCKED = _HEAD.with_for_update()
_INSERT_HEAD = insert(audit_heads)
_INSERT_ENTRY = insert(audit_log)
_MOVE_HEAD = update(audit_heads).where(audit_heads.c.chain == bindparam("b_chain")).values(
    count=bindparam("b_count"), hash=bindparam("b_hash"))


def append(c: Connection, chain: str, at: datetime, actor: str, action: str, *, ticket: str | None = None,
           file: str | None = None, data: Any = None, pg: bool = False) -> str:
    """Append one entry to a chain in the caller's transaction; returns its hash."""
    data = json.loads(json.dumps(data, ensure_ascii=False, default=str))  # hash what the database returns
    # The head row's lock serializes appends to a chain; callers take it last in their
    # transaction (after the hall's seq row), so lock order is the same everywhere.
    head = c.execute(_HEAD_LOCKED if pg else _HEAD, {"chain": chain}).first()
    if head is None:
        c.execute(_INSERT_HEAD, {"chain": chain, "count": 0, "hash": GENESIS})
        n, prev = 1, GENESIS
    else:
        n, prev = int(head[0]) + 1, head[1]
    h = entry_hash(chain, n, at, actor, action, ticket, file, data, prev)
    c.execute(_INSERT_ENTRY, {"chain": chain, "n": n, "at": at, "actor": actor, "action": action, "ticket": ticket,
                              "file": file, "data": data, "prev_hash": prev, "hash": h})
    c.execute(_MOVE_HEAD, {"b_chain": chain, "b_count": n, "b_hash": h})
    return h


@dataclass(frozen=True)
class Break:
    """The first broken link of a chain."""

    chain: str
    n: int
    row_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry {self.n}" + (f" (row id {self.row_id})" if self.row_id is not None else "")
        return f"chain {self.chain!r}: {where}: {self.reason}"


def _rows(c: Connection, chain: str) -> Iterator[Any]:
    yield from c.execute(select(audit_log).where(audit_log.c.chain == chain).order_by(audit_log.c.n,
                                                                                      audit_log.c.id))


def verify(engine: Engine) -> tuple[dict[str, int], list[Break]]:
    """Walk every chain; return the entries checked per chain and the first break of each broken one."""
    checked: dict[str, int] = {}
    breaks: list[Break] = []
    with read_tx(engine) as c:
        heads = {h.chain: h for h in c.execute(select(audit_heads))}
        chains = set(heads) | {r[0] for r in c.execute(select(audit_log.c.chain).distinct())}
        for chain in sorted(chains):
            prev, expected_n, broken = GENESIS, 1, None
            for r in _rows(c, chain):
                if r.n != expected_n:
                    broken = Break(chain, expected_n, r.id, f"position {r.n} found where {expected_n} was "
                                   "expected: an entry was deleted or inserted")
                elif r.prev_hash != prev:
                    broken = Break(chain, r.n, r.id, "its link to the previous entry does not match: "
                                   "an entry before it was deleted, inserted or edited")
                elif entry_hash(chain, r.n, r.at, r.actor, r.action, r.ticket, r.file, r.data, prev) != r.hash:
                    broken = Break(chain, r.n, r.id, "its content does not match its hash: the entry was edited")
                if broken:
                    break
                prev, expected_n = r.hash, expected_n + 1
            checked[chain] = expected_n - 1
            head = heads.get(chain)
            if broken is None and (head is None or head.count != expected_n - 1 or head.hash != prev):
                broken = Break(chain, expected_n - 1, None, "the chain's head does not match its last entry: "
                               "entries at the end were deleted or added")
            if broken:
                breaks.append(broken)
    return checked, breaks


def search(engine: Engine, chain: str | None = None, actor: str | None = None, ticket: str | None = None,
           file: str | None = None, since: datetime | None = None, until: datetime | None = None,
           limit: int = 500) -> list[dict[str, Any]]:
    """Entries matching the filters, newest first."""
    q = select(audit_log)
    if chain:
        q = q.where(audit_log.c.chain == chain)
    if actor:
        q = q.where(audit_log.c.actor.contains(actor))
    if ticket:
        q = q.where(audit_log.c.ticket == ticket)
    if file:
        q = q.where(audit_log.c.file == file)
    if since:
        q = q.where(audit_log.c.at >= since)
    if until:
        q = q.where(audit_log.c.at < until)
    q = q.order_by(audit_log.c.id.desc()).limit(max(1, min(limit, 5000)))
    with read_tx(engine) as c:
        return [{"n": r.n, "chain": r.chain, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
                 "ticket": r.ticket, "file": r.file, "data": r.data, "hash": r.hash} for r in c.execute(q)]
