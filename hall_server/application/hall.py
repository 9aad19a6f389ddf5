"""`HallApp`: the hall's use cases as one object for REST, Socket.IO, the CLI and the simulator.

It holds no logic of its own: each method builds a command and hands it to its handler (one per
command, in issuing, calling and windows), or asks the read models (views). The handler table is
the whole map of what the hall can be asked to do.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from config import HallDef, Settings
from hall_server.application import calling, issuing
from hall_server.application import windows as window_handlers
from hall_server.application.bus import Bus
from hall_server.application.common import CITIZEN, SYSTEM, Actor, Clock, Forbidden, utc_now
from hall_server.application.context import Core
from hall_server.application.views import Views
from hall_server.domain import commands as cmds
from hall_server.domain import staffing
from hall_server.domain.windows import WindowState
from hall_server.storage import halls, read_tx, tickets, windows, write_tx

HANDLERS: dict[type, Callable[..., Any]] = {
    cmds.IssueTicket: issuing.issue_ticket,
    cmds.CancelTicket: issuing.cancel,
    cmds.CallNext: calling.call_next,
    cmds.CallTicket: calling.call_ticket,
    cmds.Recall: calling.recall,
    cmds.Advance: calling.advance,
    cmds.Transfer: calling.transfer,
    cmds.MoveWaiting: calling.move_waiting,
    cmds.SetWindowState: window_handlers.set_window_state,
    cmds.SetWindowServices: window_handlers.set_window_services,
    cmds.SetBoardMessage: window_handlers.set_board_message,
}


class HallApp:
    """The hall's use cases over one database; shared by REST, Socket.IO, CLI and simulator."""

    def __init__(self, settings: Settings, engine: Engine, clock: Clock = utc_now,
                 bus: Bus | None = None, live_stale_s: float = 0.0) -> None:
        self.core = Core(settings, engine, clock, bus or Bus(), live_stale_s)
        self.views = Views(self.core)

    # ----- the core's parts, for the adapters ------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def engine(self) -> Engine:
        return self.core.engine

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def bus(self) -> Bus:
        return self.core.bus

    @property
    def estimator(self) -> str:
        """The estimator the hall shows (a name in domain.estimate.ESTIMATORS)."""
        return self.core.estimates.estimator

    @estimator.setter
    def estimator(self, name: str) -> None:
        self.core.estimates.estimator = name

    def hall(self, code: str) -> HallDef:
        """The configured hall, or NotFound."""
        return self.core.hall(code)

    def handle(self, command: Any) -> Any:
        """Run a command's handler (its unit of work publishes the outcome after the commit).

        Every command in a hall is first checked against the actor's halls: a device acts only in
        its own hall, staff only in the halls their account carries (whatever door it came in by).
        """
        hall = getattr(command, "hall", None)
        if hall is not None and not command.actor.acts_in(hall):
            raise Forbidden("this account or device belongs to another hall", "other_hall")
        return HANDLERS[type(command)](command, self.core, self.views)

    # ----- setup -------------------------------------------------------------------------
    def ensure_halls(self) -> None:
        """Create hall and window rows for every configured hall that lacks them."""
        with write_tx(self.engine) as c:
            for hall in self.settings.halls:
                if c.execute(select(halls.c.code).where(halls.c.code == hall.code)).first() is None:
                    c.execute(insert(halls).values(code=hall.code, seq=0))
                have = {r.number for r in c.execute(
                    select(windows.c.number).where(windows.c.hall == hall.code))}
                for w in hall.windows:
                    if w.number not in have:
                        c.execute(insert(windows).values(
                            hall=hall.code, number=w.number, state=WindowState.CLOSED.value,
                            services=list(w.services), priority_streak=0))

    # ----- commands ------------------------------------------------------------------------
    def issue_ticket(self, hall_code: str, service_code: str, *, priority: str | None = None,
                     request_file: str | None = None, phone: str | None = None,
                     idempotency_key: str | None = None, actor: Actor = SYSTEM) -> tuple[dict[str, Any], bool]:
        """Issue a ticket; returns (ticket, created). A repeated Idempotency-Key returns the first."""
        return self.handle(cmds.IssueTicket(hall_code, actor, service_code, priority, request_file, phone,
                                            idempotency_key))  # type: ignore[no-any-return]

    def cancel(self, token: str, actor: Actor = CITIZEN) -> dict[str, Any]:
        """The citizen gives up their ticket."""
        return self.handle(cmds.CancelTicket(token, actor))  # type: ignore[no-any-return]

    def call_next(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any] | None:
        """Call the ticket the policy picks for this window; None when nothing it serves waits."""
        return self.handle(cmds.CallNext(hall_code, actor, number))  # type: ignore[no-any-return]

    def call_specific(self, hall_code: str, number: int, ticket_ref: str, reason: str | None,
                      actor: Actor) -> dict[str, Any]:
        """Call one ticket out of order (with a reason), or resume a parked one."""
        return self.handle(cmds.CallTicket(hall_code, actor, number, ticket_ref, reason))  # type: ignore[no-any-return]

    def recall(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """Call the current ticket again; past the recall limit it becomes a no-show."""
        return self.handle(cmds.Recall(hall_code, actor, number))  # type: ignore[no-any-return]

    def start(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """The citizen is at the window: start the serving timer."""
        return self.handle(cmds.Advance(hall_code, actor, number, "start"))  # type: ignore[no-any-return]

    def complete(self, hall_code: str, number: int, actor: Actor, outcome: str = "served") -> dict[str, Any]:
        """Finish the current ticket with an outcome."""
        return self.handle(cmds.Advance(hall_code, actor, number, "complete", outcome))  # type: ignore[no-any-return]

    def no_show(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """The called citizen did not come."""
        return self.handle(cmds.Advance(hall_code, actor, number, "no_show"))  # type: ignore[no-any-return]

    def park(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """Put the current ticket aside (the citizen fetches a paper); the window is free again."""
        return self.handle(cmds.Advance(hall_code, actor, number, "park"))  # type: ignore[no-any-return]

    def transfer(self, hall_code: str, number: int, actor: Actor, service: str | None = None,
                 to_window: int | None = None, ticket_ref: str | None = None) -> dict[str, Any]:
        """Send the current (or a named waiting) ticket to another service or window, keeping its place."""
        return self.handle(cmds.Transfer(hall_code, actor, number, service, to_window,  # type: ignore[no-any-return]
                                         ticket_ref))

    def move_waiting(self, hall_code: str, ticket_ref: str, service: str, actor: Actor) -> dict[str, Any]:
        """A supervisor moves a waiting ticket to another service; it keeps its place."""
        return self.handle(cmds.MoveWaiting(hall_code, actor, ticket_ref, service))  # type: ignore[no-any-return]

    def set_window_state(self, hall_code: str, number: int, action: str, actor: Actor) -> dict[str, Any]:
        """Sign in, sign out, pause, resume, open or close a window."""
        return self.handle(cmds.SetWindowState(hall_code, actor, number, action))  # type: ignore[no-any-return]

    def set_window_services(self, hall_code: str, number: int, services: Sequence[str],
                            actor: Actor) -> dict[str, Any]:
        """Change what a window serves, live (supervisor)."""
        return self.handle(cmds.SetWindowServices(hall_code, actor, number,  # type: ignore[no-any-return]
                                                  tuple(services)))

    def set_board_message(self, hall_code: str, message: str | None, actor: Actor) -> None:
        """A line of text every board of the hall shows (supervisor)."""
        self.handle(cmds.SetBoardMessage(hall_code, actor, message))

    def take_near_turn(self, hall_code: str, ahead_max: int) -> list[dict[str, Any]]:
        """Phone tickets whose turn is near and who were not told yet; marks them told (SMS)."""
        return calling.take_near_turn(self.core, hall_code, ahead_max)

    # ----- read models -----------------------------------------------------------------------
    def ticket_by_token(self, token: str) -> dict[str, Any]:
        """The public view of one ticket for the phone page."""
        return self.views.ticket_by_token(token)

    def services_overview(self, hall_code: str) -> list[dict[str, Any]]:
        """The catalog with live counts and estimates."""
        return self.views.services_overview(hall_code)

    def queue_state(self, hall_code: str, seq: int | None = None, fresh: bool = False,
                    any_age: bool = False) -> dict[str, Any]:
        """Waiting counts and new-ticket estimates per service (the queue_changed body)."""
        return self.views.queue_state(hall_code, seq, fresh, any_age)

    def board(self, hall_code: str, last_calls: int = 12) -> dict[str, Any]:
        """What a display board shows now."""
        return self.views.board(hall_code, last_calls)

    def window_view(self, hall_code: str, number: int) -> dict[str, Any]:
        """A window's state, current ticket and waiting list."""
        return self.views.window_view(hall_code, number)

    def stats(self, hall_code: str) -> dict[str, Any]:
        """Live indicators for the supervisor."""
        return self.views.stats(hall_code)

    def staffing_plan(self, hall_code: str, day: date | None = None,
                      goal: float = staffing.DEFAULT_GOAL) -> dict[str, Any]:
        """Windows needed per hour on a day."""
        return self.views.staffing_plan(hall_code, day, goal)

    def staff_ticket(self, row: Any) -> dict[str, Any]:
        """A ticket row as counter staff see it."""
        return self.views.staff_ticket(row)


def ticket_rows_for(engine: Engine, hall: str) -> Iterable[Any]:
    """All ticket rows of a hall (tests and tools)."""
    with read_tx(engine) as c:
        return c.execute(select(tickets).where(tickets.c.hall == hall).order_by(tickets.c.id)).all()
