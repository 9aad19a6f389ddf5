"""Read models: what the kiosk, phone, board, counter and supervisor see. Reads only, never writes.

Estimates come from the hall's live state (`WaitEstimates.view`), computed once per change; the
board is cached per `seq`, so a thousand boards reconnecting after a restart cost one board.
"""
from __future__ import annotations

import math
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, and_, bindparam, cast, func, or_, select, union_all
from sqlalchemy.engine import Connection, Row

from config import HallDef
from hall_server import events as ev
from hall_server.application.common import NotFound
from hall_server.domain import estimate, numbering, policy, staffing
from hall_server.domain.events import CALL_KINDS, FINISH_KINDS, OPEN_KINDS
from hall_server.domain.tickets import ACTIVE, Status
from hall_server.domain.windows import TAKES_TICKETS
from hall_server.storage import Prepared, halls, read_tx, ticket_events, tickets, users, windows

if TYPE_CHECKING:
    from hall_server.application.context import Core

WINDOW_LIST = 50  # waiting tickets a counter page lists


def _ahead_query(ordinary: bool, new: bool) -> Any:
    q = select(func.count()).select_from(tickets).where(
        tickets.c.hall == bindparam("b_hall"), tickets.c.status == Status.WAITING.value,
        tickets.c.service == bindparam("b_service"), tickets.c.target_window.is_(None))
    if new:  # a ticket being issued now comes after everything already queued: for an ordinary one, the
        # whole list, counted in the index alone (ix_tickets_waiting); for a priority one, its priorities
        return q if ordinary else q.where(tickets.c.priority.is_not(None))
    earlier = or_(tickets.c.queued_at < bindparam("b_at"),
                  and_(tickets.c.queued_at == bindparam("b_at"), tickets.c.id < bindparam("b_id")))
    before = or_(tickets.c.priority.is_not(None), earlier) if ordinary \
        else and_(tickets.c.priority.is_not(None), earlier)
    return q.where(before, tickets.c.id != bindparam("b_id"))


# built once per shape (ordinary?, new?): the count runs on every issue and phone refresh
_AHEAD = {(o, n): Prepared(_ahead_query(o, n)) for o in (True, False) for n in (True, False)}


def people_ahead(c: Connection, hall: str, service: str, priority: str | None, queued_at: datetime,
                 ticket_id: int | None) -> int:
    """Waiting tickets of the same service the policy calls first: one indexed count, no ranking."""
    params: dict[str, Any] = {"b_hall": hall, "b_service": service}
    if ticket_id is not None:
        params["b_at"], params["b_id"] = queued_at, ticket_id
    return int(_AHEAD[(priority is None, ticket_id is None)].scalar(c, params))


_CANDIDATE_COLS = (tickets.c.id, tickets.c.service, tickets.c.queued_at, tickets.c.priority, tickets.c.target_window)


def _head(scope: Any, priority: bool) -> Any:
    cls = tickets.c.priority.is_not(None) if priority else tickets.c.priority.is_(None)
    return (select(*_CANDIDATE_COLS)
            .where(tickets.c.hall == bindparam("b_hall"), tickets.c.status == Status.WAITING.value, scope, cls)
            .order_by(tickets.c.queued_at, tickets.c.id).limit(bindparam("b_limit")))


# Each list's head in index order (hall, status, service, queued_at): per service, and sent to a window.
_SERVICE_HEAD = {p: _head(and_(tickets.c.service == bindparam("b_service"), tickets.c.target_window.is_(None)), p)
                 for p in (False, True)}
_WINDOW_HEAD = {p: _head(tickets.c.target_window == bindparam("b_window"), p) for p in (False, True)}
_EVERYTHING = 1 << 30


@cache
def _heads(n_services: int) -> Any:
    """One statement for every list's head at a window of `n_services` services (built once per size).

    A UNION ALL of the per-list heads, each still read in index order with its own LIMIT: one round
    trip where a window of 20 services made 42 (a call-next spent a tenth of its time there).
    """
    arms = []
    for p in (False, True):
        arms.append(_head(tickets.c.target_window == bindparam("b_window"), p))
        arms += [_head(and_(tickets.c.service == bindparam(f"b_service_{i}"), tickets.c.target_window.is_(None)), p)
                 for i in range(n_services)]
    return Prepared(union_all(*(select(arm.subquery()) for arm in arms)))


def top_candidates(c: Connection, hall: str, profile: policy.WindowProfile,
                   limit: int | None) -> list[policy.Candidate]:
    """The tickets that can come first at a window: the head of each list the policy merges.

    The policy interleaves two ordered lists (priority and ordinary), by issue time, or under
    strict order by the window's service order: the first `limit` choices come only from the
    first `limit` of each list of each service (and of the tickets sent to this window), each
    read in index order. None: every eligible ticket.
    """
    params: dict[str, Any] = {"b_hall": hall, "b_window": profile.number,
                              "b_limit": _EVERYTHING if limit is None else limit}
    params.update({f"b_service_{i}": service for i, service in enumerate(profile.services)})
    out: dict[int, policy.Candidate] = {}
    for r in _heads(len(profile.services)).all(c, params):
        out[r.id] = policy.Candidate(r.id, r.service, r.queued_at, r.priority, r.target_window)
    return list(out.values())


# one equality per state, not IN: an IN list is expanded into the SQL on every execution
_OPEN_WINDOWS = Prepared(select(windows.c.services).where(windows.c.hall == bindparam("b_hall"),
                                                         or_(*(windows.c.state == s for s in TAKES_TICKETS))))


def open_windows(c: Connection, hall: str) -> dict[str, int]:
    """Open windows per service, read in the caller's transaction (services none serves are absent).

    The rule is `domain.windows.takes_tickets`: the kiosk's `open` comes from here and issuing's refusal
    from `serves_open`, the same rule in one lookup (the storage contract tests check that they agree),
    so a service the kiosk shows closed is one the API refuses.
    """
    counts: dict[str, int] = defaultdict(int)
    for r in _OPEN_WINDOWS.all(c, {"b_hall": hall}):
        for code in r.services:
            counts[code] += 1
    return dict(counts)


# Issuing asks one thing of the windows: does an open one serve this service? A window's services are
# JSON text in which each code stands as "code" (codes are [a-z0-9_]), so the database answers with a
# plain substring search, no row decoded (reading and decoding every open window's list took 70 µs per
# issue in process; a LIKE over the same text 52 µs in the server under load).
def _serves_open_query(find: Any) -> Prepared:
    return Prepared(select(windows.c.id).where(
        windows.c.hall == bindparam("b_hall"), or_(*(windows.c.state == s for s in TAKES_TICKETS)),
        find(cast(windows.c.services, Text), bindparam("b_quoted")) > 0).limit(1))


_SERVES_OPEN = {"sqlite": _serves_open_query(func.instr), "postgresql": _serves_open_query(func.strpos)}


def serves_open(c: Connection, hall: str, service: str) -> bool:
    """Whether an open window of the hall serves the service: `open_windows(c, hall).get(service)`, as
    one lookup (the same rule, `domain.windows.takes_tickets`)."""
    return _SERVES_OPEN[c.dialect.name].first(c, {"b_hall": hall, "b_quoted": f'"{service}"'}) is not None


def profile_of(hall: HallDef, win: Row[Any]) -> policy.WindowProfile:
    """A window as the call policy sees it."""
    return policy.WindowProfile(number=win.number, services=tuple(win.services),
                                strategy=hall.queue.strategy, priority_ratio=hall.queue.priority_ratio)


class Views:
    """The read side of the hall."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._boards: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
        self._joins: dict[str, tuple[int, dict[str, Any]]] = {}
        self._board_lock = threading.Lock()

    # ----- tickets ------------------------------------------------------------------------
    def public(self, c: Connection, hall: HallDef, row: Row[Any], ahead: int | None = None,
               eta: int | None = None, seq: int | None = None, known: bool = False) -> dict[str, Any]:
        """A ticket as the citizen and the kiosk may see it: no personal data.

        `known`: the caller gives the position and estimate (issuing); else they are looked up.
        """
        service = self.core.settings.catalog.service(row.service)
        is_next = False
        if row.status == Status.WAITING.value:
            me = policy.Candidate(row.id, row.service, row.queued_at, row.priority, row.target_window)
            view = None
            if not known:
                ahead = people_ahead(c, hall.code, row.service, row.priority, row.queued_at, row.id)
                view = self.core.estimates.view(hall, seq)
                eta = view.eta_of(me, ahead)
            # "you are next" only when nobody of the service is ahead and the call is close: by the
            # plan's figure, not the cautious one shown near the front (a citizen just called at the
            # only window may not come, but most do: the figure says minutes, the plan a quarter hour)
            if ahead == 0 and eta is not None and eta <= estimate.NEXT_MAX_S:
                plan = (view or self.core.estimates.view(hall, seq)).plan_eta_of(me, ahead)
                is_next = plan is not None and plan <= estimate.NEXT_MAX_S
        else:
            ahead, eta = (0, 0) if row.status in (Status.CALLED.value, Status.SERVING.value) else (None, None)
        return {
            "id": row.id, "hall": row.hall, "number": row.number, "service": row.service,
            "service_name": {"ar": service.name_ar, "en": service.name_en},
            "status": row.status, "priority": row.priority, "token": row.token,
            "track_url": f"{self.core.settings.public_url}/t/{row.token}",
            "position": ahead, "eta_seconds": eta,
            "eta_range_seconds": list(r) if (r := estimate.eta_range(eta)) is not None else None,
            "next": is_next,
            "issued_at": row.issued_at.isoformat(), "window": row.window if row.status in (
                Status.CALLED.value, Status.SERVING.value) else None,
            "recall_count": row.recall_count, "request_file": row.request_file,
            "called_at": row.called_at.isoformat() if row.called_at else None,
        }

    def ticket_by_token(self, token: str) -> dict[str, Any]:
        """The public view of one ticket for the phone page."""
        with read_tx(self.core.engine) as c:
            row = c.execute(select(tickets).where(tickets.c.token == token)).first()
            if row is None:
                raise NotFound("no such ticket")
            hall = self.core.hall(row.hall)
            seq = c.execute(select(halls.c.seq).where(halls.c.code == hall.code)).scalar_one() \
                if row.status == Status.WAITING.value else None
            return self.public(c, hall, row, seq=seq)

    def staff_ticket(self, row: Row[Any]) -> dict[str, Any]:
        """A ticket as counter staff see it (issue and wait times, never the phone number)."""
        now = self.core.clock()
        return {
            "id": row.id, "number": row.number, "service": row.service, "status": row.status,
            "priority": row.priority, "issued_at": row.issued_at.isoformat(),
            "queued_at": row.queued_at.isoformat(),
            "called_at": row.called_at.isoformat() if row.called_at else None,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "window": row.window, "target_window": row.target_window,
            "recall_count": row.recall_count, "request_file": row.request_file,
            "wait_seconds": int(((row.called_at or now) - row.queued_at).total_seconds()),
            "token": row.token,
        }

    # ----- the hall as a whole -----------------------------------------------------------------
    def services_overview(self, hall_code: str) -> list[dict[str, Any]]:
        """The catalog with live waiting counts, open windows and the estimate for a new ticket."""
        hall = self.core.hall(hall_code)
        view = self.core.estimates.view(hall)
        _, waiting, open_counts = self._counts(hall)
        out = []
        for s in self.core.settings.catalog.services:
            n_open = open_counts.get(s.code, 0)
            out.append({
                "code": s.code, "sector": s.sector, "prefix": s.prefix, "kind": s.kind,
                "name": {"ar": s.name_ar, "en": s.name_en},
                "documents": {"ar": list(s.documents_ar), "en": list(s.documents_en)},
                "fee": s.fee, "expected_minutes": s.expected_minutes,
                "deadline_days": s.deadline_days, "waiting": waiting.get(s.code, 0),
                "open_windows": n_open, "open": n_open > 0,
                "eta_seconds": view.eta_new(s.code),
            })
        return out

    def queue_state(self, hall_code: str, seq: int | None = None, fresh: bool = False,
                    any_age: bool = False) -> dict[str, Any]:
        """Waiting counts and the estimate for a new ticket, per service (the queue_changed body).

        `fresh`: rebuild the live state now (the broadcaster, once per change or burst). Otherwise
        the counts are read exactly and the estimates come from the shared live state; `any_age`:
        as it is, however old, for the broadcaster's immediate push whose fresh rebuild follows (a
        cancel after a quiet spell rebuilt every estimate of the hall in its request).
        """
        hall = self.core.hall(hall_code)
        view = self.core.estimates.view(hall, seq, max_stale=0.0 if fresh else math.inf if any_age else None)
        seq_now, waiting, open_counts = (view.seq, view.waiting, view.open) if fresh else self._counts(hall)
        return {"hall": hall.code, "seq": seq_now, "waiting": dict(waiting),
                "eta": {s.code: view.eta_new(s.code) for s in self.core.settings.catalog.services},
                "open": {k: v for k, v in open_counts.items() if v}}

    def _counts(self, hall: HallDef) -> tuple[int, dict[str, int], dict[str, int]]:
        """The hall's seq, waiting tickets per service and open windows per service, exactly now."""
        with read_tx(self.core.engine) as c:
            seq = int(c.execute(select(halls.c.seq).where(halls.c.code == hall.code)).scalar_one())
            waiting = {r[0]: r[1] for r in c.execute(
                select(tickets.c.service, func.count()).where(
                    tickets.c.hall == hall.code, tickets.c.status == Status.WAITING.value)
                .group_by(tickets.c.service))}
            open_counts = open_windows(c, hall.code)
        return seq, waiting, open_counts

    def join_snapshot(self, hall_code: str) -> dict[str, Any]:
        """What every client gets first on `join`: the board and the queue state, cached per seq."""
        hall = self.core.hall(hall_code)
        with read_tx(self.core.engine) as c:
            seq = c.execute(select(halls.c.seq).where(halls.c.code == hall.code)).scalar_one()
        hit = self._joins.get(hall.code)
        if hit is not None and hit[0] == seq:
            return hit[1]
        board = self.board(hall.code)
        # the estimates of this seq, not a view of a moment ago (as a request may take): the snapshot is
        # kept for every join until the next change, and the coalesced push that refreshes a stale view
        # may have gone out before this client joined (a kiosk then showed "now" for 4 waiting)
        queue = self.queue_state(hall.code, seq=board["seq"], fresh=True)
        snap = {"board": board, "queue": queue, "seq": board["seq"]}
        with self._board_lock:
            self._joins[hall.code] = (board["seq"], snap)
        return snap

    def board(self, hall_code: str, last_calls: int = 12) -> dict[str, Any]:
        """What a display board shows now; cached per seq (every board and join shares it)."""
        hall = self.core.hall(hall_code)
        with read_tx(self.core.engine) as c:
            seq = c.execute(select(halls.c.seq).where(halls.c.code == hall.code)).scalar_one()
            hit = self._boards.get((hall.code, last_calls))
            if hit is not None and hit[0] == seq:
                return hit[1]
            board = self._board(c, hall, last_calls)
        with self._board_lock:
            self._boards[(hall.code, last_calls)] = (board["seq"], board)
        return board

    def _recent_calls(self, c: Connection, hall: str, limit: int, since_seq: int | None = None) -> list[Any]:
        """The hall's newest calls of the last 12 hours (after `since_seq` if given), newest first:
        the board's list and a board's missed calls."""
        where = [ticket_events.c.hall == hall, ticket_events.c.kind.in_([k.value for k in CALL_KINDS]),
                 ticket_events.c.at >= self.core.clock() - timedelta(hours=12)]
        if since_seq is not None:
            where.append(ticket_events.c.seq > since_seq)
        return list(c.execute(
            select(ticket_events.c.id, ticket_events.c.at, ticket_events.c.window,
                   ticket_events.c.service, ticket_events.c.kind, ticket_events.c.seq, tickets.c.number)
            .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
            .where(*where).order_by(ticket_events.c.id.desc()).limit(limit)).all())

    def _board(self, c: Connection, hall: HallDef, last_calls: int) -> dict[str, Any]:
        h = c.execute(select(halls).where(halls.c.code == hall.code)).one()
        calls = self._recent_calls(c, hall.code, last_calls)
        active = {r.window: r for r in c.execute(select(tickets.c.window, tickets.c.number, tickets.c.status).where(
            tickets.c.hall == hall.code, tickets.c.status.in_([s.value for s in ACTIVE])))}
        wins = c.execute(select(windows).where(windows.c.hall == hall.code)
                         .order_by(windows.c.number)).all()
        waiting = {r[0]: r[1] for r in c.execute(
            select(tickets.c.service, func.count()).where(
                tickets.c.hall == hall.code, tickets.c.status == Status.WAITING.value)
            .group_by(tickets.c.service))}
        return {
            "hall": {"code": hall.code, "name": {"ar": hall.name_ar, "en": hall.name_en},
                     "timezone": hall.timezone},
            "seq": h.seq,
            "calls": [ev.call_payload(hall.code, r.id, r.number, r.window, r.service,
                                      r.kind == "recalled", r.at) for r in calls],
            "windows": [{"number": w.number, "state": w.state, "services": list(w.services),
                         "current": active[w.number].number if w.number in active else None,
                         "status": active[w.number].status if w.number in active else None}
                        for w in wins],
            "waiting": waiting,
            "message": h.board_message,
            "news": {"ar": hall.board.get("news_ar", ""), "en": hall.board.get("news_en", "")},
            "digits": hall.board.get("digits", "eastern"),
            # "8 of 10 estimates today were within 5 minutes" (the hall's board.show_accuracy)
            "accuracy": self._accuracy_today(c, hall) if hall.board.get("show_accuracy") else None,
        }

    def _accuracy_today(self, c: Connection, hall: HallDef) -> dict[str, Any]:
        day = numbering.local_day(self.core.clock(), hall.tz)
        pairs = [(float(r.eta_at_issue), (r.called_at - r.issued_at).total_seconds()) for r in c.execute(
            select(tickets.c.eta_at_issue, tickets.c.issued_at, tickets.c.called_at).where(
                tickets.c.hall == hall.code, tickets.c.day == day, tickets.c.called_at.is_not(None),
                tickets.c.eta_at_issue.is_not(None)))]
        acc = estimate.accuracy_of(pairs)
        return {"within": acc["within_5_min"], "of": acc["count"]}

    MISSED_CALLS_MAX = 200  # calls a board may catch up on at once (and only the last 12 hours)

    def seqs(self) -> dict[str, int]:
        """Every hall's newest committed change (one indexed read): how a process notices changes
        made by another process while the message queue cannot tell it."""
        with read_tx(self.core.engine) as c:
            return {code: int(seq) for code, seq in c.execute(select(halls.c.code, halls.c.seq))}

    def calls_since(self, hall_code: str, since_seq: int) -> dict[str, Any]:
        """The hall's calls committed after `since_seq`, oldest first: what a board that saw a gap
        in seq missed (bounded to the newest MISSED_CALLS_MAX of the last 12 hours)."""
        hall = self.core.hall(hall_code)
        with read_tx(self.core.engine) as c:
            seq = c.execute(select(halls.c.seq).where(halls.c.code == hall.code)).scalar_one()
            rows = self._recent_calls(c, hall.code, self.MISSED_CALLS_MAX, since_seq)
        calls = [{**ev.call_payload(hall.code, r.id, r.number, r.window, r.service, r.kind == "recalled", r.at),
                  "seq": r.seq, "hall": hall.code} for r in reversed(rows) if r.window is not None]
        return {"hall": hall.code, "seq": seq, "since_seq": since_seq, "calls": calls}

    def call(self, hall: str, call_id: int) -> tuple[str, int, int] | None:
        """A call of the hall (a `called` or `recalled` event): ticket number, window, recall count."""
        with read_tx(self.core.engine) as c:
            row = c.execute(
                select(tickets.c.number, ticket_events.c.window, ticket_events.c.kind, ticket_events.c.data)
                .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
                .where(ticket_events.c.id == call_id, ticket_events.c.hall == hall,
                       ticket_events.c.kind.in_([k.value for k in CALL_KINDS]))).first()
        if row is None or row.window is None:
            return None
        recall = int((row.data or {}).get("recall", 1)) if row.kind == "recalled" else 0
        return row.number, row.window, recall

    # ----- windows ---------------------------------------------------------------------------
    def window_view(self, hall_code: str, number: int) -> dict[str, Any]:
        """A window's state, its current ticket and the head of its waiting list."""
        hall = self.core.hall(hall_code)
        with read_tx(self.core.engine) as c:
            win = c.execute(select(windows).where(windows.c.hall == hall.code,
                                                  windows.c.number == number)).first()
            if win is None:
                raise NotFound(f"hall {hall.code!r} has no window {number}")
            cur = c.execute(select(tickets).where(
                tickets.c.hall == hall.code, tickets.c.window == number,
                tickets.c.status.in_([s.value for s in ACTIVE]))).first()
            profile = profile_of(hall, win)
            ranked = policy.rank_candidates(profile, top_candidates(c, hall.code, profile, WINDOW_LIST),
                                            win.priority_streak)[:WINDOW_LIST]
            rows = {r.id: r for r in c.execute(select(tickets).where(
                tickets.c.id.in_([ch.ticket.id for ch in ranked])))} if ranked else {}
            total = c.execute(select(func.count()).select_from(tickets).where(
                tickets.c.hall == hall.code, tickets.c.status == Status.WAITING.value,
                or_(tickets.c.target_window == number,
                    and_(tickets.c.target_window.is_(None), tickets.c.service.in_(list(profile.services))))
            )).scalar_one()
            parked = c.execute(select(tickets).where(
                tickets.c.hall == hall.code, tickets.c.status == Status.PARKED.value,
                tickets.c.window == number).order_by(tickets.c.queued_at)).all()
        return {
            "number": win.number, "state": win.state, "clerk_id": win.clerk_id,
            "services": list(win.services), "priority_streak": win.priority_streak,
            "current": self.staff_ticket(cur) if cur else None,
            "waiting": [self.staff_ticket(rows[ch.ticket.id]) for ch in ranked],
            "waiting_total": total,
            "parked": [self.staff_ticket(r) for r in parked],
        }

    # ----- supervisor ---------------------------------------------------------------------------
    def stats(self, hall_code: str) -> dict[str, Any]:
        """Live indicators: per window and per service, for today."""
        hall = self.core.hall(hall_code)
        now = self.core.clock()
        day = numbering.local_day(now, hall.tz)
        target = hall.queue.wait_target_minutes * 60
        view = self.core.estimates.view(hall)
        _, _, open_counts = self._counts(hall)
        with read_tx(self.core.engine) as c:
            rows = c.execute(select(tickets).where(tickets.c.hall == hall.code, tickets.c.day == day)).all()
            wins = c.execute(select(windows).where(windows.c.hall == hall.code)
                             .order_by(windows.c.number)).all()
            marks = window_marks(c, hall.code, now - timedelta(hours=24))
            clerk_ids = [w.clerk_id for w in wins if w.clerk_id is not None]
            clerks = {u.id: u for u in c.execute(select(users.c.id, users.c.username, users.c.full_name)
                                                 .where(users.c.id.in_(clerk_ids)))} if clerk_ids else {}
        per: dict[str, dict[str, Any]] = {}
        # each called ticket's estimate at issue against the wait it had (today's accuracy)
        judged: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in rows:
            if r.called_at is not None and r.eta_at_issue is not None:
                judged[r.service].append((float(r.eta_at_issue), (r.called_at - r.issued_at).total_seconds()))
        for r in rows:
            s = per.setdefault(r.service, {"waiting": 0, "longest_wait_seconds": 0, "waits": [],
                                           "issued": 0, "served": 0, "no_show": 0, "cancelled": 0})
            s["issued"] += 1
            if r.status == Status.WAITING.value:
                s["waiting"] += 1
                s["longest_wait_seconds"] = max(s["longest_wait_seconds"],
                                                int((now - r.queued_at).total_seconds()))
            if r.called_at is not None:
                s["waits"].append((r.called_at - r.queued_at).total_seconds())
            if r.status == Status.DONE.value:
                s["served"] += 1
            elif r.status == Status.NO_SHOW.value:
                s["no_show"] += 1
            elif r.status == Status.CANCELLED.value:
                s["cancelled"] += 1
        services = []
        all_waits: list[float] = []
        for code, s in sorted(per.items()):
            waits = s.pop("waits")
            all_waits.extend(waits)
            info = self.core.settings.catalog.service(code)
            services.append({
                "service": code, **s,
                "name": {"ar": info.name_ar, "en": info.name_en},
                "open_windows": open_counts.get(code, 0),
                "average_wait_seconds": round(sum(waits) / len(waits)) if waits else None,
                "within_target_share": (sum(1 for w in waits if w <= target) / len(waits)) if waits else None,
                "eta_new_seconds": view.eta_new(code),
                "estimates": estimate.accuracy_of(judged.get(code, [])),
            })
        active = {r.window: r for r in rows if r.status in (Status.CALLED.value, Status.SERVING.value)}

        def idle_seconds(w: Row[Any]) -> int | None:
            """Seconds an open window without a ticket has had nothing to do."""
            if w.state != "open" or w.number in active:
                return None
            finished, opened = marks.get(w.number, (None, None))
            # the later of its last finished ticket and its opening; the row's change time if no events
            since = max([m for m in (finished, opened) if m is not None], default=w.changed_at)
            return int((now - since).total_seconds()) if since else None

        def clerk(w: Row[Any]) -> dict[str, Any] | None:
            u = clerks.get(w.clerk_id)
            return {"id": u.id, "username": u.username, "full_name": u.full_name} if u else None

        waiting = sorted((r for r in rows if r.status == Status.WAITING.value), key=lambda r: (r.queued_at, r.id))
        return {
            "hall": hall.code, "at": now.isoformat(), "wait_target_seconds": target,
            "windows": [{"number": w.number, "state": w.state, "clerk_id": w.clerk_id,
                         "current": active[w.number].number if w.number in active else None,
                         "serving_seconds": int((now - (active[w.number].started_at
                                                        or active[w.number].called_at)).total_seconds())
                         if w.number in active else None,
                         "clerk": clerk(w), "services": list(w.services),
                         "current_status": active[w.number].status if w.number in active else None,
                         "current_service": active[w.number].service if w.number in active else None,
                         "last_finished_at": marks[w.number][0].isoformat()  # type: ignore[union-attr]
                         if marks.get(w.number, (None,))[0] else None,
                         "idle_seconds": idle_seconds(w)} for w in wins],
            "services": services,
            "totals": {"issued": len(rows), "waiting": sum(s["waiting"] for s in services),
                       "served": sum(s["served"] for s in services),
                       "average_wait_seconds": round(sum(all_waits) / len(all_waits)) if all_waits else None,
                       "within_target_share": (sum(1 for w in all_waits if w <= target) / len(all_waits))
                       if all_waits else None,
                       "estimates": estimate.accuracy_of([p for ps in judged.values() for p in ps])},
            # the queue itself, oldest first, for "move to another service" (capped: a page, not an export)
            # with each ticket's place and estimate as kiosk and phone give them (the view's, per change)
            "waiting_tickets": [{"number": r.number, "service": r.service, "priority": r.priority,
                                 "queued_at": r.queued_at.isoformat(), "target_window": r.target_window,
                                 "wait_seconds": int((now - r.queued_at).total_seconds()),
                                 **_waiting_estimate(view, r)}
                                for r in waiting[:500]],
        }

    def staffing_plan(self, hall_code: str, day: date | None = None,
                      goal: float = staffing.DEFAULT_GOAL) -> dict[str, Any]:
        """Windows needed per hour on `day` (default tomorrow) from the hall's last four weeks."""
        hall = self.core.hall(hall_code)
        today = numbering.local_day(self.core.clock(), hall.tz)
        day = day or today + timedelta(days=1)
        first = day - timedelta(days=staffing.LOOKBACK_DAYS)
        counts: dict[Any, dict[int, dict[str, int]]] = {}
        occupation: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        prefixes = sorted({s.prefix for s in self.core.settings.catalog.services})
        with read_tx(self.core.engine) as c:
            for r in c.execute(select(tickets.c.day, tickets.c.issued_at, tickets.c.service, tickets.c.status,
                                      tickets.c.called_at, tickets.c.finished_at).where(
                    tickets.c.hall == hall.code, tickets.c.prefix.in_(prefixes),
                    tickets.c.day >= first, tickets.c.day < min(day, today))):
                hour = r.issued_at.astimezone(hall.tz).hour
                per_hour = counts.setdefault(r.day, {}).setdefault(hour, {})
                per_hour[r.service] = per_hour.get(r.service, 0) + 1
                if r.status in (Status.DONE.value, Status.NO_SHOW.value) and r.called_at and r.finished_at:
                    o = occupation[r.service]  # a window is busy from the call to the finish
                    o[0] += (r.finished_at - r.called_at).total_seconds()
                    o[1] += 1
        minutes: dict[str, float] = {s.code: s.expected_minutes for s in self.core.settings.catalog.services}
        minutes.update({svc: total / n / 60.0 for svc, (total, n) in occupation.items() if n})
        expected, basis = staffing.expected_arrivals(counts, day)
        pools = staffing.service_pools(w.services for w in hall.windows)
        hours = staffing.plan(expected, minutes, hall.queue.wait_target_minutes, goal, pools)
        return {
            "hall": hall.code, "day": day.isoformat(), "goal": goal,
            "wait_target_minutes": hall.queue.wait_target_minutes, "windows": len(hall.windows),
            "basis_days": [d.isoformat() for d in basis],
            "hours": [{"hour": h.hour, "expected_arrivals": round(h.expected_arrivals, 2),
                       "windows_needed": h.windows_needed,
                       "windows_needed_as_assigned": h.windows_needed_as_assigned,
                       "mean_service_minutes": round(h.mean_service_minutes, 2),
                       "offered_load": round(h.offered_load, 2),
                       "service_level": round(h.service_level, 3)} for h in hours],
        }


def _waiting_estimate(view: Any, r: Row[Any]) -> dict[str, Any]:
    """A waiting ticket's position and estimate from the hall's live view (no ranking per request)."""
    cand = policy.Candidate(r.id, r.service, r.queued_at, r.priority, r.target_window)
    ahead = view.position_of(cand)
    eta = view.eta_of(cand, ahead)
    rng = estimate.eta_range(eta)
    return {"position": ahead, "eta_seconds": eta, "eta_range_seconds": list(rng) if rng is not None else None}


def window_marks(c: Connection, hall: str, since: datetime) -> dict[int, tuple[datetime | None, datetime | None]]:
    """Per window: when it last finished a ticket and when it last opened, from events after `since`."""
    finished_kinds = tuple(k.value for k in FINISH_KINDS)
    opened_kinds = tuple(k.value for k in OPEN_KINDS)
    out: dict[int, tuple[datetime | None, datetime | None]] = {}
    for r in c.execute(select(ticket_events.c.window, ticket_events.c.kind, func.max(ticket_events.c.at))
                       .where(ticket_events.c.hall == hall, ticket_events.c.at >= since,
                              ticket_events.c.window.is_not(None),
                              ticket_events.c.kind.in_(finished_kinds + opened_kinds))
                       .group_by(ticket_events.c.window, ticket_events.c.kind)):
        at = r[2]
        if at is not None and at.tzinfo is None:  # max() bypasses the column type on SQLite
            at = at.replace(tzinfo=UTC)
        finished, opened = out.get(r.window, (None, None))
        if r.kind in finished_kinds:
            finished = at if finished is None or at > finished else finished
        else:
            opened = at if opened is None or at > opened else opened
        out[r.window] = (finished, opened)
    return out
