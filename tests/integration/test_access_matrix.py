"""The access matrix: 8 actors x every REST operation of the OpenAPI document and every socket event.

Each cell's expected answer is written down once, in REST and SOCKET below, by what least privilege
requires (devices act only as themselves, a clerk only on his own window's ticket, staff only in
the halls their account carries, public endpoints open to anyone), not by what the server happens
to do. Every cell is its own test, so a failure names the operation and the actor.

The actors act on real targets of hall kfs: window 1 (its clerk is signed in and holds a called
ticket where the operation needs one), waiting tickets, a request file, a call's WAV, kiosk-1's
print job. Before each cell the operation's scenario puts the hall in the state where an authorized
actor would succeed and builds a valid body, so authorization, not validation, decides the answer.
Rows that no actor of the eight may use are checked once with kfs's own supervisor (`control`), so
their 403s are proven to come from the door and not from a broken state. The table must have a row for
exactly the document's operations (some have extra variant rows), and every /api/v1 route must be in
the document. A cell the server still gets wrong, where the fix belongs to a file being changed
elsewhere, is listed in KNOWN and runs as xfail(strict=True).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from config import load_settings
from tests.print_support import write_hall

ACTORS = ("anonymous", "kiosk", "board", "announcer", "print_agent", "clerk_w1", "clerk_w2", "other_hall_sup")

# Outcome classes: "ok" = any 2xx; otherwise the status code. Columns in ACTORS order:
#   anonymous, kiosk (kiosk-1), board (board-1), announcer (announcer-1), print agent (printer-1, bound to
#   kiosk-1), clerk of window 1, clerk of window 2 (both accounts carry hall kfs and their one window),
#   supervisor of another hall (account carries hall mnr only). Targets are in hall kfs, window 1.
# A row is an operation (method, path) of the document, or an operation with a named variant where one
# operation has more than one door to check (a third element saying what differs).
REST: dict[tuple[str, ...], tuple[str, str, str, str, str, str, str, str]] = {
    #                                                 anon   kiosk  board  annc   print  clerk1 clerk2 othsup
    ("POST", "/auth/login"):                         ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/auth/logout"):                        ("401", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/me"):                                  ("401", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/halls"):                               ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/halls/{hall}/sectors"):                ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/halls/{hall}/services"):               ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/halls/{hall}/tickets"):               ("401", "ok", "403", "403", "403", "ok", "ok", "403"),
    ("GET", "/tickets/{token}"):                     ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/tickets/{token}/cancel"):             ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/halls/{hall}/windows"):                ("401", "403", "403", "403", "403", "ok", "ok", "403"),
    ("GET", "/halls/{hall}/windows/{number}"):       ("401", "403", "403", "403", "403", "ok", "ok", "403"),
    ("POST", "/halls/{hall}/windows/{number}/call-next"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/call"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    # window 1's parked citizen (he went to fetch a paper) called to window 2: held by window 1, not 2's to take
    ("POST", "/halls/{hall}/windows/{number}/call", "window 1's parked ticket, at window 2"):
                                                     ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/recall"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/start"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/complete"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/no-show"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/park"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/transfer"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/transfer", "window 1's called ticket, named at window 2"):
                                                     ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/sign-in"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/sign-out"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/pause"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/resume"): ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/open"): ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("POST", "/halls/{hall}/windows/{number}/close"): ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("PUT", "/halls/{hall}/windows/{number}/services"): ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/board"):                  ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("GET", "/halls/{hall}/calls"):                  ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("PUT", "/halls/{hall}/board/message"):          ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/queue"):                  ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/halls/{hall}/queue/move"):            ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/stats"):                  ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/staffing"):               ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/alerts"):                 ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/reports"):                ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/audit"):                  ("401", "403", "403", "403", "403", "403", "403", "403"),
    # the governorate view: a supervisor sees the halls his account carries, and only those (ONLY_OWN_HALLS)
    ("GET", "/reports"):                             ("401", "403", "403", "403", "403", "403", "403", "ok"),
    # window 1 linked: only the clerk signed in there may open a file on the citizen at window 1
    ("POST", "/halls/{hall}/files"):                 ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("GET", "/halls/{hall}/files"):                  ("401", "403", "403", "403", "403", "ok", "ok", "403"),
    ("GET", "/halls/{hall}/files/{number}"):         ("401", "403", "403", "403", "403", "ok", "ok", "403"),
    # the full national ID: only the clerk serving the file's citizen now
    ("GET", "/halls/{hall}/files/{number}", "?reveal=national_id, window 1's citizen"):
                                                     ("401", "403", "403", "403", "403", "ok", "403", "403"),
    ("POST", "/halls/{hall}/files/{number}/documents"): ("401", "403", "403", "403", "403", "ok", "ok", "403"),
    ("POST", "/halls/{hall}/files/{number}/status"): ("401", "403", "403", "403", "403", "ok", "ok", "403"),
    # clerks never move files between departments (the back office does)
    ("POST", "/halls/{hall}/files/{number}/move"):   ("401", "403", "403", "403", "403", "403", "403", "403"),
    ("GET", "/halls/{hall}/files/{number}/route"):   ("401", "ok", "403", "403", "403", "ok", "ok", "403"),
    ("GET", "/halls/{hall}/departments"):            ("401", "403", "403", "403", "403", "ok", "ok", "403"),
    ("GET", "/halls/{hall}/calls/{call_id}.wav"):    ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
    ("POST", "/halls/{hall}/inquiry"):               ("ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"),
}

# Socket.IO, client -> server: "yes" accepted ({ok: true}), "no" refused. Same columns.
SOCKET: dict[str, tuple[str, str, str, str, str, str, str, str]] = {
    #                                         anon   kiosk  board  annc   print  clerk1 clerk2 othsup
    "join board":                            ("yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes"),
    "join kiosk":                            ("yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes"),
    "join ticket (its token)":               ("yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes"),
    # the counter role gets the hall room (what a board gets), no window's room: any clerk of the hall
    "join counter (window 1)":               ("no", "no", "no", "no", "no", "yes", "yes", "no"),
    "join supervisor":                       ("no", "no", "no", "no", "no", "no", "no", "no"),
    "join announcer":                        ("no", "no", "no", "yes", "no", "no", "no", "no"),
    "join printer (as itself)":              ("no", "yes", "no", "no", "yes", "no", "no", "no"),
    "join printer for kiosk-1":              ("no", "yes", "no", "no", "yes", "no", "no", "no"),
    "join printer for kiosk-2":              ("no", "no", "no", "no", "no", "no", "no", "no"),
    # after the actor's own join (REPORT_JOIN): only a device reports a device's status
    "report_status":                         ("no", "yes", "yes", "yes", "yes", "no", "no", "no"),
    # kiosk-1's queued print job: its own kiosk or the agent bound to it, nobody else
    "print_result (kiosk-1's job)":          ("no", "yes", "no", "no", "yes", "no", "no", "no"),
    "fetch_print_jobs (kiosk-1)":            ("no", "yes", "no", "no", "yes", "no", "no", "no"),
}

# Cells where the server is known to differ and the fix is in a file being edited elsewhere:
# (row, actor) -> reason; each becomes xfail(strict=True), so the fix turns it into a failure to clean up.
KNOWN: dict[tuple[Any, str], str] = {}

# Rows whose 2xx answer must also hold only the caller's halls.
ONLY_OWN_HALLS = {("GET", "/reports")}

HALL = "kfs"
PASSWORD = "password1"
MAIN_SERVICE = {1: "building_permit", 2: "violation_reconciliation"}
NATIONAL_ID = "29001011234567"

SECOND_HALL = """
[hall]
code = "mnr"
name_ar = "المركز التكنولوجي بمنيا القمح"
name_en = "Minya al-Qamh Technology Center"
governorate_ar = "الشرقية"
governorate_en = "Sharqia"
kind = "mini"
timezone = "Africa/Cairo"

[[windows]]
number = 1
services = ["building_permit"]
"""

DEVICES = """
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {mode = "agent"}

[[devices]]
name = "kiosk-2"
kind = "kiosk"
printer = {mode = "agent"}

[[devices]]
name = "printer-1"
kind = "printer"
kiosk = "kiosk-1"
"""

DEVICE_ACTORS = {"kiosk": ("kiosk-1", "kiosk"), "board": ("board-1", "board"),
                 "announcer": ("announcer-1", "announcer"), "print_agent": ("printer-1", "printer")}
STAFF_ACTORS = {"clerk_w1": ("clerk1", "clerk", ["kfs"], [1]), "clerk_w2": ("clerk2", "clerk", ["kfs"], [2]),
                "other_hall_sup": ("supmnr", "supervisor", ["mnr"], None),
                "control": ("supkfs", "supervisor", ["kfs"], None)}


@dataclass
class World:
    """One server with halls kfs and mnr, the actors' tokens, and helpers that set the stage per cell."""

    flask: Any
    client: Any
    rt: Any
    tokens: dict[str, str] = field(default_factory=dict)
    who: dict[str, Any] = field(default_factory=dict)  # actor name -> application Actor (staff)
    print_job: str = ""

    @property
    def app(self) -> Any:
        return self.rt.hall

    def headers(self, actor: str, token: str | None = None) -> dict[str, str]:
        token = token or self.tokens.get(actor)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def login(self, username: str) -> str:
        r = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.get_data(as_text=True)
        return str(r.json["token"])

    def fresh_token(self, actor: str) -> str | None:
        """Another token of the same actor (for logout, which spends it)."""
        if actor in DEVICE_ACTORS:
            name, role = DEVICE_ACTORS[actor]
            return str(self.rt.auth.add_device(HALL, name, role))
        if actor in STAFF_ACTORS:
            return self.login(STAFF_ACTORS[actor][0])
        return None

    # ----- stage setting, through the application layer (fast, and never through the door under test)
    def settle_window(self, n: int = 1, current: str | None = None) -> dict[str, Any] | None:
        """Window n open with its clerk signed in; no ticket, or a fresh one `called` or `serving`."""
        from hall_server.application.common import SYSTEM
        app, clerk = self.app, self.who[f"clerk_w{n}"]
        if app.window_view(HALL, n)["current"] is not None:
            app.complete(HALL, n, SYSTEM)
        view = app.window_view(HALL, n)
        if view["clerk_id"] != clerk.user_id or view["state"] == "closed":
            if view["state"] != "closed":
                app.set_window_state(HALL, n, "close", SYSTEM)
            app.set_window_state(HALL, n, "sign_in", clerk)
        elif view["state"] == "paused":
            app.set_window_state(HALL, n, "resume", clerk)
        if current is None:
            return None
        self.waiting_ticket(MAIN_SERVICE[n])
        ticket = app.call_next(HALL, n, clerk)
        assert ticket is not None
        if current == "serving":
            ticket = app.start(HALL, n, clerk)
        return ticket  # type: ignore[no-any-return]

    def waiting_ticket(self, service: str = "building_permit") -> dict[str, Any]:
        return self.app.issue_ticket(HALL, service)[0]  # type: ignore[no-any-return]

    def new_file(self) -> str:
        from hall_server.application.common import SYSTEM
        f = self.rt.files.create(HALL, "building_permit", "Amal Hassan", NATIONAL_ID, "01012345678", [], SYSTEM)
        return str(f["number"])

    def call_id(self) -> int:
        calls = self.app.board(HALL)["calls"]
        assert calls, "window 1 called a ticket at setup"
        return int(calls[0]["call_id"])


@dataclass(frozen=True)
class Request:
    """What a cell sends: a concrete path under /api/v1, a JSON body (or none) and extra headers."""

    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _win(action: str, current: str | None = None, then: str | None = None,
         body: Callable[[World], Any] | None = None) -> Callable[[World, str], Request]:
    """A window-1 action: the window settled (with a ticket `current`), then `then` done by its clerk."""
    def scenario(w: World, actor: str) -> Request:
        w.settle_window(1, current)
        if then is not None:
            w.app.set_window_state(HALL, 1, then, w.who["clerk_w1"] if then != "close" else _system())
        return Request(f"/halls/{HALL}/windows/1/{action}", body(w) if body else None)
    return scenario


def _system() -> Any:
    from hall_server.application.common import SYSTEM
    return SYSTEM


def _plain(path: str, body: Any = None) -> Callable[[World, str], Request]:
    return lambda w, actor: Request(path, body)


def _call_named(w: World, actor: str) -> Request:
    w.settle_window(1)
    t = w.waiting_ticket()
    return Request(f"/halls/{HALL}/windows/1/call", {"ticket": t["number"], "reason": "the matrix asks"})


def _call_next(w: World, actor: str) -> Request:
    w.settle_window(1)
    w.waiting_ticket()
    return Request(f"/halls/{HALL}/windows/1/call-next")


def _logout(w: World, actor: str) -> Request:
    token = w.fresh_token(actor)
    return Request("/auth/logout", None, {"Authorization": f"Bearer {token}"} if token else {})


def _file_op(suffix: str, body: Any = None) -> Callable[[World, str], Request]:
    def scenario(w: World, actor: str) -> Request:
        return Request(f"/halls/{HALL}/files/{w.new_file()}{suffix}", body)
    return scenario


def _other_department(w: World) -> str:
    mine = w.app.settings.catalog.service("building_permit").sector
    return next(s.code for s in w.app.settings.catalog.sectors if s.code != mine)


def _file_move(w: World, actor: str) -> Request:
    return Request(f"/halls/{HALL}/files/{w.new_file()}/move", {"department": _other_department(w)})


def _file_create(w: World, actor: str) -> Request:
    w.settle_window(1, "called")
    return Request(f"/halls/{HALL}/files", {"service": "building_permit", "citizen_name": "Amal Hassan",
                                            "national_id": NATIONAL_ID, "mobile": "01012345678", "window": 1})


def _inquiry(w: World, actor: str) -> Request:
    return Request(f"/halls/{HALL}/inquiry", {"file": w.new_file(), "last4": NATIONAL_ID[-4:]})


def _ticket(suffix: str) -> Callable[[World, str], Request]:
    return lambda w, actor: Request(f"/tickets/{w.waiting_ticket()['token']}{suffix}")


def _queue_move(w: World, actor: str) -> Request:
    t = w.waiting_ticket()
    return Request(f"/halls/{HALL}/queue/move", {"ticket": t["number"], "service": "demolition_permit"})


def _window_services(w: World, actor: str) -> Request:
    return Request(f"/halls/{HALL}/windows/1/services",
                   {"services": w.app.window_view(HALL, 1)["services"]})


def _call_parked_elsewhere(w: World, actor: str) -> Request:
    w.settle_window(2)
    t = w.settle_window(1, "called")
    assert t is not None
    w.app.park(HALL, 1, w.who["clerk_w1"])
    return Request(f"/halls/{HALL}/windows/2/call", {"ticket": t["number"], "reason": "the matrix asks"})


def _transfer_from_other_window(w: World, actor: str) -> Request:
    w.settle_window(2)
    t = w.settle_window(1, "called")
    assert t is not None
    return Request(f"/halls/{HALL}/windows/2/transfer", {"ticket": t["number"], "service": "demolition_permit"})


def _file_reveal(w: World, actor: str) -> Request:
    w.settle_window(1, "called")
    f = w.rt.files.create(HALL, "building_permit", "Amal Hassan", NATIONAL_ID, None, [], w.who["clerk_w1"], window=1)
    return Request(f"/halls/{HALL}/files/{f['number']}?reveal=national_id")


SCENARIOS: dict[tuple[str, ...], Callable[[World, str], Request]] = {
    ("POST", "/auth/login"): _plain("/auth/login", {"username": "clerk1", "password": PASSWORD}),
    ("POST", "/auth/logout"): _logout,
    ("GET", "/me"): _plain("/me"),
    ("GET", "/halls"): _plain("/halls"),
    ("GET", "/halls/{hall}/sectors"): _plain(f"/halls/{HALL}/sectors"),
    ("GET", "/halls/{hall}/services"): _plain(f"/halls/{HALL}/services"),
    ("POST", "/halls/{hall}/tickets"): _plain(f"/halls/{HALL}/tickets", {"service": "building_permit"}),
    ("GET", "/tickets/{token}"): _ticket(""),
    ("POST", "/tickets/{token}/cancel"): _ticket("/cancel"),
    ("GET", "/halls/{hall}/windows"): _plain(f"/halls/{HALL}/windows"),
    ("GET", "/halls/{hall}/windows/{number}"): _plain(f"/halls/{HALL}/windows/1"),
    ("POST", "/halls/{hall}/windows/{number}/call-next"): _call_next,
    ("POST", "/halls/{hall}/windows/{number}/call"): _call_named,
    ("POST", "/halls/{hall}/windows/{number}/call", "window 1's parked ticket, at window 2"): _call_parked_elsewhere,
    ("POST", "/halls/{hall}/windows/{number}/transfer", "window 1's called ticket, named at window 2"):
        _transfer_from_other_window,
    ("GET", "/halls/{hall}/files/{number}", "?reveal=national_id, window 1's citizen"): _file_reveal,
    ("POST", "/halls/{hall}/windows/{number}/recall"): _win("recall", "called"),
    ("POST", "/halls/{hall}/windows/{number}/start"): _win("start", "called"),
    ("POST", "/halls/{hall}/windows/{number}/complete"): _win("complete", "serving",
                                                              body=lambda w: {"outcome": "served"}),
    ("POST", "/halls/{hall}/windows/{number}/no-show"): _win("no-show", "called"),
    ("POST", "/halls/{hall}/windows/{number}/park"): _win("park", "called"),
    ("POST", "/halls/{hall}/windows/{number}/transfer"): _win("transfer", "called",
                                                              body=lambda w: {"service": "demolition_permit"}),
    ("POST", "/halls/{hall}/windows/{number}/sign-in"): _win("sign-in", then="sign_out"),
    ("POST", "/halls/{hall}/windows/{number}/sign-out"): _win("sign-out"),
    ("POST", "/halls/{hall}/windows/{number}/pause"): _win("pause"),
    ("POST", "/halls/{hall}/windows/{number}/resume"): _win("resume", then="pause"),
    ("POST", "/halls/{hall}/windows/{number}/open"): _win("open", then="close"),
    ("POST", "/halls/{hall}/windows/{number}/close"): _win("close"),
    ("PUT", "/halls/{hall}/windows/{number}/services"): _window_services,
    ("GET", "/halls/{hall}/board"): _plain(f"/halls/{HALL}/board"),
    ("GET", "/halls/{hall}/calls"): _plain(f"/halls/{HALL}/calls?since_seq=0"),
    ("PUT", "/halls/{hall}/board/message"): _plain(f"/halls/{HALL}/board/message", {"message": "window 4 is closed"}),
    ("GET", "/halls/{hall}/queue"): _plain(f"/halls/{HALL}/queue"),
    ("POST", "/halls/{hall}/queue/move"): _queue_move,
    ("GET", "/halls/{hall}/stats"): _plain(f"/halls/{HALL}/stats"),
    ("GET", "/halls/{hall}/staffing"): _plain(f"/halls/{HALL}/staffing"),
    ("GET", "/halls/{hall}/alerts"): _plain(f"/halls/{HALL}/alerts"),
    ("GET", "/halls/{hall}/reports"): _plain(f"/halls/{HALL}/reports"),
    ("GET", "/halls/{hall}/audit"): _plain(f"/halls/{HALL}/audit"),
    ("GET", "/reports"): _plain("/reports"),
    ("POST", "/halls/{hall}/files"): _file_create,
    ("GET", "/halls/{hall}/files"): _plain(f"/halls/{HALL}/files"),
    ("GET", "/halls/{hall}/files/{number}"): _file_op(""),
    ("POST", "/halls/{hall}/files/{number}/documents"): _file_op("/documents", {"received": [0]}),
    ("POST", "/halls/{hall}/files/{number}/status"): _file_op("/status", {"status": "under_review"}),
    ("POST", "/halls/{hall}/files/{number}/move"): _file_move,
    ("GET", "/halls/{hall}/files/{number}/route"): _file_op("/route"),
    ("GET", "/halls/{hall}/departments"): _plain(f"/halls/{HALL}/departments"),
    ("GET", "/halls/{hall}/calls/{call_id}.wav"): lambda w, a: Request(f"/halls/{HALL}/calls/{w.call_id()}.wav"),
    ("POST", "/halls/{hall}/inquiry"): _inquiry,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Halls kfs (windows 1 and 2 open with their clerks, tickets waiting, one called at window 1,
    kiosk-1's print job queued for its agent) and mnr; a token for every actor."""
    from hall_server.factory import create_app
    tmp = tmp_path_factory.mktemp("matrix")
    second = tmp / "mnr.toml"
    second.write_text(SECOND_HALL, encoding="utf-8")
    settings = load_settings(env={"HALL_TTS_ENGINE": "none"}, data_dir=tmp / "data", async_mode="threading",
                             halls=[write_hall(tmp / "cfg", DEVICES), second])
    flask = create_app(settings)
    rt = flask.extensions["hall_runtime"]
    w = World(flask, flask.test_client(), rt)
    for actor, (username, role, halls, windows) in STAFF_ACTORS.items():
        rt.auth.add_user(username, PASSWORD, role, halls=halls, windows=windows)
        w.tokens[actor] = w.login(username)
        w.who[actor] = rt.auth.resolve(w.tokens[actor])
    for actor, (name, role) in DEVICE_ACTORS.items():
        w.tokens[actor] = rt.auth.add_device(HALL, name, role)
    w.settle_window(2)
    for service in ("building_permit", "building_permit", "violation_reconciliation"):
        w.waiting_ticket(service)
    w.settle_window(1, "called")
    issued = w.client.post(f"/api/v1/halls/{HALL}/tickets", json={"service": "building_permit"},
                           headers=w.headers("kiosk"))
    assert issued.status_code == 201 and issued.json["print"]["status"] == "queued", issued.json
    w.print_job = issued.json["print"]["job_id"]
    return w


def _outcome(status: int) -> str:
    return "ok" if 200 <= status < 300 else str(status)


def _cells(table: dict[Any, tuple[str, ...]]) -> list[Any]:
    out = []
    for row, expected in table.items():
        for actor, want in zip(ACTORS, expected, strict=True):
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN[(row, actor)])] if (row, actor) in KNOWN else []
            name = " ".join(row) if isinstance(row, tuple) else row
            out.append(pytest.param(row, actor, want, marks=marks, id=f"{name} | {actor}"))
    return out


def _send(w: World, method: str, req: Request, headers: dict[str, str]) -> Any:
    """The response, read whole and closed (a WAV is a file response)."""
    kwargs: dict[str, Any] = {"headers": {**headers, **req.headers}}
    if req.body is not None:
        kwargs["json"] = req.body
    r = w.client.open(f"/api/v1{req.path}", method=method, **kwargs)
    r.get_data()
    r.close()
    return r


# ----- the document and the table cover the same operations ---------------------------------------
def _document_operations(w: World) -> set[tuple[str, str]]:
    doc = w.client.get("/api/v1/openapi.json").json
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def test_the_table_has_a_row_for_exactly_the_documents_operations(world):
    ops = _document_operations(world)
    rows = {row[:2] for row in REST}
    assert rows == ops, {"no row": sorted(ops - rows), "not in the document": sorted(rows - ops)}
    assert set(SCENARIOS) == set(REST)
    assert len(ops) >= 45


def test_every_api_route_is_in_the_document(world):
    """A route the document lacks would escape the matrix (and the fuzz): none may."""
    documented = [(m, re.sub(r"\{[^}]+\}", "x", p)) for m, p in _document_operations(world)]
    missing = []
    for rule in world.flask.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = rule.rule[len("/api/v1"):]
        rx = re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", re.escape(path)) + "$")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if not any(m == method and rx.match(sample) for m, sample in documented):
                missing.append(f"{method} {path}")
    assert not missing, missing


# ----- REST cells ---------------------------------------------------------------------------------
@pytest.mark.parametrize("row,actor,want", _cells(REST))
def test_rest_cell(world, row, actor, want):
    method = row[0]
    req = SCENARIOS[row](world, actor)
    r = _send(world, method, req, world.headers(actor))
    got = _outcome(r.status_code)
    assert got == want, f"{method} {req.path} as {actor}: {r.status_code} {r.get_data(as_text=True)[:300]}"
    if got != "ok":
        body = r.json
        assert isinstance(body, dict) and set(body) == {"error"} and body["error"].get("code"), body
    elif row in ONLY_OWN_HALLS:
        who = world.who[actor]
        shown = {h["hall"] for h in r.json["halls"]}
        assert shown and all(who.acts_in(h) for h in shown), f"{actor} sees halls {sorted(shown)}"


@pytest.mark.parametrize("row", [row for row, expected in REST.items() if "ok" not in expected],
                         ids=lambda row: " ".join(row))
def test_rest_rows_nobody_here_may_use_work_for_the_halls_supervisor(world, row):
    """The control: kfs's own supervisor succeeds in the same state, so the refusals above are the door's."""
    method = row[0]
    req = SCENARIOS[row](world, "control")
    r = _send(world, method, req, world.headers("control"))
    assert 200 <= r.status_code < 300, f"{method} {req.path}: {r.status_code} {r.get_data(as_text=True)[:300]}"


# ----- socket cells -------------------------------------------------------------------------------
REPORT_JOIN = {"anonymous": {"role": "board"}, "kiosk": {"role": "kiosk"}, "board": {"role": "board"},
               "announcer": {"role": "announcer"}, "print_agent": {"role": "printer", "device": "kiosk-1"},
               "clerk_w1": {"role": "counter", "window": 1}, "clerk_w2": {"role": "counter", "window": 2},
               "other_hall_sup": {"role": "supervisor"}, "control": {"role": "supervisor"}}


def _auth(w: World, actor: str) -> dict[str, str]:
    token = w.tokens.get(actor)
    return {"auth": token} if token else {}


def _socket_attempt(w: World, sio: Any, row: str, actor: str) -> Any:
    """Send the row's event as the actor on a fresh connection; the server's acknowledgement."""
    def join(**data: Any) -> Any:
        return sio.emit("join", {"hall": HALL, **data, **_auth(w, actor)}, callback=True)

    if row == "join board":
        return join(role="board")
    if row == "join kiosk":
        return join(role="kiosk")
    if row == "join ticket (its token)":
        return join(role="ticket", token=w.waiting_ticket()["token"])
    if row == "join counter (window 1)":
        return join(role="counter", window=1)
    if row == "join supervisor":
        return join(role="supervisor")
    if row == "join announcer":
        return join(role="announcer")
    if row == "join printer (as itself)":
        return join(role="printer")
    if row == "join printer for kiosk-1":
        return join(role="printer", device="kiosk-1")
    if row == "join printer for kiosk-2":
        return join(role="printer", device="kiosk-2")
    if row == "report_status":
        join(**REPORT_JOIN[actor])
        return sio.emit("report_status", {"status": "online", "detail": "matrix"}, callback=True)
    if row in ("print_result (kiosk-1's job)", "fetch_print_jobs (kiosk-1)"):
        join(role="printer", device="kiosk-1")  # the best it can do; refused ones stay out of the room
        if row.startswith("print_result"):
            # "failed" keeps the job queued (the agent retries), so every actor meets the same job
            return sio.emit("print_result", {"job_id": w.print_job, "status": "failed", "detail": "matrix"},
                            callback=True)
        return sio.emit("fetch_print_jobs", {"hall": HALL, "device": "kiosk-1"}, callback=True)
    raise AssertionError(f"no scenario for socket row {row!r}")


def _socket_cell(w: World, row: str, actor: str) -> Any:
    from hall_server.realtime import socketio
    sio = socketio.test_client(w.flask, flask_test_client=w.client)
    try:
        assert sio.is_connected()
        return _socket_attempt(w, sio, row, actor)
    finally:
        sio.disconnect()


@pytest.mark.parametrize("row,actor,want", _cells(SOCKET))
def test_socket_cell(world, row, actor, want):
    ack = _socket_cell(world, row, actor)
    got = "yes" if isinstance(ack, dict) and ack.get("ok") is True else "no"
    assert got == want, f"{row} as {actor}: {ack}"
    if row.startswith("print_result") and got == "yes":
        assert ack.get("known") is True, ack  # it acknowledged the real job, not an unknown one


@pytest.mark.parametrize("row", [row for row, expected in SOCKET.items() if "yes" not in expected
                                 and row != "join printer for kiosk-2"])
def test_socket_rows_nobody_here_may_use_work_for_the_halls_supervisor(world, row):
    ack = _socket_cell(world, row, "control")
    assert isinstance(ack, dict) and ack.get("ok") is True, ack
