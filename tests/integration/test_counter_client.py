"""The Python counter client against a real `hall-server run`: every method, and how it fails."""
from __future__ import annotations

import pytest
import requests

from counter_client.client import CounterClient, CounterError
from tests.support import PASSWORD, free_port

# each test starts its own `hall-server run`: seconds apiece, so not in the fast tier
pytestmark = pytest.mark.slow

# Window 3 serves the occupancy sector (prefix B), window 4 housing (prefix H): config/halls/kafr_saqr.toml.
W3_SERVICE, W3_OTHER, W4_SERVICE = "occupancy_licence_issue", "occupancy_licence_renew", "housing_unit_ownership"


def issue(server, service: str, priority: str | None = None) -> dict:
    """A ticket from the kiosk, as a citizen would take it."""
    body = {"service": service}
    if priority:
        body["priority"] = priority
    r = server.api("POST", "/halls/kfs/tickets", token=server.devices["kiosk-1"], json=body)
    assert r.status_code == 201, r.text
    return r.json()


def clerk(server, window: int, user: str, sign_in: bool = True) -> CounterClient:
    c = CounterClient(server.url, "kfs", window)
    c.login(user, PASSWORD)
    if sign_in:
        c.sign_in()
    return c


def refused(call, status: int, code: str) -> CounterError:
    with pytest.raises(CounterError) as info:
        call()
    assert (info.value.status, info.value.code) == (status, code), info.value
    assert info.value.message
    return info.value


def test_halls_expose_the_recall_limit(live_server):
    halls = live_server.api("GET", "/halls").json()
    assert halls[0]["code"] == "kfs" and halls[0]["recall_limit"] == 2


def test_login_sign_in_pause_resume_sign_out(live_server):
    c = CounterClient(live_server.url, "kfs", 3)
    refused(lambda: c.login("clerk3", "wrong-password"), 401, "bad_credentials")
    refused(c.sign_in, 401, "unauthorized")  # no token yet
    user = c.login("clerk3", PASSWORD)
    assert user["username"] == "clerk3" and c.token
    refused(c.call_next, 403, "not_signed_in")
    view = c.sign_in()
    assert view["number"] == 3 and view["state"] == "open" and view["clerk_id"] == user["id"]
    assert c.call_next() is None  # nothing waiting: 204
    issue(live_server, W3_SERVICE)  # issued while window 3 is open (a paused window's service is closed)
    assert c.pause()["state"] == "paused"
    refused(c.call_next, 409, "window_not_open")  # on a break the window takes no calls
    assert c.resume()["state"] == "open"
    assert c.window()["waiting_total"] == 1
    assert c.sign_out()["state"] == "closed"
    refused(c.pause, 403, "not_signed_in")
    c.logout()
    assert c.token is None
    refused(c.window, 401, "unauthorized")


def test_logout_revokes_the_token(live_server):
    c = clerk(live_server, 3, "clerk3", sign_in=False)
    token = c.token
    c.logout()
    stale = CounterClient(live_server.url, "kfs", 3, token=token)
    refused(stale.window, 401, "unauthorized")


def test_one_clerk_one_window(live_server):
    c3 = clerk(live_server, 3, "clerk3")
    other = clerk(live_server, 3, "clerk4", sign_in=False)
    refused(other.sign_in, 409, "window_taken")
    elsewhere = CounterClient(live_server.url, "kfs", 4, token=c3.token)
    refused(elsewhere.sign_in, 409, "already_signed_in")
    refused(CounterClient(live_server.url, "kfs", 42, token=c3.token).window, 404, "not_found")
    refused(CounterClient(live_server.url, "nohall", 3, token=c3.token).window, 404, "not_found")


def test_call_start_complete_with_outcomes(live_server):
    c = clerk(live_server, 3, "clerk3")
    t1, t2 = issue(live_server, W3_SERVICE), issue(live_server, W3_SERVICE)
    refused(c.start, 409, "no_current_ticket")
    called = c.call_next()
    assert called["number"] == t1["number"] == "B-001" and called["status"] == "called"
    assert called["window"] == 3 and called["wait_seconds"] >= 0
    refused(c.call_next, 409, "window_busy")  # still called: start, recall or no-show first
    refused(lambda: c.complete("lost"), 422, "invalid_outcome")
    serving = c.start()
    assert serving["status"] == "serving" and serving["started_at"]
    refused(c.start, 409, "invalid_state")
    done = c.complete("incomplete_documents")
    assert done["status"] == "done"
    assert c.window()["current"] is None
    # next while serving completes the current ticket as served, then calls the next one
    c.call_next()
    c.start()
    issue(live_server, W3_SERVICE)
    nxt = c.call_next()
    assert nxt["number"] == "B-003"
    assert live_server.api("GET", f"/tickets/{t2['token']}").json()["status"] == "done"


def test_recall_counts_up_to_the_limit_then_no_show(live_server):
    c = clerk(live_server, 3, "clerk3")
    t = issue(live_server, W3_SERVICE)
    c.call_next()
    assert c.recall()["recall_count"] == 1
    assert c.recall()["recall_count"] == 2
    last = c.recall()  # the hall allows 2 recalls: the third marks a no-show
    assert last["status"] == "no_show"
    assert c.window()["current"] is None
    assert live_server.api("GET", f"/tickets/{t['token']}").json()["status"] == "no_show"
    refused(c.recall, 409, "no_current_ticket")


def test_no_show(live_server):
    c = clerk(live_server, 3, "clerk3")
    issue(live_server, W3_SERVICE)
    c.call_next()
    assert c.no_show()["status"] == "no_show"
    refused(c.no_show, 409, "no_current_ticket")
    issue(live_server, W3_SERVICE)
    c.call_next()
    c.start()
    refused(c.no_show, 409, "invalid_state")  # a citizen being served has come


def test_transfer_to_a_service_and_to_a_window(live_server):
    c3, c4 = clerk(live_server, 3, "clerk3"), clerk(live_server, 4, "clerk4")
    issue(live_server, W3_SERVICE)
    c3.call_next()
    refused(lambda: c3.transfer(), 422, "invalid_transfer")
    refused(lambda: c3.transfer(service=W4_SERVICE, window=4), 422, "invalid_transfer")
    refused(lambda: c3.transfer(service="no_such_service"), 404, "unknown_service")
    refused(lambda: c3.transfer(window=3), 422, "invalid_transfer")
    moved = c3.transfer(service=W4_SERVICE)
    assert moved["status"] == "waiting" and moved["service"] == W4_SERVICE
    assert c3.window()["current"] is None
    assert c4.call_next()["number"] == moved["number"]  # it is window 4's work now, same number
    c4.start()
    back = c4.transfer(window=3)
    assert back["target_window"] == 3
    assert [t["number"] for t in c3.window()["waiting"]] == [moved["number"]]
    assert c3.call_next()["number"] == moved["number"]
    # a waiting ticket can be moved by number without calling it
    waiting = issue(live_server, W3_OTHER)
    assert c4.transfer(service=W4_SERVICE, ticket=waiting["number"])["service"] == W4_SERVICE
    refused(lambda: c4.transfer(window=3, ticket="Z-999"), 404, "not_found")
    refused(lambda: c4.transfer(window=3, ticket="not a number"), 422, "invalid_ticket_number")


def test_park_and_call_specific(live_server):
    c = clerk(live_server, 3, "clerk3")
    first, second, third = (issue(live_server, W3_SERVICE) for _ in range(3))
    c.call_next()
    parked = c.park()
    assert parked["status"] == "parked"
    assert [t["number"] for t in c.window()["parked"]] == [first["number"]]
    # out of order needs a reason; a ticket parked here does not
    refused(lambda: c.call(third["number"]), 422, "reason_required")
    refused(lambda: c.call(third["number"], "   "), 422, "reason_required")
    out_of_order = c.call(third["number"], "elderly citizen")
    assert out_of_order["number"] == third["number"] and out_of_order["status"] == "called"
    refused(lambda: c.call(second["number"], "busy window"), 409, "window_busy")
    c.complete()
    resumed = c.call(first["number"])
    assert resumed["status"] == "called" and resumed["number"] == first["number"]
    c.complete("info_only")
    refused(lambda: c.call(first["number"], "again"), 409, "invalid_state")  # done is done
    refused(lambda: c.call("B-777", "no such"), 404, "not_found")
    assert c.call_next()["number"] == second["number"]


def test_supervisor_may_act_without_signing_in(live_server):
    sup = CounterClient(live_server.url, "kfs", 5)
    sup.login("supervisor", PASSWORD)
    assert sup.window()["state"] == "closed"
    refused(sup.call_next, 409, "window_not_open")


def test_shared_session_and_network_errors(live_server):
    session = requests.Session()
    a = CounterClient(live_server.url + "/", "kfs", 3, session=session)
    b = CounterClient(live_server.url, "kfs", 4, session=session)
    a.login("clerk3", PASSWORD)
    b.login("clerk4", PASSWORD)
    assert a.sign_in()["clerk_id"] != b.sign_in()["clerk_id"]  # tokens stay per client
    dead = CounterClient(f"http://127.0.0.1:{free_port()}", "kfs", 3, timeout=2)
    err = refused(lambda: dead.login("clerk3", PASSWORD), 0, "network_error")
    assert isinstance(err.__cause__, requests.RequestException)
    for bad in (0, 1000, "3", True):
        with pytest.raises(ValueError):
            CounterClient(live_server.url, "kfs", bad)
