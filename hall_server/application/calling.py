"""Calling and serving: next, a named ticket, recall, start, complete, no-show, park, transfer, move."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Row

from hall_server import events as ev
from hall_server.application.common import Actor, Forbidden
from hall_server.application.uow import UnitOfWork
from hall_server.application.views import people_ahead, profile_of, top_candidates
from hall_server.domain import policy
from hall_server.domain.commands import Advance, CallNext, CallTicket, MoveWaiting, Recall, Transfer
from hall_server.domain.errors import DomainError, InvalidInput, InvalidTransition, ReasonRequired
from hall_server.domain.events import EventKind
from hall_server.domain.tickets import ACTIVE, OUTCOMES, Status, recall_outcome, transition
from hall_server.domain.windows import WindowState
from hall_server.storage import Prepared, read_one, read_tx, tickets, windows, write_tx

if TYPE_CHECKING:
    from hall_server.application.context import Core
    from hall_server.application.views import Views

CANDIDATE_LIMITS = (4, 64, None)  # heads fetched per list; more only when others hold the first rows (PostgreSQL)
# action -> (event kind, values set on the ticket)
_SET_STREAK = Prepared(update(windows).where(windows.c.id == bindparam("b_id"))
                       .values(priority_streak=bindparam("b_streak")))
_HOLD_WAITING = Prepared(select(tickets.c.id).where(tickets.c.id == bindparam("b_id"),
                                                    tickets.c.status == Status.WAITING.value)
                         .with_for_update(skip_locked=True))
_ADVANCE = {"start": EventKind.SERVING, "complete": EventKind.COMPLETED, "no_show": EventKind.NO_SHOW,
            "park": EventKind.PARKED}


def check_clerk(win: Row[Any], actor: Actor) -> None:
    """Only the clerk signed in at the window (or a supervisor) acts on it."""
    if actor.is_supervisor:
        return
    if win.state == WindowState.CLOSED or win.clerk_id != actor.user_id:
        raise Forbidden(f"sign in to window {win.number} first", "not_signed_in")


def _open_window(uow: UnitOfWork, number: int, actor: Actor) -> Row[Any]:
    win = uow.window(number)
    check_clerk(win, actor)
    if win.state != WindowState.OPEN:
        raise DomainError(f"window {number} is {win.state}", "window_not_open")
    return win


def _current(uow: UnitOfWork, number: int, actor: Actor) -> Row[Any]:
    check_clerk(uow.window(number), actor)
    cur = uow.active_at(number)
    if cur is None:
        raise DomainError(f"window {number} has no current ticket", "no_current_ticket")
    return cur


def _called(uow: UnitOfWork, views: Views, row: Row[Any], number: int, actor: Actor, recall: bool,
            data: dict[str, Any] | None = None) -> None:
    kind = EventKind.RECALLED if recall else EventKind.CALLED
    call_id = uow.event(kind, actor, ticket_id=row.id, number=row.number, service=row.service,
                        window=number, data=data)
    payload = ev.call_payload(uow.hall.code, call_id, row.number, number, row.service, recall, uow.now)
    uow.outcome.result = views.staff_ticket(row)
    uow.emit(ev.TICKET_CALLED, payload)
    uow.ticket_status(row, row.status, window=number, recall=recall)
    uow.after("announce", payload)
    if row.phone:
        uow.after("sms_called", {"phone": row.phone, "number": row.number, "window": number,
                                 "hall": uow.hall.code})


def call_next(cmd: CallNext, core: Core, views: Views) -> dict[str, Any] | None:
    """Call the ticket the policy picks for this window; None when nothing it serves waits."""
    hall = core.hall(cmd.hall)
    with core.uow(hall) as uow:
        win = _open_window(uow, cmd.window, cmd.actor)
        cur = uow.active_at(cmd.window)
        if cur is not None:
            if cur.status == Status.CALLED.value:
                raise DomainError(f"{cur.number} is still called here: start, recall or mark no-show",
                                  "window_busy")
            # next while serving: the current ticket is done
            done = uow.update_ticket(cur.id, cur.status, status=Status.DONE.value, finished_at=uow.now,
                                     outcome="served", started_at=cur.started_at or uow.now)
            uow.event(EventKind.COMPLETED, cmd.actor, ticket_id=cur.id, number=cur.number, service=cur.service,
                      window=cur.window, data={"outcome": "served", "implicit": True})
            uow.ticket_status(done, Status.DONE.value)
        chosen = _choose(uow, core, hall, win)
        if chosen is None:
            return None
        row = uow.update_ticket(chosen.ticket.id, Status.WAITING.value, status=Status.CALLED.value,
                                window=cmd.window, called_at=uow.now, recall_count=0, target_window=None)
        _SET_STREAK.run(uow.c, {"b_id": win.id, "b_streak": chosen.priority_streak})
        _called(uow, views, row, cmd.window, cmd.actor, recall=False)
    result: dict[str, Any] = uow.outcome.result
    return result


def _choose(uow: UnitOfWork, core: Core, hall: Any, win: Row[Any]) -> policy.Choice | None:
    """The policy's pick among the heads of the queue; on PostgreSQL, the best row nobody holds.

    A row held by another transaction is skipped, never waited for (a wait could deadlock with a
    cancel that holds the ticket and waits for the hall's seq). When only held rows are left, the pick
    is tried again a few times, HELD_WAIT_S apart, before "nobody waiting": a cancel's or another call's
    row is gone by then, but one the near-turn SMS marks stays waiting, and the clerk was told nobody
    waited while somebody did (CI, PostgreSQL, test_sms_outbox).
    """
    for attempt in range(HELD_RETRIES + 1):
        choice, held = _pick(uow, core, hall, win)
        if choice is not None or not held:
            return choice
        if attempt < HELD_RETRIES:
            time.sleep(HELD_WAIT_S)  # cooperative under gevent and eventlet (monkey-patched)
    return None


HELD_RETRIES = 5
HELD_WAIT_S = 0.02


def _pick(uow: UnitOfWork, core: Core, hall: Any, win: Row[Any]) -> tuple[policy.Choice | None, bool]:
    """One pass of `_choose`: the pick, and whether a row was passed over because another held it."""
    profile = profile_of(hall, win)
    held = False
    for limit in CANDIDATE_LIMITS:
        pool = top_candidates(uow.c, hall.code, profile, limit)
        ranked = policy.rank_candidates(profile, pool, win.priority_streak)
        shown = ranked if limit is None else ranked[:limit]
        for choice in shown:
            if core.pg:  # take the best row nobody else holds; skip, never wait
                got = _HOLD_WAITING.first(uow.c, {"b_id": choice.ticket.id})
                if got is None:  # held by another transaction (or no longer waiting: it was held)
                    held = True
                    continue
            return choice, held
        if len(ranked) < (limit or 0):
            return None, held  # every eligible ticket was seen
    return None, held


def call_ticket(cmd: CallTicket, core: Core, views: Views) -> dict[str, Any]:
    """Call one ticket out of order (a reason is required and recorded), or resume a parked one."""
    hall = core.hall(cmd.hall)
    reason = (cmd.reason or "").strip()
    with core.uow(hall) as uow:
        _open_window(uow, cmd.window, cmd.actor)
        if uow.active_at(cmd.window) is not None:
            raise DomainError("finish the current ticket first", "window_busy")
        row = uow.find_today(cmd.ticket)
        transition(row.status, "call")
        parked_here = row.status == Status.PARKED.value and row.window == cmd.window
        if row.status == Status.PARKED.value and not parked_here and not cmd.actor.is_supervisor:
            # a citizen parked at another window (fetching a paper) is that window's to resume
            raise Forbidden(f"{row.number} is held by window {row.window}", "not_your_ticket")
        if not parked_here and not reason:
            raise ReasonRequired("calling a ticket out of order needs a reason")
        if len(reason) > 300:
            raise InvalidInput("reason is at most 300 characters")
        row = uow.update_ticket(row.id, row.status, status=Status.CALLED.value, window=cmd.window,
                                called_at=uow.now, recall_count=0, target_window=None)
        _called(uow, views, row, cmd.window, cmd.actor, recall=False,
                data={"out_of_order": not parked_here, "reason": reason or "resume parked"})
    result: dict[str, Any] = uow.outcome.result
    return result


def recall(cmd: Recall, core: Core, views: Views) -> dict[str, Any]:
    """Call the current ticket again; past the recall limit it becomes a no-show."""
    hall = core.hall(cmd.hall)
    with core.uow(hall) as uow:
        cur = _current(uow, cmd.window, cmd.actor)
        transition(cur.status, "recall")
        if recall_outcome(cur.recall_count, hall.queue.recall_limit) is Status.NO_SHOW:
            row = uow.update_ticket(cur.id, cur.status, status=Status.NO_SHOW.value, finished_at=uow.now)
            uow.event(EventKind.NO_SHOW, cmd.actor, ticket_id=cur.id, number=cur.number, service=cur.service,
                      window=cmd.window, data={"after_recalls": cur.recall_count})
            uow.ticket_status(row, Status.NO_SHOW.value)
            uow.outcome.result = views.staff_ticket(row)
            uow.emit(ev.WINDOW_CHANGED, {"number": cmd.window, "current": None})
        else:
            row = uow.update_ticket(cur.id, cur.status, recall_count=cur.recall_count + 1)
            _called(uow, views, row, cmd.window, cmd.actor, recall=True, data={"recall": row.recall_count})
    result: dict[str, Any] = uow.outcome.result
    return result


def advance(cmd: Advance, core: Core, views: Views) -> dict[str, Any]:
    """Start, complete (with an outcome), mark no-show or park the window's current ticket."""
    if cmd.action not in _ADVANCE:
        raise InvalidInput(f"unknown action {cmd.action!r}")
    if cmd.action == "complete" and cmd.outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", "invalid_outcome")
    hall = core.hall(cmd.hall)
    with core.uow(hall) as uow:
        cur = _current(uow, cmd.window, cmd.actor)
        new = transition(cur.status, cmd.action)
        values: dict[str, Any] = {}
        data = None
        if cmd.action == "start":
            values = {"started_at": uow.now}
        elif cmd.action == "complete":
            values = {"finished_at": uow.now, "outcome": cmd.outcome, "started_at": cur.started_at or uow.now}
            data = {"outcome": cmd.outcome}
        elif cmd.action == "no_show":
            values = {"finished_at": uow.now}
        row = uow.update_ticket(cur.id, cur.status, status=new.value, **values)
        uow.event(_ADVANCE[cmd.action], cmd.actor, ticket_id=cur.id, number=cur.number, service=cur.service,
                  window=cmd.window, data=data)
        uow.ticket_status(row, new.value)
        uow.emit(ev.WINDOW_CHANGED, {"number": cmd.window, "current": row.number if new in ACTIVE else None,
                                     "status": new.value})
        uow.outcome.result = views.staff_ticket(row)
    result: dict[str, Any] = uow.outcome.result
    return result


def transfer(cmd: Transfer, core: Core, views: Views) -> dict[str, Any]:
    """Send the current (or a named waiting) ticket to another service or window, keeping its place."""
    hall = core.hall(cmd.hall)
    if (cmd.service is None) == (cmd.to_window is None):
        raise InvalidInput("give exactly one of service or window", "invalid_transfer")
    if cmd.service is not None:
        core.service(cmd.service)
    with core.uow(hall) as uow:
        if cmd.ticket is None:
            cur = _current(uow, cmd.window, cmd.actor)
        else:
            check_clerk(uow.window(cmd.window), cmd.actor)
            cur = uow.find_today(cmd.ticket)
            # a clerk acts only on what his window holds: another window's citizen is not his to move
            if cur.status in (Status.CALLED.value, Status.SERVING.value, Status.PARKED.value) \
                    and cur.window != cmd.window and not cmd.actor.is_supervisor:
                raise Forbidden(f"{cur.number} is held by window {cur.window}", "not_your_ticket")
        transition(cur.status, "transfer")
        if cmd.to_window is not None:
            uow.window(cmd.to_window, lock=False)
            if cmd.to_window == cur.window and cur.status in (Status.CALLED.value, Status.SERVING.value):
                raise InvalidInput("transfer to the same window", "invalid_transfer")
        new_service = cmd.service or cur.service
        row = uow.update_ticket(cur.id, cur.status, status=Status.WAITING.value, service=new_service,
                                target_window=cmd.to_window, window=None, called_at=None, started_at=None,
                                recall_count=0)
        uow.event(EventKind.TRANSFERRED, cmd.actor, ticket_id=cur.id, number=cur.number, service=cur.service,
                  window=cur.window, data={"from_service": cur.service, "to_service": new_service,
                                           "to_window": cmd.to_window, "from_status": cur.status})
        uow.ticket_status(row, Status.WAITING.value, transferred=True)
        if cur.status in (Status.CALLED.value, Status.SERVING.value):
            uow.emit(ev.WINDOW_CHANGED, {"number": cur.window, "current": None})
        uow.outcome.result = views.staff_ticket(row)
    result: dict[str, Any] = uow.outcome.result
    return result


def move_waiting(cmd: MoveWaiting, core: Core, views: Views) -> dict[str, Any]:
    """A supervisor moves a waiting ticket to another service; it keeps its place (issue time)."""
    hall = core.hall(cmd.hall)
    if not cmd.actor.is_supervisor:
        raise Forbidden("only supervisors move waiting tickets")
    core.service(cmd.service)
    with core.uow(hall) as uow:
        cur = uow.find_today(cmd.ticket)
        if cur.status != Status.WAITING.value:
            raise InvalidTransition(f"{cur.number} is {cur.status}: only a waiting ticket can be moved",
                                    "not_waiting")
        transition(cur.status, "transfer")
        if cmd.service == cur.service and cur.target_window is None:
            raise InvalidInput(f"{cur.number} already waits for that service", "same_service")
        row = uow.update_ticket(cur.id, cur.status, service=cmd.service, target_window=None)
        uow.event(EventKind.TRANSFERRED, cmd.actor, ticket_id=cur.id, number=cur.number, service=cur.service,
                  data={"from_service": cur.service, "to_service": cmd.service, "to_window": None,
                        "from_status": cur.status, "moved_waiting": True})
        uow.ticket_status(row, Status.WAITING.value, transferred=True)
        uow.outcome.result = views.staff_ticket(row)
    result: dict[str, Any] = uow.outcome.result
    return result


_PHONES_WAITING = select(tickets.c.id, tickets.c.service, tickets.c.priority, tickets.c.queued_at, tickets.c.phone,
                         tickets.c.number).where(
    tickets.c.hall == bindparam("b_hall"), tickets.c.status == Status.WAITING.value, tickets.c.phone.is_not(None),
    tickets.c.near_notified.is_(False))
# guarded: not told yet, and still waiting (the read before may be a moment old)
_MARK_NEAR = update(tickets).where(tickets.c.id == bindparam("b_id"), tickets.c.near_notified.is_(False),
                                   tickets.c.status == Status.WAITING.value).values(near_notified=True)


def take_near_turn(core: Core, hall_code: str, ahead_max: int,
                   on_near: Callable[[Connection, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Waiting tickets with a phone whose turn is near and who were not told yet; marks them told.

    Run by the SMS effect handler after a call, only for halls with a gateway, outside the call's
    transaction: it takes no lock while the call holds the hall (on PostgreSQL a lock on waiting
    tickets hid them from the other windows' call-next, and waiting for one deadlocked with a
    cancel). A single read finds the phone tickets (an index of them; nothing more when there are
    none), a read counts who is ahead of each, and only when some are due does a write mark them,
    guarded so that with several processes each message still goes out once. `on_near(c, ticket)`
    runs in the marking transaction (the SMS outbox row is written with the mark, or neither is).
    """
    hall = core.hall(hall_code)
    with read_one(core.engine) as c:
        rows = c.execute(_PHONES_WAITING, {"b_hall": hall.code}).all()
    if not rows:
        return []
    with read_tx(core.engine) as c:
        due = [(r, ahead) for r in rows
               if (ahead := people_ahead(c, hall.code, r.service, r.priority, r.queued_at, r.id)) <= ahead_max]
    if not due:
        return []
    near = []
    with write_tx(core.engine) as c:
        for r, ahead in due:
            if c.execute(_MARK_NEAR, {"b_id": r.id}).rowcount == 1:
                near.append({"phone": r.phone, "number": r.number, "ahead": ahead})
                if on_near is not None:
                    on_near(c, near[-1])
    return near
