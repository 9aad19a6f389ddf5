"""The audit trail: every staff and device action, chained per hall with a key kept off the database.

Each entry carries the hash of the one before it and its own position; the hash is an HMAC-SHA256
with the audit key (HALL_AUDIT_KEY or HALL_AUDIT_KEY_FILE; neither: `<data dir>/audit.key`, made
on first use with mode 0600). Someone with the database but not the key can edit, delete or insert
rows, but cannot recompute the hashes: `verify` finds the first entry that is not what the key
signed. The chain's head (count and last hash) is kept in `audit_heads`; appends happen inside the
action's own transaction, after the hall's row lock, so chains never fork under concurrency.

What the key cannot show alone: the end of a chain cut off (the head moved back to an earlier,
genuine entry) or a whole chain deleted with its head. So each chain's head (count, last hash, the
last entry's time) is signed with the same key and exported off the database: appended as a JSON
line to `<data dir>/audit-heads/<chain>.jsonl` every `audit_export_hours` (a background task of
the server; `hall-server audit export` on demand) and POSTed to the governorate server when
HALL_GOVERNORATE_URL is set (retried; what was not delivered goes with the next export). `verify`
checks the chains against every exported head: a chain shorter than a head exported earlier, a
different hash at an exported count, a chain missing while its exports exist.

Chains are keyed from this version on: entries written before it (plain SHA-256) are reported as
unkeyed; the database had no production data when the key came in.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from config import ConfigError, Settings
from hall_server.storage import Prepared, audit_heads, audit_log, file_events, halls, read_tx, ticket_events

log = logging.getLogger(__name__)

GENESIS = "0" * 64
GLOBAL_CHAIN = "*"  # actions that belong to no hall: logins
KEY_FILE = "audit.key"  # in the data dir, when no key is configured
KEY_MIN_BYTES = 32
HEADS_DIR = "audit-heads"  # in the data dir: <chain>.jsonl, one signed head per line and export
HEAD_VERSION = 1
_ENTRY_DOMAIN = b"hall-audit/entry\n"  # what an entry's HMAC covers starts with this ...
_HEAD_DOMAIN = b"hall-audit/head\n"  # ... and a head's signature with this: one never passes for the other
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# ----- the key --------------------------------------------------------------------------------------
class AuditKeyMissing(RuntimeError):
    """An audit entry was to be written on an engine no audit key was given for."""


@dataclass(frozen=True)
class AuditKey:
    """The secret the chains and the exported heads are keyed with; `id` names it without revealing it."""

    secret: bytes = field(repr=False)
    source: str
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", hmac.new(self.secret, b"hall-audit/key-id", hashlib.sha256).hexdigest()[:16])
        object.__setattr__(self, "_entry", hmac.new(self.secret, _ENTRY_DOMAIN, hashlib.sha256))

    def entry(self, body: bytes) -> str:
        """The keyed hash of an entry's canonical body."""
        h = self._entry.copy()  # type: ignore[attr-defined]
        h.update(body)
        return str(h.hexdigest())

    def sign(self, record: dict[str, Any]) -> str:
        """The signature of an exported head (every field but `sig`)."""
        body = _canonical({k: v for k, v in record.items() if k != "sig"})
        return hmac.new(self.secret, _HEAD_DOMAIN + body, hashlib.sha256).hexdigest()


def key_path(settings: Settings) -> Path:
    """The key file the settings name, or the data dir's default one."""
    return settings.audit_key_file or Path(settings.data_dir) / KEY_FILE


def load_key(settings: Settings, create: bool = True) -> AuditKey:
    """The configured audit key; with none configured, the data dir's key file, made if `create`."""
    if settings.audit_key:
        return AuditKey(settings.audit_key.strip().encode("utf-8"), "HALL_AUDIT_KEY")
    path = key_path(settings)
    if not path.exists():
        if settings.audit_key_file is not None:
            raise ConfigError(f"environment: HALL_AUDIT_KEY_FILE: expected a key file the server can read, "
                              f"got {str(path)!r} (missing)")
        if not create:
            raise ConfigError(f"{path}: no audit key (HALL_AUDIT_KEY, HALL_AUDIT_KEY_FILE or this file): the "
                              "audit trail cannot be checked without the key it was written with")
        _create_key_file(path)
    return _read_key_file(path)


def _read_key_file(path: Path) -> AuditKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{path}: expected an audit key file only the server can read (chmod 600 {path}), "
                          f"got mode {mode:o}")
    secret = path.read_bytes().strip()
    if len(secret) < KEY_MIN_BYTES:
        raise ConfigError(f"{path}: expected an audit key of at least {KEY_MIN_BYTES} bytes, got {len(secret)}")
    return AuditKey(secret, str(path))


def _create_key_file(path: Path) -> None:
    """A new random key, mode 0600, written whole before it appears under its name (several processes
    may start at once: the first one's key is everyone's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # another process made it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    log.warning("audit: no HALL_AUDIT_KEY or HALL_AUDIT_KEY_FILE is set: created the audit key %s (mode 0600). "
                "Keep a copy off this machine (the trail cannot be checked without it) and out of reach of "
                "database administrators (whoever has it can rewrite the trail).", path)


# Which key an engine's chains are written with: set by the application core (Core) for its engine, so
# every writer (the unit of work, request files, logins) appends keyed entries in its own transaction.
# An engine no core was built on (a bare Auth in a tool) gets the key of the process's own settings.
_KEYS: weakref.WeakKeyDictionary[Engine, AuditKey] = weakref.WeakKeyDictionary()
_PROCESS_KEY: AuditKey | None = None


def use_key(engine: Engine, key: AuditKey) -> None:
    """Entries appended through this engine are keyed with `key`."""
    _KEYS[engine] = key


def key_of(engine: Engine) -> AuditKey:
    """The key given for this engine, else the one the process's settings (HALL_* environment) name.
    Entries are never written unkeyed: AuditKeyMissing when there is no key to be had."""
    global _PROCESS_KEY
    key = _KEYS.get(engine)
    if key is None:
        if _PROCESS_KEY is None:
            from config import load_settings
            try:
                _PROCESS_KEY = load_key(load_settings())
            except (ConfigError, OSError) as exc:
                raise AuditKeyMissing(f"no audit key for this database engine and none from the settings: {exc}") \
                    from exc
        key = _KEYS[engine] = _PROCESS_KEY
    return key


# ----- entries --------------------------------------------------------------------------------------
def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def entry_body(chain: str, n: int, at: datetime, actor: str, action: str, ticket: str | None,
               file: str | None, data: Any, prev: str) -> bytes:
    """An entry's canonical JSON, including the previous entry's hash: what its hash covers."""
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    return _canonical([chain, n, stamp, actor, action, ticket, file, data, prev])


def entry_hash(key: AuditKey, chain: str, n: int, at: datetime, actor: str, action: str, ticket: str | None,
               file: str | None, data: Any, prev: str) -> str:
    """The HMAC-SHA256 of an entry with the audit key."""
    return key.entry(entry_body(chain, n, at, actor, action, ticket, file, data, prev))


# Built once: a statement built per call costs more Python than its execution (hot path).
_HEAD_Q = select(audit_heads.c.count, audit_heads.c.hash).where(audit_heads.c.chain == bindparam("chain"))
_HEAD = Prepared(_HEAD_Q)
_HEAD_LOCKED = Prepared(_HEAD_Q.with_for_update())
_INSERT_HEAD = Prepared(insert(audit_heads), keys=("chain", "count", "hash"))
_INSERT_ENTRY = Prepared(insert(audit_log), keys=("chain", "n", "at", "actor", "action", "ticket", "file", "data",
                                                  "prev_hash", "hash"))
_MOVE_HEAD = Prepared(update(audit_heads).where(audit_heads.c.chain == bindparam("b_chain")).values(
    count=bindparam("b_count"), hash=bindparam("b_hash")))


def append(c: Connection, chain: str, at: datetime, actor: str, action: str, *, ticket: str | None = None,
           file: str | None = None, data: Any = None, pg: bool = False) -> str:
    """Append one keyed entry to a chain in the caller's transaction; returns its hash."""
    key = key_of(c.engine)
    data = json.loads(json.dumps(data, ensure_ascii=False, default=str))  # hash what the database returns
    # The head row's lock serializes appends to a chain; callers take it last in their
    # transaction (after the hall's seq row), so lock order is the same everywhere.
    head = (_HEAD_LOCKED if pg else _HEAD).first(c, {"chain": chain})
    if head is None:
        _INSERT_HEAD.run(c, {"chain": chain, "count": 0, "hash": GENESIS})
        n, prev = 1, GENESIS
    else:
        n, prev = int(head[0]) + 1, head[1]
    h = entry_hash(key, chain, n, at, actor, action, ticket, file, data, prev)
    _INSERT_ENTRY.run(c, {"chain": chain, "n": n, "at": at, "actor": actor, "action": action, "ticket": ticket,
                              "file": file, "data": data, "prev_hash": prev, "hash": h})
    _MOVE_HEAD.run(c, {"b_chain": chain, "b_count": n, "b_hash": h})
    return h


# ----- exported heads ---------------------------------------------------------------------------------
def heads_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / HEADS_DIR


def export_file_name(chain: str) -> str:
    """`<hall>.jsonl`; the logins' chain `_global.jsonl`; any other name (only a forged row has one) hex."""
    if chain == GLOBAL_CHAIN:
        return "_global.jsonl"
    if _CODE_RE.match(chain):
        return f"{chain}.jsonl"
    return f"_x{chain.encode('utf-8').hex()}.jsonl"


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat(timespec="microseconds")


def signed_heads(engine: Engine, key: AuditKey, now: datetime) -> list[dict[str, Any]]:
    """Every chain's head as it stands (count, last hash, the last entry's time), signed."""
    last = audit_log.alias("last")
    q = (select(audit_heads.c.chain, audit_heads.c.count, audit_heads.c.hash, last.c.at)
         .select_from(audit_heads.outerjoin(last, (last.c.chain == audit_heads.c.chain)
                                            & (last.c.n == audit_heads.c.count)))
         .order_by(audit_heads.c.chain))
    records = []
    with read_tx(engine) as c:
        for r in c.execute(q):
            rec: dict[str, Any] = {"v": HEAD_VERSION, "chain": r.chain, "count": int(r._mapping["count"]),
                                   "hash": r.hash,
                                   "at": _iso(r.at), "exported_at": _iso(now), "key_id": key.id}
            rec["sig"] = key.sign(rec)
            records.append(rec)
    return records


def post_heads(url: str, records: list[dict[str, Any]], token: str | None = None, attempts: int = 3,
               backoff_s: float = 2.0, timeout_s: float = 10.0,
               sleep: Callable[[float], Any] = time.sleep) -> str | None:
    """POST {"heads": [...]} to the governorate server, retried with a growing pause; None when it took
    them (a 2xx answer), else what went wrong the last time."""
    body = json.dumps({"heads": records}, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    error = "not tried"
    for attempt in range(1, attempts + 1):
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # a configured http(s) URL
                if 200 <= resp.status < 300:
                    return None
                error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = str(getattr(exc, "reason", exc))
        if attempt < attempts:
            sleep(backoff_s * 2 ** (attempt - 1))
    return error


@dataclass
class ExportResult:
    """What one export wrote and whether the governorate server took it."""

    records: list[dict[str, Any]]
    files: list[Path]
    posted: bool | None = None  # None: no governorate server configured
    error: str | None = None
    unsent: int = 0  # heads still waiting for the governorate server


@contextmanager
def _locked(folder: Path, blocking: bool) -> Iterator[bool]:
    """An exclusive lock on the exports folder (several server processes share a data dir)."""
    with open(folder / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _append_line(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


class HeadExporter:
    """Signs every chain's head and writes it off the database; posts it to the governorate server."""

    def __init__(self, engine: Engine, settings: Settings, key: AuditKey | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], Any] = time.sleep, attempts: int = 3, backoff_s: float = 2.0) -> None:
        self.engine, self.settings = engine, settings
        self.key = key or _KEYS.get(engine) or load_key(settings)
        self.clock, self.sleep, self.attempts, self.backoff_s = clock, sleep, attempts, backoff_s
        self.folder = heads_dir(settings)

    def last_export(self) -> datetime | None:
        try:
            return datetime.fromisoformat((self.folder / ".last-export").read_text().strip())
        except (OSError, ValueError):
            return None

    def due(self) -> bool:
        """Whether the last export (of any process on this data dir) is `audit_export_hours` old."""
        last = self.last_export()
        return last is None or self.clock() - last >= timedelta(hours=self.settings.audit_export_hours)

    def export(self, blocking: bool = True, when_due: bool = False) -> ExportResult | None:
        """Write one signed line per chain, then POST them (with any not delivered before). None when
        another process holds the folder (not blocking) or, `when_due`, has just exported."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(self.folder, blocking) as got:
            if not got or (when_due and not self.due()):
                return None
            now = self.clock()
            records = signed_heads(self.engine, self.key, now)
            files = []
            for rec in records:
                path = self.folder / export_file_name(rec["chain"])
                _append_line(path, json.dumps(rec, ensure_ascii=False, sort_keys=True))
                files.append(path)
            (self.folder / ".last-export").write_text(_iso(now) or "")
            result = ExportResult(records, files)
            if self.settings.governorate_url:
                self._deliver(result)
        return result

    def _deliver(self, result: ExportResult) -> None:
        unsent_path = self.folder / ".unsent.jsonl"
        pending: list[dict[str, Any]] = []
        if unsent_path.exists():
            for line in unsent_path.read_text(encoding="utf-8").splitlines():
                try:
                    pending.append(json.loads(line))
                except ValueError:
                    continue
        pending += result.records
        url = self.settings.governorate_url or ""
        error = post_heads(url, pending, self.settings.governorate_token, self.attempts, self.backoff_s,
                           sleep=self.sleep)
        result.posted, result.error = error is None, error
        if error is None:
            unsent_path.unlink(missing_ok=True)
            log.info("audit: %d signed head(s) delivered to %s", len(pending), url)
            return
        tmp = unsent_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pending), encoding="utf-8")
        os.replace(tmp, unsent_path)
        result.unsent = len(pending)
        log.error("audit: the governorate server %s did not take the signed heads after %d attempts (%s); "
                  "%d head(s) kept for the next export", url, self.attempts, error, len(pending))

    def run(self, sleep: Callable[[float], Any], first_delay_s: float = 30.0, check_every_s: float = 600.0) -> None:
        """The server's background task: export whenever the last export is old enough (forever)."""
        sleep(first_delay_s)
        while True:
            try:
                if self.due():
                    result = self.export(blocking=False, when_due=True)
                    if result is not None:
                        log.info("audit: exported the signed heads of %d chain(s) to %s", len(result.records),
                                 self.folder)
            except Exception:  # logged; the next check tries again
                log.exception("audit: exporting the chain heads failed")
            sleep(check_every_s)


@dataclass(frozen=True)
class ExportedHead:
    """One verified line of an export file."""

    chain: str
    count: int
    hash: str
    exported_at: str
    source: str  # file:line


def read_exports(folder: Path, key: AuditKey) -> tuple[dict[str, list[ExportedHead]], list[Break]]:
    """Every exported head whose signature this key confirms, per chain; a Break for every other line."""
    heads: dict[str, list[ExportedHead]] = {}
    problems: list[Break] = []
    if not folder.is_dir():
        return heads, problems
    for path in sorted(folder.glob("*.jsonl")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{i}"
            try:
                rec = json.loads(line)
                chain, count, h, at = rec["chain"], int(rec["count"]), str(rec["hash"]), str(rec["exported_at"])
            except (ValueError, KeyError, TypeError):
                problems.append(Break(path.stem, 0, None, f"exported head {where} is not a head record"))
                continue
            if rec.get("key_id") != key.id:
                problems.append(Break(chain, count, None, f"exported head {where} was signed with another key "
                                      f"(id {rec.get('key_id')}; this key is {key.id}): it cannot be checked"))
            elif not hmac.compare_digest(str(rec.get("sig", "")), key.sign(rec)):
                problems.append(Break(chain, count, None, f"exported head {where} does not match its signature: "
                                      "the line was edited or forged"))
            elif export_file_name(chain) != path.name:
                problems.append(Break(chain, count, None, f"exported head {where} belongs to another file"))
            else:
                heads.setdefault(chain, []).append(ExportedHead(chain, count, h, at, where))
    return heads, problems


# ----- verification -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Break:
    """A broken link of a chain, or a disagreement with what was exported or recorded elsewhere."""

    chain: str
    n: int
    row_id: int | None
    reason: str

    def __str__(self) -> str:
        if self.n <= 0 and self.row_id is None:  # about the chain as a whole
            return f"chain {self.chain!r}: {self.reason}"
        where = f"entry {self.n}" + (f" (row id {self.row_id})" if self.row_id is not None else "")
        return f"chain {self.chain!r}: {where}: {self.reason}"


@dataclass
class Report:
    """What `verify` checked."""

    entries: dict[str, int] = field(default_factory=dict)  # entries checked per chain
    exports: dict[str, int] = field(default_factory=dict)  # exported heads checked per chain
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _rows(c: Connection, chain: str) -> Iterator[Any]:
    yield from c.execute(select(audit_log).where(audit_log.c.chain == chain)
                         .order_by(audit_log.c.n, audit_log.c.id).execution_options(yield_per=2000))


def verify(engine: Engine, key: AuditKey | None = None,
           exports: Path | None = None) -> tuple[dict[str, int], list[Break]]:
    """Walk every chain with the key (and check it against the heads exported to `exports`); return the
    entries checked per chain and the breaks: the first broken link of each chain and every disagreement."""
    report = check(engine, key, exports)
    return report.entries, report.breaks


def check(engine: Engine, key: AuditKey | None = None, exports: Path | None = None) -> Report:
    """`verify` with the details: exported heads checked and notes."""
    key = key or key_of(engine)
    report = Report()
    exported, problems = read_exports(exports, key) if exports is not None else ({}, [])
    if exports is not None and not exported and not problems:
        report.notes.append(f"no exported heads in {exports}: the end of each chain is not protected "
                            "(run `hall-server audit export`, or let the server export daily)")
    with read_tx(engine) as c:
        heads = {h.chain: h for h in c.execute(select(audit_heads))}
        chains = set(heads) | {r[0] for r in c.execute(select(audit_log.c.chain).distinct())} | set(exported)
        hall_codes = {r[0] for r in c.execute(select(halls.c.code))}
        for chain in sorted(chains | hall_codes):
            report.breaks += _check_chain(c, key, chain, heads.get(chain), exported.get(chain, []),
                                          chain in hall_codes, report)
    report.breaks += problems
    return report


def _check_chain(c: Connection, key: AuditKey, chain: str, head: Any, exported: list[ExportedHead],
                 is_hall: bool, report: Report) -> list[Break]:
    breaks: list[Break] = []
    wanted = {e.count for e in exported}
    stored: dict[int, str] = {}  # the stored hash at each exported count
    events: set[int] = set()  # ticket event ids the chain records
    file_entries = rows = last_n = 0
    prev, expected_n, broken = GENESIS, 1, None
    for r in _rows(c, chain):
        rows, last_n = rows + 1, max(last_n, r.n)
        if r.n in wanted:
            stored[r.n] = r.hash
        if isinstance(r.data, dict) and isinstance(r.data.get("event"), int) and not r.action.startswith("file_"):
            events.add(r.data["event"])
        elif r.action.startswith("file_"):
            file_entries += 1
        if broken:
            continue
        if r.n != expected_n:
            broken = Break(chain, expected_n, r.id, f"position {r.n} found where {expected_n} was "
                           "expected: an entry was deleted or inserted")
        elif r.prev_hash != prev:
            broken = Break(chain, r.n, r.id, "its link to the previous entry does not match: "
                           "an entry before it was deleted, inserted or edited")
        else:
            body = entry_body(chain, r.n, r.at, r.actor, r.action, r.ticket, r.file, r.data, prev)
            if key.entry(body) != r.hash:
                if hashlib.sha256(body).hexdigest() == r.hash:
                    reason = ("its hash is a plain SHA-256, not keyed: the entry was rewritten by someone "
                              "without the audit key (or written before the trail was keyed)")
                else:
                    reason = "its content does not match its keyed hash: the entry was edited (or another key wrote it)"
                broken = Break(chain, r.n, r.id, reason)
        if not broken:
            prev, expected_n = r.hash, expected_n + 1
    if rows or head is not None:
        report.entries[chain] = expected_n - 1
    if broken:
        breaks.append(broken)
    elif (rows or head is not None) and (head is None or head.count != expected_n - 1 or head.hash != prev):
        breaks.append(Break(chain, expected_n - 1, None, "the chain's head does not match its last entry: "
                            "entries at the end were deleted or added"))
    # What was exported off the database: the chain must still reach every exported head, with its hash.
    if exported:
        report.exports[chain] = len(exported)
    failed = []
    for e in exported:
        if e.count == 0:
            continue
        if not rows and head is None:
            failed.append(f"the chain is missing, but {e.source} (exported {e.exported_at}) recorded {e.count} "
                          "entries: the whole chain was deleted")
        elif (end := min(last_n, head.count) if head is not None else last_n) < e.count:
            failed.append(f"the chain ends at entry {end}, but {e.source} "
                          f"(exported {e.exported_at}) recorded {e.count}: entries at the end were deleted "
                          "(and the head moved back)")
        elif stored.get(e.count) != e.hash or (head is not None and head.count == e.count and head.hash != e.hash):
            failed.append(f"entry {e.count} is not the one {e.source} (exported {e.exported_at}) recorded: "
                          "the chain was rewritten")
    if failed:
        more = f" (and {len(failed) - 1} later export(s) disagree too)" if len(failed) > 1 else ""
        breaks.append(Break(chain, next(e.count for e in exported if e.count), None, failed[0] + more))
    # Every ticket event and file event of a hall is written with its entry, in one transaction.
    if is_hall:
        breaks += _check_events(c, chain, events, file_entries)
    return breaks


def _check_events(c: Connection, hall: str, recorded: set[int], file_entries: int) -> list[Break]:
    ids = {r[0] for r in c.execute(select(ticket_events.c.id).where(ticket_events.c.hall == hall)
                                   .execution_options(yield_per=5000))}
    out = []
    missing, extra = sorted(ids - recorded), sorted(recorded - ids)
    if missing:
        out.append(Break(hall, 0, None, f"{len(missing)} ticket event(s) have no audit entry (first: event id "
                         f"{missing[0]}): audit entries were deleted or edited"))
    if extra:
        out.append(Break(hall, 0, None, f"{len(extra)} ticket event(s) in the audit trail are missing from "
                         f"ticket_events (first: event id {extra[0]}): events were deleted (or entries edited)"))
    files = int(c.execute(select(func.count()).select_from(file_events)
                          .where(file_events.c.hall == hall)).scalar_one())
    if files != file_entries:
        out.append(Break(hall, 0, None, f"{files} request-file event(s) but {file_entries} file entries in the "
                         "audit trail: " + ("audit entries were deleted" if files > file_entries
                                            else "file events were deleted")))
    return out


# ----- search -----------------------------------------------------------------------------------------
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
