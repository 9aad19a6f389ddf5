"""Issue #10's lean hot paths, as the database sees them (SQLite's own statement trace, so statements run
through storage.Prepared are counted as well as SQLAlchemy's): an issue is one write transaction and no
read transaction; a call-next is one write transaction; the token lookup is one statement, no transaction."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import event

from hall_server.application import Actor, HallApp
from hall_server.application.auth import Auth
from hall_server.migrate import upgrade
from hall_server.storage import make_engine


@pytest.fixture
def traced(settings, clock, tmp_path):
    """A HallApp on SQLite (live state shared for a minute, as under a rush) whose every statement of this
    thread is recorded."""
    s = replace(settings, database_url=f"sqlite:///{tmp_path / 'hall.db'}")
    engine = make_engine(s.database_url)
    upgrade(engine)
    engine.dispose()
    sent: list[str] = []
    me = threading.get_ident()

    @event.listens_for(engine, "connect")
    def _trace(dbapi_conn, _record) -> None:
        dbapi_conn.set_trace_callback(lambda sql: sent.append(sql) if threading.get_ident() == me else None)

    app = HallApp(s, engine, clock=clock, live_stale_s=60.0)
    app.ensure_halls()
    yield app, sent
    engine.dispose()


def _transactions(sent: list[str]) -> list[str]:
    return [q.split()[0].upper() + (" " + q.split()[1].upper() if q.upper().startswith("BEGIN ") else "")
            for q in sent if q.split()[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK")]


def test_an_issue_is_one_write_transaction_and_no_read_one(traced):
    app, sent = traced
    clerk_id = Auth(app.engine).add_user("clerk1", "password1", "clerk")
    app.set_window_state("kfs", 1, "sign_in", Actor("user", "clerk1", "clerk", user_id=clerk_id))
    app.issue_ticket("kfs", "building_permit")  # the first builds the hall's live state (a read transaction)
    sent.clear()
    ticket, created = app.issue_ticket("kfs", "building_permit")
    assert created and ticket["number"] == "A-002"
    assert _transactions(sent) == ["BEGIN IMMEDIATE", "COMMIT"], sent
    writes = [q for q in sent if q.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert len(writes) == 6, writes  # number, ticket, seq, event, audit entry, audit head


def test_a_call_next_is_one_write_transaction(traced):
    app, sent = traced
    clerk_id = Auth(app.engine).add_user("clerk1", "password1", "clerk")
    clerk = Actor("user", "clerk1", "clerk", user_id=clerk_id)
    app.set_window_state("kfs", 1, "sign_in", clerk)
    for _ in range(3):
        app.issue_ticket("kfs", "building_permit")
    app.call_next("kfs", 1, clerk)
    app.start("kfs", 1, clerk)  # the citizen came
    sent.clear()
    called = app.call_next("kfs", 1, clerk)  # finishes A-001 and calls A-002
    assert called is not None and called["number"] == "A-002"
    assert _transactions(sent) == ["BEGIN IMMEDIATE", "COMMIT"], sent


def test_a_token_lookup_is_one_statement_outside_any_transaction(traced):
    app, sent = traced
    auth = Auth(app.engine)
    token = auth.add_device("kfs", "kiosk-9", "kiosk", by="admin")
    sent.clear()
    actor = auth.resolve(token)
    assert actor is not None and (actor.name, actor.role, actor.hall) == ("kiosk-9", "kiosk", "kfs")
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("SELECT"), sent
    sent.clear()
    assert auth.resolve(token + "x") is None and len(sent) == 1
