"""Issuing and cancelling tickets."""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from hall_server import events as ev
from hall_server.application.common import NotFound
from hall_server.application.views import people_ahead, serves_open
from hall_server.domain import numbering
from hall_server.domain.commands import CancelTicket, IssueTicket
from hall_server.domain.errors import DomainError, InvalidInput
from hall_server.domain.events import EventKind
from hall_server.domain.tickets import Status, transition
from hall_server.storage import Prepared, tickets

if TYPE_CHECKING:
    from hall_server.application.context import Core
    from hall_server.application.estimates import LiveView
    from hall_server.application.views import Views


_BY_KEY = Prepared(select(tickets).where(tickets.c.hall == bindparam("b_hall"),
                                         tickets.c.idempotency_key == bindparam("b_key")))
_INSERT = Prepared(insert(tickets).returning(*tickets.c), keys=(
    "hall", "prefix", "day", "seq", "number", "service", "priority", "status", "token", "issued_at", "queued_at",
    "recall_count", "phone", "request_file", "eta_at_issue", "people_ahead_at_issue", "device", "idempotency_key"))


class ServiceClosed(DomainError):
    """No open window of the hall serves the service: no ticket (409, the kiosk's closed words)."""

    code = "service_closed"


def issue_ticket(cmd: IssueTicket, core: Core, views: Views) -> tuple[dict[str, Any], bool]:
    """Issue a ticket; returns (ticket, created). A repeated Idempotency-Key returns the first.

    A service is issued only while it is open: at least one window of the hall that serves it is
    open (`domain.windows.takes_tickets`, the rule the kiosk shows by). A paused window (a break)
    does not count, a closed one neither; otherwise ServiceClosed (409 `service_closed`) and
    nothing is written (no number taken, no event, no audit row). The check runs in the write
    transaction, after the Idempotency-Key replay: a ticket already issued under the key is
    returned even if its service has closed since. Transfers and staff moves of waiting tickets
    are other commands and are not bound by it.
    """
    hall = core.hall(cmd.hall)
    service = core.service(cmd.service)
    if cmd.priority is not None and cmd.priority not in hall.queue.priority_classes + ("appointment",):
        raise InvalidInput(f"priority must be one of {', '.join(hall.queue.priority_classes)}",
                           "invalid_priority")
    if cmd.phone is not None and not (cmd.phone.isdigit() and 8 <= len(cmd.phone) <= 15):
        raise InvalidInput("phone must be 8 to 15 digits", "invalid_phone")
    key = cmd.idempotency_key
    if key is not None and not (1 <= len(key) <= 80):
        raise InvalidInput("Idempotency-Key must be 1 to 80 characters", "invalid_idempotency_key")
    # The estimate comes from the hall's live state (shared, at most a moment old), never from
    # ranking the queue here; it is an estimate, and a change committed meanwhile does not make it wrong.
    view = core.estimates.view(hall)
    for attempt in range(3):
        try:
            return _issue(cmd, core, views, hall, service, view)
        except IntegrityError:
            # Only a concurrent twin with the same Idempotency-Key ends here; it has committed.
            if key is None or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _issue(cmd: IssueTicket, core: Core, views: Views, hall: Any, service: Any,
           view: LiveView) -> tuple[dict[str, Any], bool]:
    with core.uow(hall) as uow:
        c, now = uow.c, uow.now
        if cmd.idempotency_key is not None:  # under the write lock (SQLite) / unique index (PostgreSQL)
            row = _BY_KEY.first(c, {"b_hall": hall.code, "b_key": cmd.idempotency_key})
            if row is not None:
                # A key belongs to the device that sent it and to its whole request: a retry gets its
                # ticket back; another caller, or another request under the same key, gets nothing.
                if row.device != cmd.actor.name or (row.service, row.priority, row.phone, row.request_file) != (
                        service.code, cmd.priority, cmd.phone, cmd.request_file):
                    raise InvalidInput("this Idempotency-Key was used for another request",
                                       "idempotency_mismatch")
                return views.public(c, hall, row), False
        if not serves_open(c, hall.code, service.code):
            raise ServiceClosed("No window serves this service right now", "service_closed")
        day = numbering.local_day(now, hall.tz)
        seqno = uow.allocate(service.prefix, day)
        ahead = people_ahead(c, hall.code, service.code, cmd.priority, now, None)
        eta = view.eta_newer(service.code, cmd.priority, ahead)  # the view may lag the queue by a moment
        number = numbering.format_number(service.prefix, seqno)
        token = secrets.token_urlsafe(18)
        row = _INSERT.one(c, {
            "hall": hall.code, "prefix": service.prefix, "day": day, "seq": seqno, "number": number,
            "service": service.code, "priority": cmd.priority, "status": Status.WAITING.value, "token": token,
            "issued_at": now, "queued_at": now, "recall_count": 0, "phone": cmd.phone,
            "request_file": cmd.request_file, "eta_at_issue": eta, "people_ahead_at_issue": ahead,
            "device": cmd.actor.name, "idempotency_key": cmd.idempotency_key})
        uow.event(EventKind.ISSUED, cmd.actor, ticket_id=row.id, number=number, service=service.code,
                  data={"priority": cmd.priority, "eta": eta, "ahead": ahead})
        ticket = views.public(c, hall, row, ahead=ahead, eta=eta, known=True)
        uow.emit(ev.TICKET_ISSUED, {"number": number, "service": service.code})
        uow.after("print", {"device": cmd.actor.name, "ticket": ticket})
        uow.outcome.result = ticket
    receipt = uow.outcome.receipts.get("print")  # left by the print effect, when the server prints
    return ({**ticket, "print": receipt} if receipt is not None else ticket), True


def cancel(cmd: CancelTicket, core: Core, views: Views) -> dict[str, Any]:
    """The citizen gives up their ticket."""
    with core.engine.connect() as c:  # which hall: the token says (a plain read, before the unit of work)
        found = c.execute(select(tickets.c.hall).where(tickets.c.token == cmd.token)).first()
    if found is None:
        raise NotFound("no such ticket")
    hall = core.hall(found.hall)
    with core.uow(hall) as uow:
        row = uow.c.execute(select(tickets).where(tickets.c.token == cmd.token)).one()
        transition(row.status, "cancel")
        row = uow.update_ticket(row.id, row.status, status=Status.CANCELLED.value, finished_at=uow.now)
        uow.event(EventKind.CANCELLED, cmd.actor, ticket_id=row.id, number=row.number, service=row.service)
        uow.ticket_status(row, Status.CANCELLED.value)
        result = views.public(uow.c, hall, row)
        uow.outcome.result = result
    return result
