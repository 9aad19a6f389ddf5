"""The print dispatcher on its own: kiosk printer config, the printed ticket's fields, the agent queue."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from PIL import Image

from config import load_settings
from config.loader import ConfigError
from hall_server import events as ev
from printer.dispatch import (
    JOB_MAX_AGE,
    NOT_REPRINTED,
    PrintDispatcher,
    ticket_fields,
    ticket_from_fields,
    ticket_print,
)
from tests.print_queue_support import Emitted
from tests.print_support import qr_texts, write_hall

TICKET = {
    "id": 7, "hall": "kfs", "number": "A-007", "service": "building_permit", "status": "waiting",
    "priority": "elderly", "token": "tok", "track_url": "http://hall.example/t/Zx9kQ2mP7vLr4TbW8nYc3HdF",
    "position": 4, "eta_seconds": 61, "issued_at": "2026-11-22T07:05:00+00:00", "window": None,
    "request_file": "2026-000123",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(tmp_path, devices: str):
    return load_settings(env={}, data_dir=tmp_path / "data", async_mode="threading",
                         halls=[write_hall(tmp_path / "cfg", devices)])


def _dispatcher(tmp_path, devices: str, clock=None):
    sent = Emitted()  # (event, payload, room) pushes, in order; waitable
    statuses: list[tuple[str, str, str, str]] = []
    d = PrintDispatcher(_settings(tmp_path, devices), sent, lambda *a: statuses.append(a),
                        **({"clock": clock} if clock else {}))
    return d, sent, statuses


def test_printed_ticket_fields_come_from_config_and_the_hall_clock(settings):
    """Names from the catalog, local Cairo time, wait rounded up, priority and file on the ticket."""
    hall = settings.halls[0]
    t = ticket_print(hall, settings.catalog, TICKET)
    assert t.service_name_ar == settings.catalog.service("building_permit").name_ar
    assert t.hall_name_en == hall.name_en
    assert t.issued_at.utcoffset().total_seconds() == 2 * 3600 and t.issued_at.hour == 9
    assert t.eta_minutes == 2, "61 s is promised as 2 minutes, never 1"
    assert t.people_ahead == 4 and t.file_number == "2026-000123"
    assert t.priority_label_ar == "كبار السن"
    assert ticket_print(hall, settings.catalog, {**TICKET, "eta_seconds": None}).eta_minutes is None
    assert ticket_from_fields(ticket_fields(t)) == t


@pytest.mark.parametrize("bad", [{"people_ahead": "3"}, {"eta_minutes": 1.5}, {"number": None},
                                 {"issued_at": "yesterday"}, {"track_url": 5}])
def test_a_malformed_job_is_refused(settings, bad):
    fields = {**ticket_fields(ticket_print(settings.halls[0], settings.catalog, TICKET)), **bad}
    with pytest.raises(ValueError):
        ticket_from_fields(fields)


@pytest.mark.parametrize("printer, needle", [
    ('{mode = "cloud"}', "devices[kiosk-1].printer.mode"),
    ('{mode = "server", backend = "network"}', "missing host"),
    ('{mode = "server", backend = "network", host = "10.0.0.9", width = 576}', "wider than the profile's 512"),
    ('{mode = "agent", digits = "roman"}', "digits"),
])
def test_a_wrong_kiosk_printer_config_fails_at_start(tmp_path, printer, needle):
    """The server refuses to start on a printer it could never use, naming file and key."""
    with pytest.raises(ConfigError) as err:
        _dispatcher(tmp_path, f'[[devices]]\nname = "kiosk-1"\nkind = "kiosk"\nprinter = {printer}\n')
    assert needle in str(err.value) and "hall.toml" in str(err.value)


def test_server_mode_file_printer_writes_a_scannable_ticket(tmp_path):
    d, sent, statuses = _dispatcher(tmp_path, '[[devices]]\nname = "kiosk-1"\nkind = "kiosk"\nprinter = '
                                              '{mode = "server", backend = "file", folder = "tickets", width = 384}\n')
    result = d.dispatch("kfs", "kiosk-1", TICKET).as_json()
    assert result["status"] == "queued" and result["job_id"], "the caller never waits for the printer"
    printed = sent.status_of(result["job_id"])
    assert printed == {"job_id": result["job_id"], "number": "A-007", "device": "kiosk-1",
                       "status": "printed", "detail": "printed"}
    assert [r for _, _, r in sent] == [ev.hall_room("kfs")], "to the hall room, where the kiosk listens"
    pngs = list((tmp_path / "data" / "tickets").glob("*.png"))
    assert len(pngs) == 1, "the folder is inside the data dir"
    img = Image.open(pngs[0])
    assert img.width == 384 and qr_texts(img) == [TICKET["track_url"]]
    assert statuses == [("kfs", "kiosk-1", "online", "")]
    again = d.dispatch("kfs", "kiosk-1", TICKET).job_id
    assert sent.status_of(again)["status"] == "printed"
    assert len(statuses) == 1, "status is pushed on change, not per ticket"


def test_no_config_staff_and_broken_tickets_never_raise(tmp_path):
    d, _, _ = _dispatcher(tmp_path, '[[devices]]\nname = "kiosk-1"\nkind = "kiosk"\n'
                                    'printer = {mode = "server", backend = "file", folder = "t"}\n')
    assert d.dispatch("kfs", "clerk1", TICKET).status == "none"
    assert d.dispatch("kfs", None, TICKET).status == "none"
    broken = d.dispatch("kfs", "kiosk-1", {**TICKET, "service": "no_such_service"})
    assert broken.status == "failed"
    assert NOT_REPRINTED.as_json()["status"] == "not_reprinted"


def test_agent_jobs_wait_until_acknowledged_by_their_kiosk_printer(tmp_path):
    clock = Clock()
    d, sent, _ = _dispatcher(tmp_path, '[[devices]]\nname = "kiosk-1"\nkind = "kiosk"\nprinter = {mode = "agent"}\n',
                             clock=clock)
    assert d.dispatch("kfs", "kiosk-1", TICKET).status == "queued"
    event, job, room = sent[-1]
    assert (event, room) == (ev.PRINT_TICKET, ev.printer_room("kfs", "kiosk-1"))
    assert job["ticket"]["number"] == "A-007" and job["digits"] == "eastern", "the hall's digits by default"
    assert "phone" not in str(job), "no personal data travels to the printer"
    assert [j["job_id"] for j in d.pending("kfs", "kiosk-1")] == [job["job_id"]]

    mine = {ev.printer_room("kfs", "kiosk-1")}
    assert d.result({ev.printer_room("kfs", "kiosk-9")}, {"job_id": job["job_id"], "status": "printed"})["ok"] is False
    assert d.result(mine, {"job_id": job["job_id"], "status": "bogus"})["ok"] is False
    assert d.result(mine, "nonsense")["ok"] is False
    assert d.result(mine, {"job_id": job["job_id"], "status": "failed", "detail": "offline: refused"})["known"]
    assert d.pending("kfs", "kiosk-1"), "a failed job stays until printed"
    assert sent[-1][0] == ev.PRINT_STATUS and sent[-1][2] == ev.hall_room("kfs")
    assert sent[-1][1] == {"job_id": job["job_id"], "number": "A-007", "device": "kiosk-1",
                           "status": "failed", "detail": "offline: refused"}
    assert d.result(mine, {"job_id": job["job_id"], "status": "printed"}) == {"ok": True, "known": True}
    assert d.pending("kfs", "kiosk-1") == []
    assert d.result(mine, {"job_id": job["job_id"], "status": "printed"}) == {"ok": True, "known": False}

    d.dispatch("kfs", "kiosk-1", TICKET)
    clock.now += JOB_MAX_AGE + 1
    assert d.pending("kfs", "kiosk-1") == [], "a ticket printed half an hour late helps nobody"
    assert sent[-1][1]["status"] == "expired"


def test_issue_time_is_shown_in_the_hall_zone_even_for_utc_input(settings):
    t = ticket_print(settings.halls[0], settings.catalog,
                     {**TICKET, "issued_at": datetime(2026, 6, 1, 21, 30, tzinfo=UTC).isoformat()})
    assert (t.issued_at.day, t.issued_at.hour) == (2, 0), "Cairo summer time: past midnight, the next day"
