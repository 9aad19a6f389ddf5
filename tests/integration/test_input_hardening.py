"""No input gives a 500: every probe that once did is a 4xx now; a database out of reach is a 503.

Also the headers every response carries (CSP without inline script, nosniff, referrer policy, no
framing) and that CORS is closed: the REST API never answers with Access-Control-Allow-Origin.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from config import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEEP_ARRAY = "[" * 30000 + "]" * 30000          # 60 KB: under the body limit, 30000 levels deep
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000


def make_client(tmp_path, database_url=None):
    from hall_server.factory import create_app
    app = create_app(load_settings(env={}, data_dir=tmp_path, async_mode="threading",
                                   **({"database_url": database_url} if database_url else {})))
    rt = app.extensions["hall_runtime"]
    rt.auth.add_user("clerk1", "password1", "clerk", windows=[1, 2])
    rt.auth.add_user("sup", "password1", "supervisor")
    c = app.test_client()
    c.app_runtime = rt
    c.kiosk = {"Authorization": "Bearer " + rt.auth.add_device("kfs", "kiosk-1", "kiosk")}
    c.board_token = rt.auth.add_device("kfs", "board-1", "board")

    def login(user):
        r = c.post("/api/v1/auth/login", json={"username": user, "password": "password1"})
        assert r.status_code == 200, r.get_data(as_text=True)
        return {"Authorization": "Bearer " + r.json["token"]}
    c.login = login
    return c


@pytest.fixture
def client(tmp_path):
    c = make_client(tmp_path)
    c.clerk, c.sup = c.login("clerk1"), c.login("sup")
    assert c.post("/api/v1/halls/kfs/windows/1/sign-in", headers=c.clerk).status_code == 200
    return c


def err(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:300])
    assert set(r.json) == {"error"} and r.json["error"]["message"], r.json
    if code:
        assert r.json["error"]["code"] == code, r.json


JSON = {"Content-Type": "application/json"}
FILE = {"service": "building_permit", "citizen_name": "Amal Hassan", "national_id": "29001011234567"}

# (name, who, method, url, kwargs, status, code): each once answered 500.
PROBES = [
    ("deeply nested JSON array", "kiosk", "post", "/api/v1/halls/kfs/tickets",
     {"data": DEEP_ARRAY, "headers": JSON}, 400, "invalid_json"),
    ("deeply nested JSON object", None, "post", "/api/v1/auth/login",
     {"data": DEEP_OBJECT, "headers": JSON}, 400, "invalid_json"),
    ("body over 64 KiB", None, "post", "/api/v1/auth/login",
     {"data": '{"username": "' + "x" * 70000 + '"}', "headers": JSON}, 413, None),
    ("lone surrogate in a string", "clerk", "post", "/api/v1/halls/kfs/files",
     {"data": '{"service": "building_permit", "citizen_name": "\\ud800", "national_id": "29001011234567"}',
      "headers": JSON}, 400, "invalid_json"),
    ("NaN in the body", "clerk", "post", "/api/v1/halls/kfs/windows/1/transfer",
     {"data": '{"window": NaN}', "headers": JSON}, 400, "invalid_json"),
    ("window ² in the path", "clerk", "get", "/api/v1/halls/kfs/windows/²", {}, 422, "invalid_window"),
    ("window ² in an action", "clerk", "post", "/api/v1/halls/kfs/windows/²/call-next", {}, 422, "invalid_window"),
    ("window 2**70 in the path", "clerk", "post", f"/api/v1/halls/kfs/windows/{2**70}/sign-in", {},
     422, "invalid_window"),
    ("QR scale=²", None, "get", "/kiosk/qr.png?data=x&scale=²", {}, 400, "invalid_qr_data"),
    ("report from 0001-01-01", "sup", "get", "/api/v1/halls/kfs/reports?from=0001-01-01&to=0001-01-01", {},
     422, "invalid_date"),
    ("report to 9999-12-31", "sup", "get", "/api/v1/halls/kfs/reports?from=9999-12-31&to=9999-12-31", {},
     422, "invalid_date"),
    ("governorate report 0001-01-01", "sup", "get", "/api/v1/reports?from=0001-01-01", {}, 422, "invalid_date"),
    ("governorate report 9999-12-31", "sup", "get", "/api/v1/reports?from=9999-12-31", {}, 422, "invalid_date"),
    ("staffing 0001-01-01", "sup", "get", "/api/v1/halls/kfs/staffing?day=0001-01-01", {}, 422, "invalid_field"),
    ("staffing 9999-12-31", "sup", "get", "/api/v1/halls/kfs/staffing?day=9999-12-31", {}, 422, "invalid_field"),
    ("audit since 0001-01-01", "sup", "get", "/api/v1/halls/kfs/audit?since=0001-01-01", {}, 422, "invalid_field"),
    ("audit until 9999-12-31T23:59", "sup", "get", "/api/v1/halls/kfs/audit?until=9999-12-31T23:59", {},
     422, "invalid_field"),
    ("file opened at window 2**70", "clerk", "post", "/api/v1/halls/kfs/files",
     {"json": {**FILE, "window": 2**70}}, 422, "invalid_field"),
    ("file opened at window 2**40", "clerk", "post", "/api/v1/halls/kfs/files",
     {"json": {**FILE, "window": 2**40}}, 422, "invalid_window"),
    ("transfer to window 2**70", "clerk", "post", "/api/v1/halls/kfs/windows/1/transfer",
     {"json": {"window": 2**70}}, 422, "invalid_field"),
    ("Idempotency-Key é (latin-1)", "kiosk", "post", "/api/v1/halls/kfs/tickets",
     {"json": {"service": "building_permit"}, "headers": {"Idempotency-Key": "é"}}, 400, "invalid_idempotency_key"),
    ("Idempotency-Key ق (UTF-8 bytes)", "kiosk", "post", "/api/v1/halls/kfs/tickets",
     {"json": {"service": "building_permit"}, "headers": {"Idempotency-Key": "ق".encode().decode("latin-1")}},
     400, "invalid_idempotency_key"),
    ("Idempotency-Key with a lone surrogate", "kiosk", "post", "/api/v1/halls/kfs/tickets",
     {"json": {"service": "building_permit"}, "headers": {"Idempotency-Key": "\ud800"}}, 400,
     "invalid_idempotency_key"),
    ("Idempotency-Key with NUL", "kiosk", "post", "/api/v1/halls/kfs/tickets",
     {"json": {"service": "building_permit"}, "headers": {"Idempotency-Key": "a\x00b"}}, 400,
     "invalid_idempotency_key"),
    ("bearer token é", None, "get", "/api/v1/me", {"headers": {"Authorization": "Bearer é"}}, 401, "unauthorized"),
    ("bearer token with a lone surrogate", None, "get", "/api/v1/me",
     {"headers": {"Authorization": "Bearer \ud800"}}, 401, "unauthorized"),
    ("logout with a lone surrogate", None, "post", "/api/v1/auth/logout",
     {"headers": {"Authorization": "Bearer \ud800"}}, 401, "unauthorized"),
    ("superscript phone", "kiosk", "post", "/api/v1/halls/kfs/tickets",
     {"json": {"service": "building_permit", "phone": "¹²³⁴⁵⁶⁷⁸⁹"}}, 422, "invalid_phone"),
    ("Devanagari phone", "kiosk", "post", "/api/v1/halls/kfs/tickets",
     {"json": {"service": "building_permit", "phone": "०१२३४५६७८९"}}, 422, "invalid_phone"),
    ("superscript mobile on a file", "clerk", "post", "/api/v1/halls/kfs/files",
     {"json": {**FILE, "mobile": "⁰¹⁰¹²³⁴⁵⁶⁷⁸"}}, 422, "invalid_mobile"),
    ("NUL in the path", None, "get", "/api/v1/tickets/%00abcdefabcdefabcdef", {}, 400, "bad_request"),
    ("NUL in the query", "sup", "get", "/api/v1/halls/kfs/audit?actor=%00", {}, 400, "bad_request"),
]


@pytest.mark.parametrize("name,who,method,url,kwargs,status,code", PROBES, ids=[p[0] for p in PROBES])
def test_probe_that_once_gave_500_is_a_4xx(client, name, who, method, url, kwargs, status, code):
    headers = {**({"kiosk": client.kiosk, "clerk": client.clerk, "sup": client.sup}.get(who) or {}),
               **kwargs.get("headers", {})}
    r = getattr(client, method)(url, **{**kwargs, "headers": headers})
    if url.startswith("/kiosk/"):  # the kiosk's QR route answers in the API's error shape too
        assert r.status_code == status and r.json["error"]["code"] == code
    else:
        err(r, status, code)
    assert client.get("/api/v1/halls/kfs/queue").json["waiting"] == {}  # nothing was issued by a refused request


@pytest.mark.parametrize("query", ["ticket_seconds=²", "idle_seconds=³", "attract_seconds=¹²", f"idle_seconds={2**70}",
                                   "ticket_seconds=-5", "idle_seconds=%00"])
def test_kiosk_page_ignores_timeouts_that_are_not_numbers(client, query):
    r = client.get(f"/kiosk/kfs?{query}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert 'data-ticket-seconds="25"' in page and 'data-idle-seconds="60"' in page


def test_kiosk_page_timeouts_still_read_ascii_and_eastern_digits(client):
    page = client.get("/kiosk/kfs?ticket_seconds=7&idle_seconds=٩٠").get_data(as_text=True)
    assert 'data-ticket-seconds="7"' in page and 'data-idle-seconds="90"' in page


@pytest.mark.parametrize("windows,status", [("²", 400), ("1,²", 400), (str(2**70), 400), ("١,2", 200)])
def test_board_window_filter(client, windows, status):
    r = client.get(f"/board/kfs?device={client.board_token}&windows={windows}")
    assert r.status_code == status, r.get_data(as_text=True)[:200]


def test_window_numbers_in_eastern_digits_still_work(client):
    assert client.get("/api/v1/halls/kfs/windows/١", headers=client.clerk).json["number"] == 1


def test_eastern_arabic_phone_is_stored_in_ascii(client):
    from hall_server.storage import tickets
    r = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit", "phone": "٠١٠١٢٣٤٥٦٧٨"},
                    headers=client.kiosk)
    assert r.status_code == 201, r.get_data(as_text=True)
    with client.app_runtime.engine.connect() as c:
        assert c.execute(select(tickets.c.phone)).scalars().all() == ["01012345678"]


def test_eastern_arabic_mobile_and_national_id_are_folded(client):
    from hall_server.storage import request_files
    r = client.post("/api/v1/halls/kfs/files", headers=client.clerk, json={
        **FILE, "national_id": "٢٩٠٠١٠١١٢٣٤٥٦٧", "mobile": "٠١٠١٢٣٤٥٦٧٨"})
    assert r.status_code == 201, r.get_data(as_text=True)
    with client.app_runtime.engine.connect() as c:
        assert c.execute(select(request_files.c.mobile)).scalars().all() == ["01012345678"]


def test_dates_at_the_edges_of_the_range_are_accepted(client):
    for q in ("from=2000-01-01&to=2000-01-02", "from=2100-12-30&to=2100-12-31"):
        assert client.get(f"/api/v1/halls/kfs/reports?{q}", headers=client.sup).status_code == 200
    assert client.get("/api/v1/halls/kfs/staffing?day=2100-12-31", headers=client.sup).status_code == 200
    assert client.get("/api/v1/halls/kfs/audit?since=2000-01-01&until=2100-12-31T23:59:59%2B02:00",
                      headers=client.sup).status_code == 200


def test_json_that_is_fine_is_still_read(client):
    r = client.post("/api/v1/halls/kfs/tickets", data='{"service": "building_permit"}'.encode("utf-16"),
                    headers={**client.kiosk, **JSON})
    assert r.status_code == 201, r.get_data(as_text=True)  # UTF-16 JSON is JSON (RFC 4627 detection)
    nested = {"service": "building_permit", "x": [[[[{"a": [1, 2.5, "ﻻ"]}]]]]}  # unknown fields are ignored
    assert client.post("/api/v1/halls/kfs/tickets", json=nested, headers=client.kiosk).status_code == 201


# ----- the database out of reach -----------------------------------------------------------------
def test_database_out_of_reach_is_503_and_a_retried_tap_makes_one_ticket(tmp_path):
    """The kiosk's tap meets a database that is gone: 503 + Retry-After; the retry after recovery issues once."""
    db_dir = tmp_path / "db"
    client = make_client(tmp_path / "data", database_url=f"sqlite:///{db_dir / 'hall.db'}")
    sup = client.login("sup")
    rt = client.app_runtime
    tap = {**client.kiosk, "Idempotency-Key": "tap-7f3c"}
    # window 1 is open, so building permits are issued once the database is back
    assert client.post("/api/v1/halls/kfs/windows/1/sign-in", headers=client.login("clerk1")).status_code == 200
    assert client.get("/api/v1/halls/kfs/queue").status_code == 200

    # "stop" the database: its folder goes away and the pool's open connections are closed, so every
    # new connection fails as a database server that is down would (root ignores chmod 000)
    db_dir.rename(tmp_path / "db-away")
    rt.engine.dispose()
    for method, url, kwargs in (("post", "/api/v1/halls/kfs/tickets", {"json": {"service": "building_permit"},
                                                                        "headers": tap}),
                                ("get", "/api/v1/halls/kfs/stats", {"headers": sup}),
                                ("get", "/api/v1/me", {"headers": {"Authorization": "Bearer not-cached-token"}})):
        r = getattr(client, method)(url, **kwargs)
        err(r, 503, "unavailable")
        assert int(r.headers["Retry-After"]) > 0

    (tmp_path / "db-away").rename(db_dir)  # the database is back
    first = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=tap)
    again = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=tap)
    assert (first.status_code, again.status_code) == (201, 200), first.get_data(as_text=True)
    assert first.json["id"] == again.json["id"]
    assert client.get("/api/v1/halls/kfs/queue").json["waiting"] == {"building_permit": 1}


def test_other_database_errors_stay_what_they_are():
    """Only "cannot reach the database" is a 503: a constraint or a missing table remains a bug (500)."""
    import sqlite3

    from sqlalchemy import exc as sa_exc

    from hall_server.web_guard import db_unavailable
    down = sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file"))
    locked = sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
    missing = sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: tickets"))
    dup = sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    pool = sa_exc.TimeoutError("QueuePool limit of size 20 overflow 20 reached")
    assert [db_unavailable(e) for e in (down, locked, missing, dup, pool, ValueError("x"))] == [
        True, True, False, False, True, False]


def test_postgres_connection_errors_are_unavailable():
    """psycopg's SQLSTATE classes: connection and shutdown are 503, a serialization conflict is not."""
    psycopg = pytest.importorskip("psycopg")
    from sqlalchemy import exc as sa_exc

    from hall_server.web_guard import db_unavailable

    def wrapped(orig):
        return sa_exc.OperationalError("SELECT 1", {}, orig)
    refused = psycopg.OperationalError("connection failed: Connection refused")  # no SQLSTATE: client side
    shutdown = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    too_many = psycopg.errors.TooManyConnections("sorry, too many clients already")
    lock = psycopg.errors.LockNotAvailable("could not obtain lock")
    assert [db_unavailable(wrapped(e)) for e in (refused, shutdown, too_many, lock)] == [True, True, True, False]


# ----- headers and CORS ------------------------------------------------------------------------------
PAGES = ["/", "/kiosk/kfs", "/counter/kfs", "/supervisor/kfs", "/supervisor/kfs/reports", "/backoffice/kfs",
         "/inquiry", "/t/unknown-token-0000000000", "/api/v1/halls/kfs/board", "/api/v1/nothing-here",
         "/static/hall/hall-live.js", "/kiosk/qr.png?data=x"]


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path, headers={"Origin": "https://elsewhere.example"})
    assert r.status_code < 500
    csp = r.headers["Content-Security-Policy"]
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "Access-Control-Allow-Origin" not in r.headers
    r.close()  # a static file is streamed


def test_board_page_has_the_headers(client):
    r = client.get(f"/board/kfs?device={client.board_token}")
    assert r.status_code == 200 and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_the_api_answers_no_cors(client):
    pre = client.open("/api/v1/halls/kfs/tickets", method="OPTIONS", headers={
        "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert "Access-Control-Allow-Origin" not in pre.headers
    r = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"},
                    headers={**client.kiosk, "Origin": "https://elsewhere.example"})
    assert r.status_code == 201 and "Access-Control-Allow-Origin" not in r.headers


def test_socketio_accepts_only_the_public_url(client):
    from hall_server.realtime import socketio
    settings = client.app_runtime.settings
    assert socketio.server.eio.cors_allowed_origins == [settings.public_url]


def test_no_template_has_inline_script_or_event_handlers():
    """What lets script-src 'self' hold: scripts come from files; JSON data blocks are not scripts."""
    templates = [p for d in ("hall_server", "kiosk", "display_board", "counter_client")
                 for p in (ROOT / d).rglob("*.html")]
    assert len(templates) > 5
    for path in templates:
        html = path.read_text("utf-8")
        for tag in re.findall(r"<script\b[^>]*>", html, re.I):
            assert "src=" in tag or 'type="application/json"' in tag, f"{path.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", html, re.I), f"{path.name}: inline event handler"
        assert "javascript:" not in html.lower(), path.name


def test_no_static_script_builds_inline_handlers():
    scripts = [p for d in ("hall_server", "kiosk", "display_board", "counter_client")
               for p in (ROOT / d).rglob("*.js")]
    for path in scripts:
        text = path.read_text("utf-8")
        assert not re.search(r"""["'<][^"'<>]*\son(click|load|error|input|change|submit)\s*=""", text), path.name
        assert "eval(" not in text and "new Function(" not in text, path.name


@pytest.mark.skipif(os.name != "posix", reason="POSIX paths")
def test_cookies_are_secure_behind_https(tmp_path):
    from hall_server.factory import create_app
    app = create_app(load_settings(env={"HALL_PUBLIC_URL": "https://hall.example"}, data_dir=tmp_path,
                                   async_mode="threading"))
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
