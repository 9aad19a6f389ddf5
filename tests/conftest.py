"""Shared fixtures: settings on a temporary SQLite file, a fixed clock, PostgreSQL when present."""
from __future__ import annotations

import os
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 22, 7, 0, tzinfo=UTC)  # 09:00 in Cairo

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path):
    from config import load_settings
    return load_settings(env={}, data_dir=tmp_path, async_mode="threading")


def _worker_database(url: str, worker: str) -> str:
    """The PostgreSQL URL of this xdist worker's own database (made if missing), beside `url`'s.

    Tests reset their database (`reset_postgres`) and count its rows; two workers on one database
    would see each other's. Each worker works in `<database>_<worker>`, and every server and
    helper it starts inherits that URL through the environment.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT",
                           connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as c:
            if c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
                c.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def pytest_configure(config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("HALL_TEST_PG_URL")
    if worker and url and not os.environ.get("HALL_TEST_PG_WORKER"):
        try:
            os.environ["HALL_TEST_PG_URL"] = _worker_database(url, worker)
        except Exception as exc:  # noqa: BLE001 - the PostgreSQL tests fail on their own; the others still run
            print(f"conftest: no database of its own for {worker} ({exc}); PostgreSQL tests use {url}")
        os.environ["HALL_TEST_PG_WORKER"] = worker


def _pg_url() -> str | None:
    url = os.environ.get("HALL_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL (HALL_TEST_PG_URL); see scripts/test.sh")
        pytest.skip("no PostgreSQL: set HALL_TEST_PG_URL (scripts/test.sh does)")
    return url


@pytest.fixture(autouse=True)
def _stop_sms_workers_on_shared_databases(monkeypatch):
    """After each test, the SMS outbox workers its apps started on PostgreSQL stop.

    An app built in this process starts a worker that polls sms_outbox for its halls' rows (the
    default hall has a log gateway) for as long as the process lives. On the PostgreSQL database
    that later tests share, such a worker claimed a later test's rows and "sent" them through its
    own gateway (test_sms_crash lost its messages that way). SQLite databases are the test's own.
    """
    from hall_server import sms
    made: list[weakref.ref] = []
    init = sms.SmsOutbox.__init__

    def tracking_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(weakref.ref(self))

    monkeypatch.setattr(sms.SmsOutbox, "__init__", tracking_init)
    yield
    for ref in made:
        outbox = ref()
        if outbox is not None and outbox.engine.dialect.name != "sqlite":
            outbox.stop(wait=10.0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Each test using it runs on a SQLite file and on the real PostgreSQL server (marked postgres)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hall.db'}"
    url = _pg_url()
    from tests.support import reset_postgres
    reset_postgres(url)
    return url


@pytest.fixture
def make_app(settings, clock):
    """Build a HallApp on a migrated database (SQLite by default) with the fake clock."""
    from dataclasses import replace

    from hall_server.application import HallApp
    from hall_server.migrate import upgrade
    from hall_server.storage import make_engine
    engines = []

    def _make(url: str | None = None, **rule_overrides):
        s = replace(settings, database_url=url or settings.database_url)
        if rule_overrides:
            hall = s.halls[0]
            s = replace(s, halls=(replace(hall, queue=replace(hall.queue, **rule_overrides)),))
        engine = make_engine(s.database_url)
        engines.append(engine)
        upgrade(engine)
        app = HallApp(s, engine, clock=clock)
        app.ensure_halls()
        return app

    yield _make
    for e in engines:
        e.dispose()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser download); one per test module, so pages
    a module leaves open (boards animate) never burn CPU under the next module's load tests."""
    import shutil
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(exe):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/setup.sh installs it")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield CspBypassingBrowser(b)
        b.close()


class CspBypassingBrowser:
    """The browser, with pages opened past their Content-Security-Policy unless a test says otherwise.

    Playwright's wait_for_function evaluates its predicate with eval() inside the page, which the
    pages' `script-src 'self'` refuses (EvalError). The pages themselves under their real policy are
    checked by tests/e2e/test_page_csp.py (bypass_csp=False).
    """

    def __init__(self, browser: Any) -> None:
        self.browser = browser

    def new_context(self, **kwargs: Any) -> Any:
        kwargs.setdefault("bypass_csp", True)
        return self.browser.new_context(**kwargs)

    def new_page(self, **kwargs: Any) -> Any:
        kwargs.setdefault("bypass_csp", True)
        return self.browser.new_page(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.browser, name)


@pytest.fixture
def live_server(tmp_path):
    """A real `hall-server run` (threading mode, SQLite file) with staff clerk1..9, supervisor,
    admin (password tests.support.PASSWORD) and devices kiosk-1, board-1, announcer-1, printer-1."""
    from tests.support import launch
    server = launch(tmp_path / "server")
    yield server
    server.stop()
