"""The unit of work: one write transaction of a command, and what it leaves for the bus.

Inside: the hall's next `seq`, event rows with their audit entries, number allocation, row
locks and guarded updates that return the new row (RETURNING: no second read). On a clean exit
the transaction commits first, then the outcome goes to the bus; on an error nothing is kept and
nothing is published.

Under gevent on SQLite (`hall-server run`) the transaction is a savepoint in a batch that one
COMMIT makes durable with the other writes of the moment (`storage._Group`, group commit); the exit
returns once that COMMIT is done, so nothing is published before the change is durable either way.
"""
from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from config import HallDef
from hall_server import events as ev
from hall_server.application import audit
from hall_server.application.common import Actor, NotFound, Outcome
from hall_server.domain import numbering
from hall_server.domain.errors import InvalidInput, InvalidTransition
from hall_server.storage import ACTIVE_SQL, Prepared, counters, halls, ticket_events, tickets, windows, write_tx

if TYPE_CHECKING:
    from hall_server.application.context import Core


# Built once: on the hot paths a statement built per call costs more Python than its execution.
_NEXT_SEQ = Prepared(update(halls).where(halls.c.code == bindparam("b_hall")).values(seq=halls.c.seq + 1)
                     .returning(halls.c.seq))
_INSERT_EVENT = Prepared(insert(ticket_events).returning(ticket_events.c.id),
                         keys=("hall", "ticket_id", "kind", "at", "service", "window", "actor", "seq", "data"))
_ACTIVE_AT = Prepared(select(tickets).where(tickets.c.hall == bindparam("b_hall"),
                                            tickets.c.window == bindparam("b_window"), text(ACTIVE_SQL)))
_WINDOW_Q = select(windows).where(windows.c.hall == bindparam("b_hall"), windows.c.number == bindparam("b_number"))
_WINDOW = Prepared(_WINDOW_Q)
_WINDOW_LOCKED = Prepared(_WINDOW_Q.with_for_update())
_UPDATE_TICKET = Prepared(update(tickets).where(tickets.c.id == bindparam("b_id"),
                                                tickets.c.status == bindparam("b_expect")).returning(*tickets.c),
                          varying=True)
_ALLOCATE: dict[bool, Prepared] = {}


class UnitOfWork:
    """`with core.uow(hall) as uow:` ... one transaction; publish its outcome after the commit."""

    def __init__(self, core: Core, hall: HallDef) -> None:
        self.core, self.hall = core, hall
        self.now: datetime = core.clock()
        self.outcome = Outcome(hall=hall.code)
        self._tx: Any = None
        self.c: Connection

    def __enter__(self) -> UnitOfWork:
        self._tx = write_tx(self.core.engine)
        self.c = self._tx.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:  # writes that belong to the change itself (the SMS outbox rows): same transaction
            try:
                for hook in self.core.bus.in_transaction:
                    hook(self.c, self.outcome)
            except BaseException as err:
                self._tx.__exit__(type(err), err, err.__traceback__)
                raise
        self._tx.__exit__(kind, exc, tb)  # commits (durable before anything below runs), or rolls back
        if kind is None and self.outcome.seq is not None:
            self.core.bus.publish(self.outcome)

    # ----- the hall's sequence and the event stream ------------------------------------------
    def seq(self) -> int:
        """The hall's next real-time sequence number, taken once per command."""
        if self.outcome.seq is None:
            self.outcome.seq = next_seq(self.c, self.hall.code)
        return self.outcome.seq

    def event(self, kind: str, actor: Actor, *, ticket_id: int | None = None, number: str | None = None,
              service: str | None = None, window: int | None = None,
              data: dict[str, Any] | None = None) -> int:
        """Write one event row (with the command's seq) and its audit entry; returns the event id."""
        kind = str(getattr(kind, "value", kind))
        seq = self.seq()
        event_id: int = _INSERT_EVENT.scalar(self.c, {
            "hall": self.hall.code, "ticket_id": ticket_id, "kind": kind, "at": self.now, "service": service,
            "window": window, "actor": actor.label, "seq": seq, "data": data})
        audit.append(self.c, self.hall.code, self.now, actor.label, kind, ticket=number, pg=self.core.pg,
                     data={"event": event_id, "service": service, "window": window, **(data or {})})
        return event_id

    def emit(self, event: str, payload: dict[str, Any], room: str | None = None) -> None:
        """A push to send once committed (to the hall's room unless another is named)."""
        self.outcome.emits.append(ev.Emit(event, payload, room or ev.hall_room(self.hall.code)))

    def ticket_status(self, row: Row[Any], status: str, **extra: Any) -> None:
        """Tell the ticket's phone page its new status."""
        self.emit(ev.TICKET_STATUS, {"token": row.token, "number": row.number, "status": status, **extra},
                  ev.ticket_room(row.token))

    def after(self, job: str, payload: dict[str, Any]) -> None:
        """A side job for the bus's handlers (announce, sms_called, ...)."""
        self.outcome.after.append((job, payload))

    # ----- rows ------------------------------------------------------------------------------
    def allocate(self, prefix: str, day: Any) -> int:
        """The next number for (hall, prefix, day), atomically, in this transaction."""
        return allocate(self.c, self.core.pg, self.hall.code, prefix, day)

    def window(self, number: int, lock: bool = True) -> Row[Any]:
        """The window's row (locked on PostgreSQL), or NotFound."""
        stmt = _WINDOW_LOCKED if lock and self.core.pg else _WINDOW
        row = stmt.first(self.c, {"b_hall": self.hall.code, "b_number": number})
        if row is None:
            raise NotFound(f"hall {self.hall.code!r} has no window {number}")
        return row

    def active_at(self, number: int) -> Row[Any] | None:
        """The ticket a window holds (called or serving), if any."""
        return _ACTIVE_AT.first(self.c, {"b_hall": self.hall.code, "b_window": number})

    def update_ticket(self, ticket_id: int, expect: str, **values: Any) -> Row[Any]:
        """Change a ticket that is still in state `expect`; returns the new row. Else a conflict."""
        row = _UPDATE_TICKET.first(self.c, {"b_id": ticket_id, "b_expect": expect, **values})
        if row is None:  # someone changed it first; the transaction rolls back
            raise InvalidTransition("the ticket changed meanwhile; try again", "conflict")
        return row

    def find_today(self, ref: str) -> Row[Any]:
        """Today's ticket with a number like A-023, or NotFound."""
        parsed = numbering.parse_number(ref)
        if parsed is None:
            raise InvalidInput(f"{ref!r} is not a ticket number like A-023", "invalid_ticket_number")
        prefix, seqno = parsed
        day = numbering.local_day(self.now, self.hall.tz)
        row = self.c.execute(select(tickets).where(
            tickets.c.hall == self.hall.code, tickets.c.prefix == prefix,
            tickets.c.seq == seqno, tickets.c.day == day)).first()
        if row is None:
            raise NotFound(f"no ticket {ref} today")
        return row


def next_seq(c: Connection, hall: str) -> int:
    """Take the hall's next real-time sequence number in the caller's transaction."""
    return int(_NEXT_SEQ.scalar(c, {"b_hall": hall}))


def allocate(c: Connection, pg: bool, hall: str, prefix: str, day: Any) -> int:
    """The next number for (hall, prefix, day): an atomic upsert in the caller's transaction."""
    stmt = _ALLOCATE.get(pg)
    if stmt is None:
        dialect: Any = postgresql if pg else sqlite
        stmt = _ALLOCATE[pg] = Prepared(dialect.insert(counters).values(
            hall=bindparam("b_hall"), prefix=bindparam("b_prefix"), day=bindparam("b_day"), last=1
        ).on_conflict_do_update(index_elements=[counters.c.hall, counters.c.prefix, counters.c.day],
                                set_={"last": counters.c.last + 1}).returning(counters.c.last))
    return int(stmt.scalar(c, {"b_hall": hall, "b_prefix": prefix, "b_day": day}))
