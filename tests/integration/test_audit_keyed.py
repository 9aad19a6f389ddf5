"""The keyed audit trail in court: an insider with the database but not the key.

Five attacks, each detected by `audit verify` (in process and through the CLI, exit code 1): edit a
middle row; delete a middle row; cut the end off and move the head back; edit a row and recompute
every later hash and the head with plain SHA-256; delete a whole hall's chain with its head. The
thorough attacker also deletes the ticket and file events that would give the cut away, so only the
heads exported off the database (signed with the key) catch the last two kinds. Then the exports
themselves: signed JSON lines per hall, the governorate server over a loopback listener, the key
settings.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import delete, select, update

from config import ConfigError, load_settings
from hall_server.application import Actor, audit
from hall_server.application.auth import Auth
from hall_server.storage import audit_heads, audit_log, file_events, read_tx, ticket_events, write_tx
from tests.support import ROOT


@pytest.fixture
def hall(make_app, db_url, clock):
    """A hall with history in every kind of write: tickets, window and board changes, a supervisor's
    move, a request file through the back office; logins on the global chain."""
    from hall_server.application.files import FileDesk
    app = make_app(db_url)
    auth = Auth(app.engine, clock=clock)
    clerk = Actor("user", "amal", "clerk", user_id=auth.add_user("amal", "password1", "clerk"))
    sup = Actor("user", "sara", "supervisor", user_id=auth.add_user("sara", "password1", "supervisor"))
    auth.login("amal", "password1")
    kiosk = Actor("device", "kiosk-1", "kiosk")
    app.set_window_state("kfs", 1, "sign_in", clerk)
    for _ in range(4):
        clock.advance(minutes=1)
        app.issue_ticket("kfs", "building_permit", actor=kiosk)
    app.call_next("kfs", 1, clerk)
    app.start("kfs", 1, clerk)
    desk = FileDesk(app)
    f = desk.create("kfs", "building_permit", "منى حسن", "29001011312345", None, [0], clerk, window=1)
    desk.record_documents("kfs", f["number"], [0], clerk)
    desk.get("kfs", f["number"], sup, reveal=True)
    app.complete("kfs", 1, clerk)
    app.set_board_message("kfs", "الخدمة متاحة حتى الثانية", sup)
    app.set_window_services("kfs", 2, ["building_permit", "violation_removal"], sup)
    app.move_waiting("kfs", "A-004", "violation_removal", sup)
    clock.advance(minutes=5)
    app.call_next("kfs", 1, clerk)
    app.no_show("kfs", 1, clerk)
    app.call_next("kfs", 1, clerk)
    app.complete("kfs", 1, clerk)
    return app


def _exporter(app, clock, **kw):
    return audit.HeadExporter(app.engine, app.settings, clock=clock, sleep=lambda _s: None, backoff_s=0, **kw)


def _check(app):
    return audit.check(app.engine, app.core.audit_key, audit.heads_dir(app.settings))


def _cli(app, *args, extra_env=None):
    env = {"HALL_DATABASE_URL": app.settings.database_url, "HALL_DATA_DIR": str(app.settings.data_dir),
           "PATH": "/usr/bin:/bin", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "hall_server", "audit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_write_path_appends_a_keyed_entry(hall):
    entries = list(reversed(audit.search(hall.engine, chain="kfs", limit=5000)))
    actions = [e["action"] for e in entries]
    assert {"window_sign_in", "issued", "called", "serving", "completed", "no_show", "board_message",
            "window_services", "transferred", "file_received", "file_documents",
            "file_viewed_national_id"} <= set(actions)
    moved = [e for e in entries if e["action"] == "transferred"]
    assert moved and moved[0]["actor"] == "user:sara" and moved[0]["ticket"] == "A-004"
    with read_tx(hall.engine) as c:  # one entry per ticket event and per file event, no more, no less
        events = c.execute(select(ticket_events.c.id).where(ticket_events.c.hall == "kfs")).all()
        files = c.execute(select(file_events.c.id).where(file_events.c.hall == "kfs")).all()
        rows = c.execute(select(audit_log).where(audit_log.c.chain == "kfs").order_by(audit_log.c.n)).all()
    devices = [r for r in rows if r.action == "device_created"]  # device tokens of the hall, if any
    assert len(rows) == len(events) + len(files) + len(devices)
    key = hall.core.audit_key
    prev = audit.GENESIS
    for r in rows:  # keyed: HMAC-SHA256 with the key, not a hash anyone can recompute
        body = audit.entry_body("kfs", r.n, r.at, r.actor, r.action, r.ticket, r.file, r.data, prev)
        assert r.hash == key.entry(body) != hashlib.sha256(body).hexdigest()
        prev = r.hash
    report = _check(hall)
    made = [e for e in audit.search(hall.engine, chain="*") if e["action"] == "user_created"]
    assert report.breaks == [] and report.entries["kfs"] == len(rows) and report.entries["*"] == 1 + len(made)


# ----- the five attacks ---------------------------------------------------------------------------------
def _sql(app, *statements):
    with write_tx(app.engine) as c:
        for stmt in statements:
            c.execute(stmt)


def _kfs_rows(c):
    return c.execute(select(audit_log).where(audit_log.c.chain == "kfs").order_by(audit_log.c.n)).all()


def edit_middle_row(app):
    _sql(app, update(audit_log).where(audit_log.c.chain == "kfs", audit_log.c.n == 5).values(actor="user:nobody"))
    return 5, "does not match its keyed hash"


def delete_middle_row(app):
    _sql(app, delete(audit_log).where(audit_log.c.chain == "kfs", audit_log.c.n == 4))
    return 4, "deleted or inserted"


def cut_the_end_and_move_the_head_back(app):
    """The last three entries go, with the ticket events they record; the head points at the new end."""
    with write_tx(app.engine) as c:
        rows = _kfs_rows(c)
        keep, gone = rows[:-3], rows[-3:]
        assert not any(r.action.startswith("file_") for r in gone)
        c.execute(delete(ticket_events).where(ticket_events.c.id.in_([r.data["event"] for r in gone])))
        c.execute(delete(audit_log).where(audit_log.c.id.in_([r.id for r in gone])))
        c.execute(update(audit_heads).where(audit_heads.c.chain == "kfs").values(count=keep[-1].n,
                                                                                  hash=keep[-1].hash))
    return len(rows), "entries at the end were deleted"


def rewrite_with_plain_sha256(app):
    """Edit entry 6 and recompute it and every later hash, and the head, as the old code did (no key)."""
    with write_tx(app.engine) as c:
        rows = _kfs_rows(c)
        prev = rows[4].hash
        for r in rows[5:]:
            actor = "user:nobody" if r.n == 6 else r.actor
            h = hashlib.sha256(audit.entry_body("kfs", r.n, r.at, actor, r.action, r.ticket, r.file, r.data,
                                                prev)).hexdigest()
            c.execute(update(audit_log).where(audit_log.c.id == r.id).values(actor=actor, prev_hash=prev, hash=h))
            prev = h
        c.execute(update(audit_heads).where(audit_heads.c.chain == "kfs").values(hash=prev))
    return 6, "plain SHA-256, not keyed"


def delete_the_whole_chain(app):
    """The hall's chain and head go, and with them every ticket and file event that would miss them."""
    _sql(app, delete(audit_log).where(audit_log.c.chain == "kfs"),
         delete(audit_heads).where(audit_heads.c.chain == "kfs"),
         delete(ticket_events).where(ticket_events.c.hall == "kfs"),
         delete(file_events).where(file_events.c.hall == "kfs"))
    return None, "the whole chain was deleted"


ATTACKS = [edit_middle_row, delete_middle_row, cut_the_end_and_move_the_head_back, rewrite_with_plain_sha256,
           delete_the_whole_chain]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.__name__ for a in ATTACKS])
def test_each_tampering_attack_is_detected(hall, clock, attack):
    assert _exporter(hall, clock).export() is not None  # the daily export happened before the attack
    assert _check(hall).breaks == []
    where, reason = attack(hall)
    report = _check(hall)
    assert report.breaks, f"{attack.__name__} went unnoticed"
    assert {b.chain for b in report.breaks} == {"kfs"}  # the logins' chain is untouched
    assert any(reason in b.reason for b in report.breaks), [str(b) for b in report.breaks]
    if where is not None:
        assert report.breaks[0].n == where
    cli = _cli(hall, "verify")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "BROKEN: chain 'kfs'" in cli.stdout and reason in cli.stdout and "audit trail intact" not in cli.stdout


def test_rewriting_the_chain_and_the_head_is_caught_by_the_exports_too(hall, clock):
    _exporter(hall, clock).export()
    rewrite_with_plain_sha256(hall)
    exported = [b for b in _check(hall).breaks if "exported" in b.reason]
    assert len(exported) == 1 and "the chain was rewritten" in exported[0].reason


def test_without_exports_a_cut_end_shows_only_in_the_event_tables(hall):
    """Before the first export the key cannot tell a cut end; the ticket events still do, unless the
    attacker deletes them too: that is what the daily export is for (and what the note says)."""
    cut_the_end_and_move_the_head_back(hall)
    report = _check(hall)
    assert report.breaks == [] and any("no exported heads" in n for n in report.notes)
    with write_tx(hall.engine) as c:  # a careless attacker leaves the events: caught
        rows = _kfs_rows(c)
        c.execute(delete(audit_log).where(audit_log.c.id == rows[-1].id))
        c.execute(update(audit_heads).where(audit_heads.c.chain == "kfs").values(count=rows[-2].n, hash=rows[-2].hash))
    breaks = _check(hall).breaks
    assert len(breaks) == 1 and "have no audit entry" in breaks[0].reason


# ----- the exports ------------------------------------------------------------------------------------------
def test_export_appends_one_signed_line_per_chain_and_is_due_daily(hall, clock):
    ex = _exporter(hall, clock)
    assert ex.due()
    first = ex.export()
    folder = audit.heads_dir(hall.settings)
    assert sorted(p.name for p in first.files) == ["_global.jsonl", "kfs.jsonl"] and first.posted is None
    assert not ex.due()
    clock.advance(hours=23)
    assert not ex.due()
    clock.advance(hours=1)
    assert ex.due()
    hall.issue_ticket("kfs", "building_permit")
    ex.export()
    lines = [json.loads(x) for x in (folder / "kfs.jsonl").read_text().splitlines()]
    assert [x["count"] for x in lines] == [lines[0]["count"], lines[0]["count"] + 1]
    key = hall.core.audit_key
    for rec in lines:
        assert rec["sig"] == key.sign(rec) and rec["key_id"] == key.id and rec["chain"] == "kfs"
        assert set(rec) == {"v", "chain", "count", "hash", "at", "exported_at", "key_id", "sig"}
    with read_tx(hall.engine) as c:
        head = c.execute(select(audit_heads).where(audit_heads.c.chain == "kfs")).one()
    assert (lines[-1]["count"], lines[-1]["hash"]) == (head.count, head.hash)
    assert lines[-1]["at"] == clock.now.isoformat(timespec="microseconds")  # the last entry's time
    assert _check(hall).exports == {"kfs": 2, "*": 2}


def test_an_edited_or_foreign_export_line_is_reported(hall, clock):
    _exporter(hall, clock).export()
    path = audit.heads_dir(hall.settings) / "kfs.jsonl"
    rec = json.loads(path.read_text())
    rec["count"] += 5  # claims a longer chain: would accuse the hall falsely
    path.write_text(json.dumps(rec) + "\n")
    breaks = _check(hall).breaks
    assert len(breaks) == 1 and "does not match its signature" in breaks[0].reason
    other = audit.AuditKey(b"x" * 40, "test")
    assert any("another key" in b.reason for b in audit.check(hall.engine, other, path.parent).breaks)


class _Governorate:
    """A loopback HTTP listener standing in for the governorate server."""

    def __init__(self, statuses):
        self.statuses, self.bodies, self.headers = list(statuses), [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(json.loads(body))
                outer.headers.append(dict(self.headers))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *_a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/audit/heads"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def governorate():
    servers = []

    def start(*statuses):
        servers.append(_Governorate(statuses))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_heads_are_posted_to_the_governorate_with_retries(hall, clock, governorate):
    gov = governorate(503, 200)  # fails once, then takes them
    settings = replace(hall.settings, governorate_url=gov.url, governorate_token="gov-token")
    result = audit.HeadExporter(hall.engine, settings, clock=clock, sleep=lambda _s: None, backoff_s=0).export()
    assert result.posted is True and len(gov.bodies) == 2
    heads = gov.bodies[-1]["heads"]
    assert {h["chain"] for h in heads} == {"kfs", "*"} and gov.headers[-1]["Authorization"] == "Bearer gov-token"
    assert all(h["sig"] == hall.core.audit_key.sign(h) for h in heads)


def test_undelivered_heads_go_with_the_next_export(hall, clock, governorate):
    gov = governorate(500, 500, 500)  # down for the first export's three attempts
    settings = replace(hall.settings, governorate_url=gov.url)
    ex = audit.HeadExporter(hall.engine, settings, clock=clock, sleep=lambda _s: None, backoff_s=0)
    first = ex.export()
    assert first.posted is False and first.error == "HTTP 500" and first.unsent == 2
    assert len((audit.heads_dir(settings) / "kfs.jsonl").read_text().splitlines()) == 1  # the file has it anyway
    clock.advance(hours=24)
    second = ex.export()
    assert second.posted is True and len(gov.bodies[-1]["heads"]) == 4  # yesterday's and today's
    assert not (audit.heads_dir(settings) / ".unsent.jsonl").exists()


def test_cli_export_then_verify(hall, governorate):
    gov = governorate()
    out = _cli(hall, "export", extra_env={"HALL_GOVERNORATE_URL": gov.url})
    assert out.returncode == 0, out.stderr
    assert "chain 'kfs': head" in out.stdout and f"delivered to {gov.url}" in out.stdout
    assert {h["chain"] for h in gov.bodies[0]["heads"]} == {"kfs", "*"}
    ok = _cli(hall, "verify")
    assert ok.returncode == 0 and "audit trail intact" in ok.stdout
    assert "chain 'kfs':" in ok.stdout and "1 exported heads" in ok.stdout
    down = _cli(hall, "export", extra_env={"HALL_GOVERNORATE_URL": "http://127.0.0.1:9/heads"})
    assert down.returncode == 1 and "NOT delivered" in down.stdout


def test_verify_refuses_to_run_without_the_key(hall, tmp_path):
    out = _cli(hall, "verify", extra_env={"HALL_DATA_DIR": str(tmp_path / "elsewhere")})
    assert out.returncode == 2 and "no audit key" in out.stderr
    assert not (tmp_path / "elsewhere" / "audit.key").exists()  # verify never makes a key


# ----- the key's settings -------------------------------------------------------------------------------------
def test_audit_key_settings(tmp_path):
    key = "k" * 40
    s = load_settings(env={"HALL_AUDIT_KEY": key}, data_dir=tmp_path, async_mode="threading")
    assert audit.load_key(s).secret == key.encode() and key not in repr(s)
    assert not (tmp_path / "audit.key").exists()
    with pytest.raises(ConfigError, match="HALL_AUDIT_KEY: expected a secret of at least 32"):
        load_settings(env={"HALL_AUDIT_KEY": "short"}, data_dir=tmp_path, async_mode="threading")
    f = tmp_path / "hall.key"
    f.write_text("s" * 64)
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="only the server can read"):
        load_settings(env={"HALL_AUDIT_KEY_FILE": str(f)}, data_dir=tmp_path, async_mode="threading")
    f.chmod(0o600)
    s = load_settings(env={"HALL_AUDIT_KEY_FILE": str(f)}, data_dir=tmp_path, async_mode="threading")
    assert audit.load_key(s).secret == b"s" * 64
    with pytest.raises(ConfigError, match="not both"):
        load_settings(env={"HALL_AUDIT_KEY_FILE": str(f), "HALL_AUDIT_KEY": key}, data_dir=tmp_path,
                      async_mode="threading")
    with pytest.raises(ConfigError, match="HALL_AUDIT_KEY_FILE"):
        load_settings(env={"HALL_AUDIT_KEY_FILE": str(tmp_path / "missing")}, data_dir=tmp_path,
                      async_mode="threading")
    with pytest.raises(ConfigError, match="HALL_GOVERNORATE_URL"):
        load_settings(env={"HALL_GOVERNORATE_URL": "ftp://x"}, data_dir=tmp_path, async_mode="threading")
    # none configured: made once in the data dir, mode 0600, and the same key on the next start
    s = load_settings(env={}, data_dir=tmp_path / "d", async_mode="threading")
    with pytest.raises(ConfigError, match="no audit key"):
        audit.load_key(s, create=False)
    made = audit.load_key(s)
    assert (tmp_path / "d" / "audit.key").stat().st_mode & 0o777 == 0o600
    assert audit.load_key(s, create=False) == made and len(made.secret) == 64


def test_an_engine_without_a_core_writes_with_the_process_settings_key(tmp_path, monkeypatch):
    """A bare Auth (a tool, another process's test) on an engine no HallApp was built on: its entries are
    keyed with the key the HALL_* environment names, never unkeyed; no key to be had is an error."""
    from hall_server.migrate import upgrade
    from hall_server.storage import make_engine
    engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        upgrade(engine)
        monkeypatch.setattr(audit, "_PROCESS_KEY", None)
        monkeypatch.setenv("HALL_AUDIT_KEY", "p" * 40)
        with write_tx(engine) as c:
            h = audit.append(c, "*", datetime.now(UTC), "user:x", "login_failed")
        assert audit.key_of(engine).secret == b"p" * 40
        assert audit.verify(engine) == ({"*": 1}, []) and len(h) == 64
        other = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
        monkeypatch.setattr(audit, "_PROCESS_KEY", None)
        monkeypatch.setenv("HALL_AUDIT_KEY", "short")  # a wrong setting: nothing is written
        with pytest.raises(audit.AuditKeyMissing, match="HALL_AUDIT_KEY"), write_tx(other) as c:
            audit.append(c, "*", datetime.now(UTC), "user:x", "login")
        other.dispose()
    finally:
        monkeypatch.setattr(audit, "_PROCESS_KEY", None)
        engine.dispose()


def test_the_server_task_exports_once_per_interval(hall, clock):
    """HeadExporter.run, the server's background task (started by `hall-server run` and the demo)."""
    class Stop(Exception):
        pass

    naps: list[float] = []

    def sleep(seconds):
        naps.append(seconds)
        if len(naps) > 1:  # after the first delay, each check is 12 hours later
            clock.advance(hours=12)
        if len(naps) > 5:
            raise Stop

    with pytest.raises(Stop):
        _exporter(hall, clock).run(sleep, first_delay_s=1, check_every_s=600)
    assert naps == [1, 600, 600, 600, 600, 600]
    lines = (audit.heads_dir(hall.settings) / "kfs.jsonl").read_text().splitlines()
    assert len(lines) == 3  # at once, after 24 hours, after 48
