"""Request files: opened at the window, worked in the back office, followed by the citizen.

Every change is a file_events row; the national ID is shown masked, and every full view is
recorded with who saw it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from hall_server import events as ev
from hall_server.application import audit
from hall_server.application.common import Actor, Forbidden, NotFound, Outcome
from hall_server.application.hall import HallApp
from hall_server.application.limits import INQUIRY_ADDR, INQUIRY_FILE, Limiter, Policy, TooManyAttempts
from hall_server.application.uow import allocate, next_seq
from hall_server.domain import files as fd
from hall_server.domain.errors import DomainError, InvalidInput
from hall_server.domain.tickets import ACTIVE
from hall_server.storage import file_events, read_tx, request_files, tickets, windows, write_tx

REVEAL_ROLES = ("clerk", "back_office", "supervisor", "admin")
# Wrong last-four answers before inquiries are refused: per file (whatever way its number is
# written) and per client address, counted in the database so every process shares them.
INQUIRY_FAILURES = INQUIRY_FILE.free
FILE_COUNTER_PREFIX = "FILE"
__all__ = ["FileDesk", "TooManyAttempts"]


class FileDesk:
    """The use cases of request files, on the hall application's database and clock."""

    def __init__(self, app: HallApp) -> None:
        self.app = app
        self.limits = Limiter(app.engine, app.clock)

    # ----- helpers ----------------------------------------------------------------------------
    def _row(self, c: Connection, hall: str, number: str, lock: bool = False):
        parsed = fd.parse_file_number(number)
        if parsed is None:
            raise InvalidInput(f"{number!r} is not a file number like 2026-000123", "invalid_file_number")
        stmt = select(request_files).where(request_files.c.hall == hall, request_files.c.year == parsed[0],
                                           request_files.c.seq == parsed[1])
        if lock and self.app.core.pg:
            stmt = stmt.with_for_update()
        row = c.execute(stmt).first()
        if row is None:
            raise NotFound(f"no request file {number} in this hall", "unknown_file")
        return row

    def _event(self, c: Connection, row, kind: str, now: datetime, actor: Actor, **values: Any) -> None:
        c.execute(insert(file_events).values(file_id=row.id, hall=row.hall, kind=kind, at=now,
                                             actor=actor.label, **values))
        audit.append(c, row.hall, now, actor.label, f"file_{kind}", file=row.number, pg=self.app.core.pg,
                     data={k: v for k, v in values.items() if v is not None})

    def _holidays(self, hall: str):
        return self.app.hall(hall).holidays

    def view(self, row, reveal: bool = False, history: Sequence[Any] = ()) -> dict[str, Any]:
        """A file as staff see it; the national ID masked unless revealed."""
        service = self.app.settings.catalog.service(row.service)
        today = self.app.clock().astimezone(self.app.hall(row.hall).tz).date()
        late = row.status in fd.OPEN_STATUSES and row.status != fd.READY and today > row.due_date
        nid = fd.NationalId(row.national_id, None, "", "")  # type: ignore[arg-type]
        return {
            "number": row.number, "hall": row.hall, "service": row.service,
            "service_name": {"ar": service.name_ar, "en": service.name_en},
            "status": row.status, "department": row.department, "citizen_name": row.citizen_name,
            "national_id": row.national_id if reveal else nid.masked,
            "national_id_masked": not reveal,
            "mobile": (fd.MASK * 7 + row.mobile[-4:]) if row.mobile else None,
            "fee": row.fee, "documents": row.documents,
            "documents_complete": all(d["received"] for d in row.documents),
            "received_at": row.received_at.isoformat(), "due_date": row.due_date.isoformat(),
            "late": late, "reason": row.reason,
            "closed_at": row.closed_at.isoformat() if row.closed_at else None,
            "history": [{"kind": h.kind, "at": h.at.isoformat(), "actor": h.actor, "from": h.from_status,
                         "to": h.to_status, "department": h.department, "data": h.data} for h in history],
        }

    def _history(self, c: Connection, file_id: int):
        return c.execute(select(file_events).where(file_events.c.file_id == file_id)
                         .order_by(file_events.c.id)).all()

    # ----- commands ---------------------------------------------------------------------------
    def create(self, hall_code: str, service_code: str, citizen_name: str, national_id: str,
               mobile: str | None, documents_received: Sequence[int], actor: Actor,
               window: int | None = None) -> dict[str, Any]:
        """Open a file for a new submission; linked to the ticket the window is serving."""
        hall = self.app.hall(hall_code)
        service = self.app.core.service(service_code)
        if service.kind not in ("submit",):
            raise InvalidInput("files are opened for submissions, not for payments or inquiries",
                               "not_a_submission")
        name = (citizen_name or "").strip()
        if not 3 <= len(name) <= 120:
            raise InvalidInput("the citizen's name has 3 to 120 characters", "invalid_name")
        now = self.app.clock()
        today = now.astimezone(hall.tz).date()
        nid = fd.parse_national_id(national_id, today)
        phone = fd.parse_mobile(mobile) if mobile else None
        received = set(documents_received)
        if any(not isinstance(i, int) or not 0 <= i < len(service.documents_ar) for i in received):
            raise InvalidInput("documents_received lists document indexes of the service", "invalid_documents")
        docs = [{"ar": ar, "en": en, "received": i in received}
                for i, (ar, en) in enumerate(zip(service.documents_ar, service.documents_en))]
        due = fd.add_working_days(today, service.deadline_days, hall.holidays)
        out = Outcome(hall=hall.code)
        with write_tx(self.app.engine) as c:
            ticket = None
            if window is not None:
                self._check_window(c, hall.code, window, actor)
                ticket = c.execute(select(tickets).where(
                    tickets.c.hall == hall.code, tickets.c.window == window,
                    tickets.c.status.in_([s.value for s in ACTIVE]))).first()
                if ticket is None:
                    raise DomainError(f"window {window} is serving no ticket to link", "no_current_ticket")
            seq = allocate(c, self.app.core.pg, hall.code, FILE_COUNTER_PREFIX, today.replace(month=1, day=1))
            number = fd.format_file_number(today.year, seq)
            fid = c.execute(insert(request_files).values(
                hall=hall.code, year=today.year, seq=seq, number=number, service=service.code,
                status=fd.RECEIVED, department=service.sector, citizen_name=name, national_id=nid.value,
                mobile=phone, fee=service.fee, documents=docs, received_at=now, due_date=due,
                ticket_id=ticket.id if ticket else None, updated_at=now).returning(request_files.c.id)).scalar_one()
            row = c.execute(select(request_files).where(request_files.c.id == fid)).one()
            if ticket is not None:  # the hall's seq row before the audit head: one lock order everywhere
                out.seq = next_seq(c, hall.code)
            self._event(c, row, "received", now, actor, to_status=fd.RECEIVED, department=service.sector,
                        data={"documents_received": sorted(received), "ticket": ticket.number if ticket else None})
            if ticket is not None:
                c.execute(update(tickets).where(tickets.c.id == ticket.id).values(request_file=number))
                out.emits.append(ev.Emit(ev.TICKET_STATUS, {"token": ticket.token, "number": ticket.number,
                                                            "status": ticket.status, "request_file": number},
                                         ev.ticket_room(ticket.token)))
            result = self.view(row, history=self._history(c, fid))
        out.touched_services = False
        if out.seq is not None:
            # the hall room has anonymous boards: it hears that the window changed, not the file number
            out.emits.append(ev.Emit(ev.WINDOW_CHANGED, {"number": window, "request_file": True},
                                     ev.hall_room(hall.code)))
            self.app.bus.publish(out)
        return result

    def get(self, hall_code: str, number: str, actor: Actor, reveal: bool = False) -> dict[str, Any]:
        """A file with its history; a full national ID only on request, and that view is recorded."""
        hall = self.app.hall(hall_code)
        if reveal and actor.role not in REVEAL_ROLES:
            raise Forbidden("your role may not see full national IDs")
        if reveal:
            with write_tx(self.app.engine) as c:
                row = self._row(c, hall.code, number)
                self._check_reveal(c, hall.code, row, actor)
                self._event(c, row, "viewed_national_id", self.app.clock(), actor)
                return self.view(row, reveal=True, history=self._history(c, row.id))
        with read_tx(self.app.engine) as c:
            row = self._row(c, hall.code, number)
            return self.view(row, history=self._history(c, row.id))

    def record_documents(self, hall_code: str, number: str, received: Sequence[int], actor: Actor) -> dict[str, Any]:
        """Mark which of the file's required documents are now in hand."""
        hall = self.app.hall(hall_code)
        now = self.app.clock()
        with write_tx(self.app.engine) as c:
            row = self._row(c, hall.code, number, lock=True)
            if row.status not in fd.OPEN_STATUSES:
                raise DomainError(f"the file is {row.status}", "file_closed")
            if any(not isinstance(i, int) or not 0 <= i < len(row.documents) for i in received):
                raise InvalidInput("received lists document indexes of the file", "invalid_documents")
            docs = [{**d, "received": d["received"] or i in set(received)} for i, d in enumerate(row.documents)]
            c.execute(update(request_files).where(request_files.c.id == row.id).values(documents=docs,
                                                                                        updated_at=now))
            self._event(c, row, "documents", now, actor, data={"received": sorted(set(received))})
            row = c.execute(select(request_files).where(request_files.c.id == row.id)).one()
            return self.view(row, history=self._history(c, row.id))

    def change_status(self, hall_code: str, number: str, status: str, actor: Actor,
                      reason: str | None = None, department: str | None = None) -> dict[str, Any]:
        """Move a file along its flow (optionally to another department); the citizen is told by SMS."""
        hall = self.app.hall(hall_code)
        now = self.app.clock()
        if reason is not None and len(reason) > 500:
            raise InvalidInput("reason is at most 500 characters")
        out = Outcome(hall=hall.code, touched_services=False)
        with write_tx(self.app.engine) as c:
            row = self._row(c, hall.code, number, lock=True)
            self._check_department(actor, row.department)
            fd.file_transition(row.status, status, reason)
            values: dict[str, Any] = {"status": status, "updated_at": now}
            if reason:
                values["reason"] = reason.strip()
            if status in (fd.DELIVERED, fd.REJECTED):
                values["closed_at"] = now
            if department is not None:
                self._check_sector(department)
                values["department"] = department
            c.execute(update(request_files).where(request_files.c.id == row.id).values(**values))
            self._event(c, row, "status", now, actor, from_status=row.status, to_status=status,
                        department=values.get("department", row.department), data={"reason": reason})
            new = c.execute(select(request_files).where(request_files.c.id == row.id)).one()
            result = self.view(new, history=self._history(c, row.id))
            if new.mobile and status in (fd.NEEDS_DOCUMENTS, fd.READY):
                out.after.append(("sms_file", {"phone": new.mobile, "hall": hall.code, "file": new.number,
                                               "status": status, "reason": reason or ""}))
                for hook in self.app.bus.in_transaction:  # the citizen's SMS: written with the change
                    hook(c, out)
        if out.after:
            self.app.bus.publish(out)
        return result

    def move(self, hall_code: str, number: str, department: str, actor: Actor) -> dict[str, Any]:
        """Send a file to another back-office department (status unchanged)."""
        hall = self.app.hall(hall_code)
        self._check_sector(department)
        now = self.app.clock()
        if actor.role == "clerk":
            raise Forbidden("moving files between departments is the back office's work", "not_your_file")
        with write_tx(self.app.engine) as c:
            row = self._row(c, hall.code, number, lock=True)
            self._check_department(actor, row.department)
            if row.status not in fd.OPEN_STATUSES:
                raise DomainError(f"the file is {row.status}", "file_closed")
            if department == row.department:
                raise InvalidInput("the file is already in that department", "same_department")
            c.execute(update(request_files).where(request_files.c.id == row.id).values(department=department,
                                                                                        updated_at=now))
            self._event(c, row, "moved", now, actor, from_status=row.status, to_status=row.status,
                        department=department, data={"from": row.department})
            row = c.execute(select(request_files).where(request_files.c.id == row.id)).one()
            return self.view(row, history=self._history(c, row.id))

    def _check_sector(self, code: str) -> None:
        if code not in {s.code for s in self.app.settings.catalog.sectors}:
            raise InvalidInput("department must be a sector code of the catalog", "invalid_department")

    @staticmethod
    def _check_window(c: Connection, hall: str, window: int, actor: Actor) -> None:
        """A clerk links files only at the window he is signed in at."""
        if actor.is_supervisor or actor.role != "clerk":
            return
        at = c.execute(select(windows.c.clerk_id, windows.c.state).where(
            windows.c.hall == hall, windows.c.number == window)).first()
        if at is None or at.state == "closed" or at.clerk_id != actor.user_id:
            raise Forbidden(f"sign in to window {window} first", "not_signed_in")

    def _check_reveal(self, c: Connection, hall: str, row: Any, actor: Actor) -> None:
        """Who may see a full national ID: the clerk serving the file's citizen now, the file's
        department in the back office, supervisors; nobody else (every view is recorded too)."""
        if actor.is_supervisor:
            return
        if actor.role == "back_office":
            self._check_department(actor, row.department)
            return
        if actor.role != "clerk":
            raise Forbidden("your role may not see full national IDs")
        held = c.execute(select(tickets.c.id, tickets.c.request_file).select_from(
            tickets.join(windows, (windows.c.hall == tickets.c.hall) & (windows.c.number == tickets.c.window)))
            .where(tickets.c.hall == hall, windows.c.clerk_id == actor.user_id, windows.c.state != "closed",
                   tickets.c.status.in_([s.value for s in ACTIVE]))).first()
        if held is None or (held.id != row.ticket_id and held.request_file != row.number):
            raise Forbidden("a clerk sees a full national ID only for the citizen at his window", "not_your_file")

    @staticmethod
    def _check_department(actor: Actor, department: str) -> None:
        if actor.role == "back_office" and actor.departments is not None and department not in actor.departments:
            raise Forbidden("this file is in another department")

    # ----- queries ----------------------------------------------------------------------------
    def list(self, hall_code: str, department: str | None = None, status: str | None = None,
             late_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """Files oldest due first (open files by default), masked."""
        hall = self.app.hall(hall_code)
        q = select(request_files).where(request_files.c.hall == hall.code)
        if department:
            q = q.where(request_files.c.department == department)
        if status:
            if status not in fd.FILE_STATUSES:
                raise InvalidInput(f"status must be one of {', '.join(fd.FILE_STATUSES)}", "invalid_status")
            q = q.where(request_files.c.status == status)
        else:
            q = q.where(request_files.c.status.in_(fd.OPEN_STATUSES))
        today = self.app.clock().astimezone(hall.tz).date()
        if late_only:
            q = q.where(request_files.c.due_date < today,
                        request_files.c.status.in_([fd.RECEIVED, fd.UNDER_REVIEW, fd.NEEDS_DOCUMENTS]))
        q = q.order_by(request_files.c.due_date, request_files.c.id).limit(max(1, min(limit, 1000)))
        with read_tx(self.app.engine) as c:
            return [self.view(r) for r in c.execute(q)]

    def counts(self, hall_code: str) -> dict[str, int]:
        """Open files per status, and late ones (for supervisors)."""
        hall = self.app.hall(hall_code)
        today = self.app.clock().astimezone(hall.tz).date()
        with read_tx(self.app.engine) as c:
            per: dict[str, int] = dict(c.execute(select(request_files.c.status, func.count()).where(
                request_files.c.hall == hall.code).group_by(request_files.c.status)).all())
            late = c.execute(select(func.count()).select_from(request_files).where(
                request_files.c.hall == hall.code, request_files.c.due_date < today,
                request_files.c.status.in_([fd.RECEIVED, fd.UNDER_REVIEW, fd.NEEDS_DOCUMENTS]))).scalar_one()
        return {**{s: per.get(s, 0) for s in fd.FILE_STATUSES}, "late": late}

    def route(self, hall_code: str, number: str) -> dict[str, Any]:
        """Which service a citizen returning with this file number queues for (kiosk)."""
        hall = self.app.hall(hall_code)
        with read_tx(self.app.engine) as c:
            row = self._row(c, hall.code, number)
        service = fd.returning_service(row.status)
        return {"file": row.number, "service": service, "reason": row.status}

    def inquiry(self, hall_code: str, number: str, last4: str | None, address: str | None = None) -> dict[str, Any]:
        """Status and due date for whoever knows the file number and the ID's or mobile's last four digits.

        Wrong answers are limited per file, keyed by the parsed number (2026-1, 2026/0001 and
        ٢٠٢٦-١ are one file), and per client address; past a limit, 429 without checking.
        """
        hall = self.app.hall(hall_code)
        last4 = fd.normalize_digits(last4 or "")
        if len(last4) != 4 or not last4.isdigit():
            raise InvalidInput("give the last four digits of the national ID or the mobile", "invalid_last4")
        keys: list[tuple[Policy, str]] = []
        parsed = fd.parse_file_number(number)
        if parsed is not None:
            keys.append((INQUIRY_FILE, INQUIRY_FILE.key(hall.code, f"{parsed[0]}-{parsed[1]}")))
        if address:
            keys.append((INQUIRY_ADDR, INQUIRY_ADDR.key(hall.code, address)))
        attempt = self.limits.begin(keys, "too many wrong attempts; try again later")
        try:
            with read_tx(self.app.engine) as c:
                row = self._row(c, hall.code, number)
            ok = row.national_id.endswith(last4) or bool(row.mobile and row.mobile.endswith(last4))
        except (NotFound, InvalidInput):
            ok = False
        except BaseException:
            self.limits.cancel(attempt)
            raise
        if attempt.keys:
            with write_tx(self.app.engine) as c:
                if ok:
                    self.limits.succeeded(c, attempt)
                else:
                    self.limits.failed(c, attempt)
        if not ok:
            # the same answer for "no such file" and "wrong digits": nothing is revealed
            raise NotFound("no file matches this number and these digits", "no_match")
        service = self.app.settings.catalog.service(row.service)
        return {"number": row.number, "status": row.status, "due_date": row.due_date.isoformat(),
                "service_name": {"ar": service.name_ar, "en": service.name_en}, "reason":
                row.reason if row.status in (fd.NEEDS_DOCUMENTS, fd.REJECTED) else None}
