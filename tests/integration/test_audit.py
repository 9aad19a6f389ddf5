"""The audit trail: every action appended and chained with the audit key; direct SQL tampering is detected.

The five attacks of an insider with the database but not the key, and the exported heads, are in
test_audit_keyed.py."""
from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from hall_server.application import Actor, audit
from hall_server.application.auth import Auth, Unauthorized
from hall_server.storage import for_writes
from tests.support import ROOT


@pytest.fixture
def busy_app(make_app, db_url, clock):
    """A hall with a little history: logins, tickets, calls, an out-of-order call, a transfer, a file."""
    from hall_server.application.files import FileDesk
    app = make_app(db_url)
    auth = Auth(app.engine, clock=clock)
    uid = auth.add_user("amal", "password1", "clerk")
    auth.login("amal", "password1")
    with pytest.raises(Unauthorized):
        auth.login("amal", "wrong-password")
    clerk = Actor("user", "amal", "clerk", user_id=uid)
    app.set_window_state("kfs", 1, "sign_in", clerk)
    for _ in range(4):
        app.issue_ticket("kfs", "building_permit", actor=Actor("device", "kiosk-1", "kiosk"))
    app.call_next("kfs", 1, clerk)
    app.start("kfs", 1, clerk)
    FileDesk(app).create("kfs", "building_permit", "منى حسن", "29001011312345", None, [0], clerk, window=1)
    app.transfer("kfs", 1, clerk, service="violation_removal")
    app.call_specific("kfs", 1, "A-004", "رافق مسنًا", clerk)
    app.no_show("kfs", 1, clerk)
    return app


def test_every_action_is_in_the_chain_and_it_verifies(busy_app):
    checked, breaks = audit.verify(busy_app.engine)
    assert breaks == []
    key = busy_app.core.audit_key  # the data dir's audit.key: no key was configured
    assert key.source == str(busy_app.settings.data_dir / "audit.key")
    assert oct((busy_app.settings.data_dir / "audit.key").stat().st_mode & 0o777) == "0o600"
    assert checked["*"] == 3  # the account's creation, a login and a failed login
    made = [e for e in audit.search(busy_app.engine, chain="*") if e["action"] == "user_created"]
    assert [(e["actor"], e["data"]["username"], e["data"]["role"]) for e in made] == [("cli", "amal", "clerk")]
    entries = audit.search(busy_app.engine, chain="kfs")
    actions = [e["action"] for e in reversed(entries)]
    assert actions[:1] == ["window_sign_in"] and actions.count("issued") == 4
    assert {"called", "serving", "file_received", "transferred", "no_show"} <= set(actions)
    out_of_order = [e for e in entries if e["action"] == "called" and e["data"].get("out_of_order")]
    assert out_of_order[0]["data"]["reason"] == "رافق مسنًا" and out_of_order[0]["ticket"] == "A-004"
    assert [e["ticket"] for e in audit.search(busy_app.engine, ticket="A-001")][-1] == "A-001"
    assert all(e["actor"] == "user:amal" for e in audit.search(busy_app.engine, actor="amal"))


def _tamper(app, sql: str) -> None:
    with app.engine.connect() as c:
        c = for_writes(c)
        with c.begin():
            c.execute(text(sql))


@pytest.mark.parametrize("sql,where", [
    ("UPDATE audit_log SET actor = 'user:nobody' WHERE chain = 'kfs' AND n = 5", 5),
    ("UPDATE audit_log SET data = '{\"reason\": \"x\"}' WHERE chain = 'kfs' AND n = 3", 3),
    ("DELETE FROM audit_log WHERE chain = 'kfs' AND n = 4", 4),
    ("DELETE FROM audit_log WHERE chain = 'kfs' AND n = (SELECT max(n) FROM audit_log WHERE chain = 'kfs')", None),
    ("UPDATE audit_log SET n = n + 1000 WHERE chain = 'kfs' AND n >= 6", 6),
])
def test_direct_sql_tampering_is_detected(busy_app, sql, where):
    _tamper(busy_app, sql)
    _, breaks = audit.verify(busy_app.engine)
    # the first break of the chain; the ticket event whose entry is gone or edited is reported too
    assert breaks and {b.chain for b in breaks} == {"kfs"}
    if where is not None:
        assert breaks[0].n == where


def test_an_inserted_row_is_detected(busy_app):
    # shift the tail to make room, then insert a forged entry with a plausible hash
    _tamper(busy_app, "UPDATE audit_log SET n = n + 10000 WHERE chain = 'kfs' AND n >= 3")
    _tamper(busy_app, "UPDATE audit_log SET n = n - 9999 WHERE chain = 'kfs' AND n >= 10000")
    _tamper(busy_app, "INSERT INTO audit_log (chain, n, at, actor, action, prev_hash, hash) VALUES "
                      "('kfs', 3, '2026-11-22 07:00:00', 'user:ghost', 'called', "
                      f"'{'a' * 64}', '{'b' * 64}')")
    _, breaks = audit.verify(busy_app.engine)
    assert breaks and breaks[0].n == 3


def test_cli_audit_verify_reports_the_first_broken_link(tmp_path, busy_app):
    env = {"HALL_DATABASE_URL": busy_app.settings.database_url, "HALL_DATA_DIR": str(busy_app.settings.data_dir),
           "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "hall_server", "audit", "verify"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "audit trail intact" in ok.stdout
    _tamper(busy_app, "UPDATE audit_log SET action = 'completed' WHERE chain = 'kfs' AND n = 7")
    bad = subprocess.run([sys.executable, "-m", "hall_server", "audit", "verify"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "BROKEN: chain 'kfs': entry 7" in bad.stdout and "edited" in bad.stdout


def test_accounts_devices_and_logouts_are_audited(make_app, db_url, clock):
    app = make_app(db_url)
    auth = Auth(app.engine, clock=clock)
    auth.add_user("sara", "password1", "supervisor", halls=["kfs"], by="cli:root")
    token = auth.add_device("kfs", "kiosk-9", "kiosk", by="cli:root")
    staff, _ = auth.login("sara", "password1")
    auth.revoke(staff, auth.resolve(staff))
    auth.revoke(staff, None)  # already revoked: nothing happened, nothing recorded
    auth.revoke(token, auth.resolve(token))
    assert auth.resolve(staff) is None and auth.resolve(token) is None
    glob = [(e["actor"], e["action"]) for e in reversed(audit.search(app.engine, chain="*"))]
    assert glob == [("cli:root", "user_created"), ("user:sara", "login"), ("user:sara", "logout")]
    hall = [(e["actor"], e["action"], e["data"]) for e in reversed(audit.search(app.engine, chain="kfs"))]
    assert hall[0][:2] == ("cli:root", "device_created")
    assert hall[0][2]["device"] == "kiosk-9" and hall[0][2]["role"] == "kiosk"
    assert token not in str(hall[0][2])  # a fingerprint, never the token
    assert hall[1][:2] == ("device:kiosk-9", "logout")
    assert audit.verify(app.engine)[1] == []


def test_the_cli_records_its_operator(tmp_path):
    import os
    env = {**os.environ, "HALL_DATA_DIR": str(tmp_path), "HALL_DATABASE_URL": f"sqlite:///{tmp_path}/h.db",
           "SUDO_USER": "mona"}
    run = [sys.executable, "-m", "hall_server"]
    subprocess.run([*run, "user", "add", "hany", "--role", "clerk", "--password", "password1", "--halls", "kfs"],
                   check=True, env=env, cwd=ROOT, capture_output=True)
    subprocess.run([*run, "device", "add", "board-7", "--hall", "kfs", "--role", "board"],
                   check=True, env=env, cwd=ROOT, capture_output=True)
    from hall_server.storage import make_engine
    engine = make_engine(env["HALL_DATABASE_URL"])
    made = {(e["chain"], e["actor"], e["action"]) for e in audit.search(engine, actor="cli:mona")}
    engine.dispose()
    assert made == {("*", "cli:mona", "user_created"), ("kfs", "cli:mona", "device_created")}
