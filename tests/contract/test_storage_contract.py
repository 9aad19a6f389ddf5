"""The storage port (hall_server.storage): SQLite and PostgreSQL pass the same checks.

The database is a file on SQLite (WAL, BEGIN IMMEDIATE for writes) or the PostgreSQL server named
by HALL_TEST_PG_URL (skipped without it; CI must set it). Each backend: migrates an empty database
to head, schema equal to the models; write_tx commits on success and keeps nothing on an error;
read_tx never sees uncommitted work; numbers come from one atomic upsert, gapless and never
duplicated under concurrent writers; the unique constraints hold; times come back aware UTC.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError, StatementError

from hall_server.migrate import alembic_config, upgrade
from hall_server.storage import (
    counters,
    halls,
    make_engine,
    metadata,
    read_tx,
    request_files,
    tickets,
    users,
    windows,
    write_tx,
)

CAIRO = ZoneInfo("Africa/Cairo")
NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
DAY = date(2026, 11, 22)


@dataclass
class Db:
    backend: str
    url: str
    engine: Engine

    @property
    def pg(self) -> bool:
        return self.backend == "postgres"


def _pg_url() -> str:
    url = os.environ.get("HALL_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL (HALL_TEST_PG_URL); see scripts/test.sh")
        pytest.skip("no PostgreSQL: set HALL_TEST_PG_URL (scripts/test.sh does)")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty(request, tmp_path) -> Iterator[Db]:
    """An empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hall.db'}"
    else:
        from tests.support import reset_postgres
        url = _pg_url()
        reset_postgres(url)
    engine = make_engine(url)
    try:
        yield Db(request.param, url, engine)
    finally:
        engine.dispose()


@pytest.fixture
def db(empty) -> Db:
    """A database at head with two halls (kfs, mnr), as the server leaves it at start."""
    upgrade(empty.engine)
    with write_tx(empty.engine) as c:
        c.execute(insert(halls), [{"code": "kfs", "seq": 0}, {"code": "mnr", "seq": 0}])
    return empty


def _allocate(c, pg: bool, hall: str, prefix: str, day: date) -> int:
    """The application's number allocation (the upsert under test), in the caller's transaction."""
    from hall_server.application.uow import allocate
    return allocate(c, pg, hall, prefix, day)


def _next_seq(c, hall: str) -> int:
    from hall_server.application.uow import next_seq
    return next_seq(c, hall)


def ticket(n: int, **over) -> dict:
    """A valid tickets row (number A-00n of kfs today, waiting)."""
    row = {"hall": "kfs", "prefix": "A", "day": DAY, "seq": n, "number": f"A-{n:03d}", "service": "building_permit",
           "status": "waiting", "token": f"token-{n:04d}-{over.get('hall', 'kfs')}-{over.get('day', DAY)}",
           "issued_at": NOW, "queued_at": NOW}
    row.update(over)
    return row


def _run_threads(n: int, work) -> list:
    results: list = []
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            results.extend(work(i))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


# ----- migrations ----------------------------------------------------------------------------------
def test_an_empty_database_migrates_to_head_with_the_models_schema(empty):
    upgrade(empty.engine)
    head = ScriptDirectory.from_config(alembic_config(empty.url)).get_current_head()
    with empty.engine.connect() as c:
        assert MigrationContext.configure(c).get_current_revision() == head
        assert compare_metadata(MigrationContext.configure(c), metadata) == [], "migrations == storage.py"
    assert set(metadata.tables) <= set(inspect(empty.engine).get_table_names())


def test_migrating_again_is_a_no_op_that_keeps_the_data(db):
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1)))
    upgrade(db.engine)
    with read_tx(db.engine) as c:
        assert c.execute(select(func.count()).select_from(tickets)).scalar_one() == 1
        assert c.execute(select(func.count()).select_from(halls)).scalar_one() == 2


# ----- transactions --------------------------------------------------------------------------------
def test_write_tx_commits_on_success(db):
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1)))
    with read_tx(db.engine) as c:
        assert c.execute(select(tickets.c.number)).scalars().all() == ["A-001"]


def test_write_tx_keeps_nothing_when_the_block_fails(db):
    with pytest.raises(RuntimeError, match="printer on fire"), write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1)))
        _next_seq(c, "kfs")
        raise RuntimeError("printer on fire")
    with read_tx(db.engine) as c:
        assert c.execute(select(func.count()).select_from(tickets)).scalar_one() == 0
        assert c.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one() == 0


def test_write_tx_keeps_nothing_when_its_commit_fails_and_serves_the_next(db):
    """write_tx is the transaction's own context: a COMMIT that fails (SQLite's deferred foreign key check)
    raises, nothing of it is kept, and the next transaction works."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("a commit-time failure is made here with SQLite's deferred foreign keys")
    with pytest.raises(IntegrityError), write_tx(db.engine) as c:
        c.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        c.execute(insert(tickets).values(**ticket(1)))
        c.execute(insert(tickets).values(**ticket(2, hall="nowhere")))  # checked at COMMIT only
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(3)))
    with read_tx(db.engine) as c:
        assert c.execute(select(tickets.c.number)).scalars().all() == ["A-003"]


def test_read_tx_never_sees_uncommitted_work(db):
    with write_tx(db.engine) as w:
        w.execute(insert(tickets).values(**ticket(1)))
        with read_tx(db.engine) as r:
            assert r.execute(select(func.count()).select_from(tickets)).scalar_one() == 0
    with read_tx(db.engine) as r:
        assert r.execute(select(func.count()).select_from(tickets)).scalar_one() == 1


def test_read_tx_is_one_consistent_view(db):
    """storage.read_tx promises "a consistent view": a commit made meanwhile is not half seen
    (PostgreSQL: REPEATABLE READ; at its default READ COMMITTED this failed)."""
    with read_tx(db.engine) as r:
        before = r.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one()

        def commit_meanwhile() -> None:
            with write_tx(db.engine) as w:
                _next_seq(w, "kfs")

        t = threading.Thread(target=commit_meanwhile)
        t.start()
        t.join(30)
        after = r.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one()
    assert before == after == 0
    with read_tx(db.engine) as r:
        assert r.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one() == 1


def test_the_hall_sequence_is_taken_once_per_writer_under_concurrency(db):
    def work(_: int) -> list[int]:
        out = []
        for _ in range(20):
            with write_tx(db.engine) as c:
                out.append(_next_seq(c, "kfs"))
        return out

    taken = _run_threads(6, work)
    assert sorted(taken) == list(range(1, 121))


# ----- number allocation ---------------------------------------------------------------------------
def test_numbers_start_at_one_per_hall_prefix_and_day(db):
    with write_tx(db.engine) as c:
        got = [_allocate(c, db.pg, "kfs", "A", DAY) for _ in range(3)]
        got += [_allocate(c, db.pg, "kfs", "B", DAY), _allocate(c, db.pg, "mnr", "A", DAY),
                _allocate(c, db.pg, "kfs", "A", DAY + timedelta(days=1))]
    assert got == [1, 2, 3, 1, 1, 1]
    with read_tx(db.engine) as c:
        rows = c.execute(select(counters.c.hall, counters.c.prefix, counters.c.day, counters.c.last)
                         .order_by(counters.c.hall, counters.c.prefix, counters.c.day)).all()
    assert [tuple(r) for r in rows] == [("kfs", "A", DAY, 3), ("kfs", "A", DAY + timedelta(days=1), 1),
                                        ("kfs", "B", DAY, 1), ("mnr", "A", DAY, 1)]


def test_a_rolled_back_allocation_leaves_no_gap(db):
    with write_tx(db.engine) as c:
        assert _allocate(c, db.pg, "kfs", "A", DAY) == 1
    with pytest.raises(RuntimeError), write_tx(db.engine) as c:
        assert _allocate(c, db.pg, "kfs", "A", DAY) == 2
        raise RuntimeError("the issue failed after numbering")
    with write_tx(db.engine) as c:
        assert _allocate(c, db.pg, "kfs", "A", DAY) == 2


def test_concurrent_writers_get_every_number_once(db):
    def work(i: int) -> list[tuple[str, int]]:
        out = []
        for k in range(25):
            prefix = "AB"[(i + k) % 2]
            with write_tx(db.engine) as c:
                out.append((prefix, _allocate(c, db.pg, "kfs", prefix, DAY)))
        return out

    taken = _run_threads(8, work)
    for prefix in "AB":
        numbers = sorted(n for p, n in taken if p == prefix)
        assert numbers == list(range(1, len(numbers) + 1)), f"prefix {prefix}: gapless, no duplicates"
    assert len(taken) == 200


# ----- constraints ---------------------------------------------------------------------------------
def _refused(db: Db, *rows_by_table) -> None:
    """The last insert breaks a constraint: IntegrityError, and the whole transaction is undone."""
    with db.engine.connect() as c:
        before = {t.name: c.execute(select(func.count()).select_from(t)).scalar_one() for t, _ in rows_by_table}
    with pytest.raises(IntegrityError), write_tx(db.engine) as c:
        for table, row in rows_by_table:
            c.execute(insert(table).values(**row))
    with read_tx(db.engine) as c:
        after = {t.name: c.execute(select(func.count()).select_from(t)).scalar_one() for t, _ in rows_by_table}
    assert after == before, "nothing of the failed transaction is kept"


def test_a_ticket_number_exists_once_per_hall_prefix_and_day(db):
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1)))
        c.execute(insert(tickets).values(**ticket(1, hall="mnr")))
        c.execute(insert(tickets).values(**ticket(1, day=DAY + timedelta(days=1))))
    _refused(db, (tickets, ticket(2)), (tickets, ticket(1, token="another-token")))


def test_ticket_tokens_are_unique(db):
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1, token="same-token")))
    _refused(db, (tickets, ticket(2, token="same-token")))


def test_an_idempotency_key_is_unique_per_hall_and_may_be_absent(db):
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1)))  # no key
        c.execute(insert(tickets).values(**ticket(2)))  # no key again: allowed
        c.execute(insert(tickets).values(**ticket(3, idempotency_key="k1")))
        c.execute(insert(tickets).values(**ticket(3, hall="mnr", idempotency_key="k1")))
    _refused(db, (tickets, ticket(4, idempotency_key="k1")))


def test_a_window_holds_at_most_one_active_ticket(db):
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1, status="called", window=1)))
        c.execute(insert(tickets).values(**ticket(2, status="waiting", window=1)))
        c.execute(insert(tickets).values(**ticket(3, status="done", window=1)))
        c.execute(insert(tickets).values(**ticket(4, status="serving", window=2)))
        c.execute(insert(tickets).values(**ticket(1, hall="mnr", status="serving", window=1)))
    _refused(db, (tickets, ticket(5, status="serving", window=1)))
    with write_tx(db.engine) as c:  # the window's ticket is finished: the next may be called
        c.execute(update(tickets).where(tickets.c.number == "A-001", tickets.c.hall == "kfs").values(status="done"))
        c.execute(insert(tickets).values(**ticket(6, status="called", window=1)))


def test_window_numbers_usernames_and_file_numbers_are_unique(db):
    with write_tx(db.engine) as c:
        c.execute(insert(windows).values(hall="kfs", number=1, state="closed", services=["building_permit"],
                                         priority_streak=0))
        c.execute(insert(windows).values(hall="mnr", number=1, state="closed", services=[], priority_streak=0))
        c.execute(insert(users).values(username="amal", password_hash="x", role="clerk", full_name="",
                                       active=True, created_at=NOW))
    _refused(db, (windows, {"hall": "kfs", "number": 1, "state": "open", "services": [], "priority_streak": 0}))
    _refused(db, (users, {"username": "amal", "password_hash": "y", "role": "clerk", "full_name": "",
                          "active": True, "created_at": NOW}))
    file_row = {"hall": "kfs", "year": 2026, "seq": 1, "number": "2026-000001", "service": "building_permit",
                "status": "received", "department": "buildings", "citizen_name": "x", "national_id": "1" * 14,
                "fee": 0.0, "documents": [], "received_at": NOW, "due_date": DAY, "updated_at": NOW}
    _refused(db, (request_files, file_row), (request_files, {**file_row, "number": "2026-000001b"}))


def test_rows_must_belong_to_a_known_hall(db):
    _refused(db, (tickets, ticket(1, hall="nowhere")))


# ----- values --------------------------------------------------------------------------------------
def test_times_go_in_aware_and_come_back_as_the_same_instant_in_utc(db):
    local = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=CAIRO)
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1, issued_at=local, queued_at=local)))
    with read_tx(db.engine) as c:
        got = c.execute(select(tickets.c.issued_at)).scalar_one()
    assert got == local and got.utcoffset() == timedelta(0)
    with pytest.raises(StatementError, match="naive datetime"), write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(2, issued_at=datetime(2026, 11, 22, 9, 0))))


def test_json_columns_keep_arabic_and_order(db):
    services = ["occupancy_licence_issue", "building_permit", "تجربة"]
    with write_tx(db.engine) as c:
        c.execute(insert(windows).values(hall="kfs", number=3, state="closed", services=services, priority_streak=0))
        c.execute(insert(users).values(username="sup", password_hash="x", role="supervisor", full_name="أمل",
                                       windows=None, departments=["buildings"], active=True, created_at=NOW))
    with read_tx(db.engine) as c:
        assert c.execute(select(windows.c.services)).scalar_one() == services
        row = c.execute(select(users.c.windows, users.c.departments, users.c.full_name)).one()
    assert (row.windows, row.departments, row.full_name) == (None, ["buildings"], "أمل")


def test_the_active_states_sql_is_the_domains_and_reads_the_one_active_index(db):
    """uow.active_at reads a window's ticket with storage.ACTIVE_SQL: the same states as the domain,
    and (SQLite) through the partial unique index, whose condition SQLite matches only by its text."""
    import re

    from hall_server.application.uow import _ACTIVE_AT
    from hall_server.domain.tickets import ACTIVE
    from hall_server.storage import ACTIVE_SQL
    assert set(re.findall(r"'([a-z_]+)'", ACTIVE_SQL)) == {s.value for s in ACTIVE}
    with write_tx(db.engine) as c:
        c.execute(insert(tickets).values(**ticket(1, status="called", window=1)))
        c.execute(insert(tickets).values(**ticket(2, status="waiting", window=1)))
        c.execute(insert(tickets).values(**ticket(3, status="serving", window=2)))
        c.execute(insert(tickets).values(**ticket(4, status="done", window=3)))
        held = {w: _ACTIVE_AT.first(c, {"b_hall": "kfs", "b_window": w}) for w in (1, 2, 3, 4)}
    assert [held[w] and held[w].number for w in (1, 2, 3, 4)] == ["A-001", "A-003", None, None]
    if db.engine.dialect.name == "sqlite":  # the SQL and values as Prepared runs them
        params = {"b_hall": "kfs", "b_window": 1}
        with db.engine.connect() as c:
            run = _ACTIVE_AT._plan(c, params)
            plan = " ".join(str(r) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + run.sql,
                                                               run.params(params)).all())
        assert "ix_tickets_one_active_per_window" in plan, plan


# ----- Prepared: the hot paths' statements run on the DBAPI cursor ------------------------------------
_FULL_TICKET_KEYS = ("hall", "prefix", "day", "seq", "number", "service", "priority", "status", "token", "issued_at",
                     "queued_at", "recall_count", "phone", "request_file", "eta_at_issue", "people_ahead_at_issue",
                     "device", "idempotency_key")


def test_a_prepared_statement_writes_and_reads_what_execute_does(db):
    """Same values in (aware datetimes, dates, JSON, NULL) and the same values out, as Connection.execute."""
    from sqlalchemy import bindparam

    from hall_server.storage import Prepared
    local = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=CAIRO)
    values = {**ticket(1, issued_at=local, queued_at=local), "priority": None, "recall_count": 0, "phone": None,
              "request_file": "2026-000001", "eta_at_issue": 90, "people_ahead_at_issue": 2, "device": "kiosk-1",
              "idempotency_key": None}
    ins = Prepared(insert(tickets).returning(*tickets.c), keys=_FULL_TICKET_KEYS)
    by_hall = Prepared(select(tickets).where(tickets.c.hall == bindparam("b_hall")).order_by(tickets.c.id))
    with write_tx(db.engine) as c:
        row = ins.one(c, values)
        c.execute(insert(windows).values(hall="kfs", number=3, state="open", services=["building_permit", "تجربة"],
                                         priority_streak=0))
    with read_tx(db.engine) as c:
        plain = c.execute(select(tickets).order_by(tickets.c.id)).all()
        mine = by_hall.all(c, {"b_hall": "kfs"})
        services = Prepared(select(windows.c.services).where(windows.c.number == bindparam("n"))).scalar(c, {"n": 3})
    assert tuple(row) == tuple(plain[0]) == tuple(mine[0])
    assert row.issued_at == local and row.issued_at.utcoffset() == timedelta(0) and row.day == DAY
    assert (row.priority, row.phone, row.eta_at_issue) == (None, None, 90)
    assert row._mapping == dict(plain[0]._mapping)
    assert services == ["building_permit", "تجربة"]
    with db.engine.connect() as c:  # outside any transaction too
        assert by_hall.all(c, {"b_hall": "mnr"}) == []
    with pytest.raises(AttributeError, match="no column"):
        _ = row.nonexistent


def test_a_prepared_statement_is_part_of_the_transaction_and_fails_as_execute_does(db):
    """Its writes roll back with the block; a constraint is SQLAlchemy's IntegrityError (issuing's Idempotency
    race relies on it), a value the type refuses its StatementError, and nothing of the block is kept."""
    from sqlalchemy import bindparam

    from hall_server.storage import Prepared
    ins = Prepared(insert(tickets).returning(tickets.c.id), keys=tuple(ticket(1)))
    seq = Prepared(update(halls).where(halls.c.code == bindparam("b_hall")).values(seq=halls.c.seq + 1)
                   .returning(halls.c.seq))
    with pytest.raises(RuntimeError), write_tx(db.engine) as c:
        ins.scalar(c, ticket(1))
        assert seq.scalar(c, {"b_hall": "kfs"}) == 1
        raise RuntimeError("the command fails after its writes")
    with write_tx(db.engine) as c:
        assert ins.scalar(c, ticket(1)) >= 1
    with pytest.raises(IntegrityError), write_tx(db.engine) as c:
        assert seq.scalar(c, {"b_hall": "kfs"}) == 1
        ins.scalar(c, ticket(2, token=ticket(1)["token"]))
    with pytest.raises(StatementError, match="naive datetime"), write_tx(db.engine) as c:
        ins.scalar(c, ticket(3, issued_at=datetime(2026, 11, 22, 9, 0)))
    with read_tx(db.engine) as c:
        assert c.execute(select(func.count()).select_from(tickets)).scalar_one() == 1
        assert c.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one() == 0
    done = Prepared(update(tickets).where(tickets.c.status == bindparam("b_status")).values(status="done"))
    with write_tx(db.engine) as c:
        assert done.run(c, {"b_status": "waiting"}) == 1
        assert done.run(c, {"b_status": "waiting"}) == 0


def test_a_statement_prepared_needs_what_it_can_run_without_sqlalchemy(db):
    """An IN list (expanded per execution) is refused when first run, not run wrongly; so are raw tuples of
    columns whose values need converting."""
    from sqlalchemy import bindparam

    from hall_server.storage import Prepared
    expanding = Prepared(select(tickets.c.id).where(tickets.c.status.in_(bindparam("b_states", expanding=True))))
    with read_tx(db.engine) as c, pytest.raises(TypeError, match="not supported"):
        expanding.all(c, {"b_states": ["waiting"]})
    timed = Prepared(select(tickets.c.issued_at))  # a column whose values need converting: no raw tuples
    with read_tx(db.engine) as c, pytest.raises(TypeError, match="needs result processing"):
        timed.tuples(c, {})


def test_serves_open_agrees_with_the_open_windows_the_kiosk_shows(db):
    """Issuing's lookup (`serves_open`, on the services' JSON text) says what `open_windows` (every open
    window's list decoded) says, for every service, over random halls: codes that are prefixes, suffixes or
    LIKE look-alikes of others (an underscore is LIKE's any-one-character) included."""
    import random

    from hall_server.application.views import open_windows, serves_open
    codes = ["permit", "building_permit", "buildingXpermit", "building_permit_renew", "a", "ab", "b_a", "bxa",
             "tree_cutting", "cutting"]
    rnd = random.Random(11)
    for hall_round in range(25):
        with write_tx(db.engine) as c:
            c.execute(windows.delete())
            for n in range(1, rnd.randint(1, 6) + 1):
                c.execute(insert(windows).values(
                    hall=rnd.choice(["kfs", "mnr"]), number=n + 10 * hall_round,
                    state=rnd.choice(["open", "open", "paused", "closed"]),
                    services=rnd.sample(codes, rnd.randint(0, 4)), priority_streak=0))
        with read_tx(db.engine) as c:
            for hall in ("kfs", "mnr"):
                shown = open_windows(c, hall)
                assert {s: serves_open(c, hall, s) for s in codes + ["unknown", "%", "_"]} == {
                    s: bool(shown.get(s)) for s in codes + ["unknown", "%", "_"]}, (hall_round, hall, shown)


def test_people_ahead_counts_what_the_domains_rule_counts_and_a_new_tickets_count_reads_the_index_alone(db):
    """`views.people_ahead` (one SQL count, on every issue and phone refresh) agrees with the domain's rule
    (`estimate.people_ahead`) over random queues: priorities, transfers to a window, other services, equal
    times, for waiting tickets and for a ticket issued now. On SQLite the new ticket's count reads the
    waiting index alone (target_window is in it: migration 0007), so its cost is the index's range only."""
    import random

    from hall_server.application.views import _AHEAD, people_ahead
    from hall_server.domain import estimate, policy
    rnd = random.Random(7)
    now = NOW + timedelta(hours=1)
    for hall_round in range(12):
        with write_tx(db.engine) as c:
            c.execute(tickets.delete())
            for n in range(1, rnd.randint(0, 40) + 1):
                c.execute(insert(tickets).values(**ticket(
                    n, service=rnd.choice(["building_permit", "site_suitability"]),
                    priority=rnd.choice([None, None, None, "elderly"]),
                    target_window=rnd.choice([None, None, None, None, 2]),
                    status=rnd.choice(["waiting", "waiting", "waiting", "called", "done"]),
                    queued_at=NOW + timedelta(seconds=rnd.choice([0, 0, 5, 10, 20, 30])))))
        with read_tx(db.engine) as c:
            rows = c.execute(select(tickets).where(tickets.c.status == "waiting")).all()
            waiting = tuple(policy.Candidate(r.id, r.service, r.queued_at, r.priority, r.target_window) for r in rows)
            snap = estimate.HallSnapshot(at=now, waiting=waiting, windows=(), minutes={}, v1_minutes={},
                                         hall_minutes=5.0)
            for service in ("building_permit", "site_suitability", "unknown"):
                for priority in (None, "elderly"):
                    assert people_ahead(c, "kfs", service, priority, now, None) == \
                        estimate.people_ahead(snap, service, priority), (hall_round, service, priority)
            for t in waiting:
                assert people_ahead(c, "kfs", t.service, t.priority, t.queued_at, t.id) == \
                    estimate.people_ahead(snap, t.service, t.priority, t), (hall_round, t)
    if db.engine.dialect.name == "sqlite":  # the SQL and values as Prepared runs them
        params = {"b_hall": "kfs", "b_service": "building_permit"}
        with db.engine.connect() as c:
            run = _AHEAD[(True, True)]._plan(c, params)
            plan = " ".join(str(r) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + run.sql,
                                                               run.params(params)).all())
        assert "COVERING INDEX ix_tickets_waiting" in plan, plan


def test_a_write_that_cannot_begin_is_the_databases_error_and_a_503(db):
    """BEGIN runs on the driver's connection (storage._sqlite_setup): a database locked past the busy timeout
    still comes back as SQLAlchemy's OperationalError, which the server answers 503 (retry), not 500."""
    if db.pg:
        pytest.skip("SQLite's BEGIN IMMEDIATE")
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy import exc as sa_exc

    from hall_server.storage import db_unavailable
    engine = make_engine(db.url)

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_conn, _record) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    holder = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sa_exc.OperationalError) as caught, write_tx(engine) as c:
            c.execute(update(halls).values(seq=halls.c.seq + 1))
        assert db_unavailable(caught.value), caught.value
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    with write_tx(db.engine) as c:  # and once the lock is gone, writes go on
        c.execute(update(halls).values(seq=halls.c.seq + 1))


def test_kept_connections_serve_one_user_at_a_time_under_threads(db):
    """SQLite keeps connections open between uses (storage._Kept, no lock: list pop and append): with threads
    writing and reading at once, no connection serves two at a time (a shared one would fail: a transaction
    inside a transaction) and every write counts. PostgreSQL takes the pool's path, checked the same way."""
    from sqlalchemy import bindparam

    from hall_server.storage import Prepared, read_one
    bump = Prepared(update(halls).where(halls.c.code == bindparam("b_hall")).values(seq=halls.c.seq + 1)
                    .returning(halls.c.seq))
    seq_of = Prepared(select(halls.c.seq).where(halls.c.code == bindparam("b_hall")))

    engine = make_engine(db.url, keep_connections=True)  # the server's engine (PostgreSQL: the pool as ever)

    def work(i: int) -> list[int]:
        seen = []
        for _ in range(60):
            with write_tx(engine) as c:
                seen.append(bump.scalar(c, {"b_hall": "kfs"}))
            with read_one(engine) as c:
                assert seq_of.scalar(c, {"b_hall": "kfs"}) >= seen[-1]
        return seen

    try:
        seqs = _run_threads(8, work)
    finally:
        engine.dispose()
    assert sorted(seqs) == list(range(1, 8 * 60 + 1))


def _sqlite_only(db) -> None:
    if db.pg:
        pytest.skip("SQLite's kept connections")


def test_a_kept_connection_serves_a_write_after_a_single_read_as_a_write(db):
    """The connection a token lookup used (no BEGIN) is the one the next write takes: it begins IMMEDIATE and
    a failing write keeps nothing (the execution options are set again on every use)."""
    _sqlite_only(db)
    from sqlalchemy import event

    from hall_server.storage import read_one
    sent: list[str] = []
    engine = make_engine(db.url, keep_connections=True)

    @event.listens_for(engine, "connect")
    def _trace(dbapi_conn, _record) -> None:
        dbapi_conn.set_trace_callback(sent.append)
    try:
        with read_one(engine) as c:
            first = c.connection.dbapi_connection
            c.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one()
        sent.clear()
        with pytest.raises(RuntimeError), write_tx(engine) as c:
            assert c.connection.dbapi_connection is first  # the same connection, kept
            c.execute(update(halls).values(seq=halls.c.seq + 1))
            raise RuntimeError("the command fails after its write")
        assert [q for q in sent if q.upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))] == [
            "BEGIN IMMEDIATE", "ROLLBACK"], sent
        with read_one(engine) as c:
            assert c.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one() == 0
    finally:
        engine.dispose()


def test_dispose_closes_the_kept_connections_and_one_in_use_is_not_kept_after(db):
    """engine.dispose() (the server's "the database is gone" path) closes the kept driver connections at once;
    a connection in use meanwhile is closed when given back, never reused."""
    _sqlite_only(db)
    import sqlite3

    from hall_server.storage import read_one
    engine = make_engine(db.url, keep_connections=True)
    with write_tx(engine) as c:
        kept = c.connection.dbapi_connection
    with read_one(engine) as c:
        assert c.connection.dbapi_connection is kept
        in_use = c.connection.dbapi_connection
        engine.dispose()  # the kept list was empty (this one is in use): it is closed when given back
    with pytest.raises(sqlite3.ProgrammingError):
        in_use.execute("SELECT 1")
    with write_tx(engine) as c:
        fresh = c.connection.dbapi_connection
    assert fresh is not in_use
    engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        fresh.execute("SELECT 1")


def test_an_engine_is_freed_with_its_last_reference_and_one_that_keeps_connections_after_dispose(db):
    """A kept connection is checked out of the pool, which holds the engine: an engine that keeps connections
    (the server's) is freed once disposed; any other as soon as nothing refers to it (tools, tests)."""
    _sqlite_only(db)
    import gc
    import weakref

    from hall_server.storage import read_one
    for keep in (False, True):
        engine = make_engine(db.url, keep_connections=keep)
        with write_tx(engine) as c:
            c.execute(update(halls).values(seq=halls.c.seq + 1))
        with read_one(engine) as c:
            c.execute(select(halls.c.seq)).all()
        if keep:
            engine.dispose()
        gone = weakref.ref(engine)
        del engine, c
        gc.collect()
        assert gone() is None, keep


def test_a_prepared_statement_on_a_connection_closed_under_it_is_a_503_not_a_500(db):
    """A driver connection that is gone surfaces as SQLAlchemy's error flagged as a lost connection (the server
    answers 503, retry), as Connection.execute does; values for no bind of the statement are refused."""
    _sqlite_only(db)
    from sqlalchemy import bindparam
    from sqlalchemy import exc as sa_exc

    from hall_server.storage import Prepared, db_unavailable, read_one
    seq_of = Prepared(select(halls.c.seq).where(halls.c.code == bindparam("b_hall")))
    with read_one(db.engine) as c:
        with pytest.raises(sa_exc.StatementError, match="no bind"):
            seq_of.first(c, {"b_hall": "kfs", "b_typo": 1})
        c.connection.dbapi_connection.close()  # behind SQLAlchemy's back
        with pytest.raises(sa_exc.DBAPIError) as caught:
            seq_of.first(c, {"b_hall": "kfs"})
    assert caught.value.connection_invalidated and db_unavailable(caught.value)
    with read_one(db.engine) as c:  # the next use gets a working connection
        assert seq_of.scalar(c, {"b_hall": "kfs"}) == 0
