"""The kiosk meets a server whose database is out of reach (503 + Retry-After) and tries again with the same key."""
from __future__ import annotations

import json
import time

import pytest

from hall_server.application import ticket_rows_for
from hall_server.storage import make_engine
from tests.kiosk_support import LANDSCAPE, Kiosk
from tests.support import launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("kiosk503"))
    assert server.api("POST", "/halls/kfs/windows/1/sign-in", server.login("clerk1")).status_code == 200
    yield server
    server.stop()


def test_a_503_is_retried_after_retry_after_with_the_same_key(browser, hall):
    k = Kiosk(browser, hall, LANDSCAPE).ready()
    p = k.page
    seen: list[tuple[str | None, float]] = []

    def unavailable_once(route):
        seen.append((route.request.headers.get("idempotency-key"), time.monotonic()))
        if len(seen) == 1:  # what the server answers while its database is down
            route.fulfill(status=503, headers={"Retry-After": "2", "Content-Type": "application/json"},
                          body=json.dumps({"error": {"code": "unavailable", "message": "database out of reach"}}))
        else:
            route.continue_()

    p.route("**/api/v1/halls/kfs/tickets", unavailable_once)
    p.tap("[data-sector=buildings]")
    p.tap("[data-service=building_permit]")
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])", timeout=15000)
    assert len(seen) == 2 and seen[0][0] == seen[1][0] and len(seen[0][0] or "") >= 32
    assert seen[1][1] - seen[0][1] >= 1.8, "the kiosk waited for Retry-After"
    engine = make_engine(hall.database_url)
    try:
        assert len([r for r in ticket_rows_for(engine, "kfs") if r.service == "building_permit"]) == 1
    finally:
        engine.dispose()
    k.errors = [e for e in k.errors if "503" not in e]  # the browser logs the refused answer
    k.close()
