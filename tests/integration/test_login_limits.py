"""Logins and tokens under attack: throttling per user and per address with exponential backoff,
unknown users as slow as known ones, hashing in a bounded pool, revocation and idle timeout seen by
every process at once, and the file inquiry's limit keyed by the parsed file number."""
from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from config import ConfigError, load_settings
from hall_server.application.auth import Auth, HashPool, LoginBusy, Unauthorized
from hall_server.application.limits import LOGIN_ADDR, LOGIN_USER, TooManyAttempts, client_address
from hall_server.storage import api_tokens, attempt_limits, make_engine, write_tx
from tests.conftest import FakeClock
from tests.support import PASSWORD

LOGIN = "/api/v1/auth/login"
NID = "29001011312345"


@pytest.fixture
def clock():
    return FakeClock()


def make_client(tmp_path, clock, **settings):
    from hall_server.factory import create_app
    app = create_app(load_settings(env={}, data_dir=tmp_path, async_mode="threading", **settings), clock=clock)
    rt = app.extensions["hall_runtime"]
    for name in ("clerk1", "clerk2", "sup"):
        rt.auth.add_user(name, "password1", "supervisor" if name == "sup" else "clerk")
    c = app.test_client()
    c.rt = rt
    c.kiosk = {"Authorization": "Bearer " + rt.auth.add_device("kfs", "kiosk-1", "kiosk")}
    return c


@pytest.fixture
def client(tmp_path, clock, db_url):
    """A server in process on SQLite and (marked postgres) on PostgreSQL."""
    return make_client(tmp_path, clock, database_url=db_url)


def post_login(client, user, password, addr="10.0.0.7"):
    # the test client comes from 127.0.0.1, like nginx on this machine: it names the address
    return client.post(LOGIN, json={"username": user, "password": password},
                       headers={"X-Forwarded-For": addr})


def refused(r, retry_after=None):
    assert r.status_code == 429, r.get_data(as_text=True)
    assert r.json["error"]["code"] == "too_many_attempts" and r.json["error"]["message"]
    seconds = int(r.headers["Retry-After"])
    if retry_after is not None:
        assert seconds == retry_after
    return seconds


# ----- throttling -------------------------------------------------------------------------------
def test_five_wrong_passwords_lock_the_user_even_for_the_right_one_with_doubling_locks(client, clock):
    for _ in range(5):
        assert post_login(client, "clerk1", "wrong-pass").status_code == 401
    refused(post_login(client, "clerk1", "password1"), 30)  # the right password is not even checked
    refused(post_login(client, "clerk1", "password1", addr="10.9.9.9"), 30)  # from anywhere
    assert post_login(client, "clerk2", "password1").status_code == 200  # only that user
    clock.advance(seconds=15)
    refused(post_login(client, "clerk1", "password1"), 15)
    clock.advance(seconds=16)
    assert post_login(client, "clerk1", "wrong-pass").status_code == 401  # a sixth failure: 60 s
    refused(post_login(client, "clerk1", "password1"), 60)
    clock.advance(seconds=61)
    assert post_login(client, "clerk1", "wrong-pass").status_code == 401  # a seventh: 120 s
    refused(post_login(client, "clerk1", "password1"), 120)
    clock.advance(seconds=121)
    r = post_login(client, "clerk1", "password1")
    assert r.status_code == 200 and r.json["user"]["username"] == "clerk1"
    assert client.rt.auth.limits.state(LOGIN_USER.key("clerk1")) is None  # a success resets the user
    for _ in range(4):  # five free failures again
        assert post_login(client, "clerk1", "wrong-pass").status_code == 401
    assert post_login(client, "clerk1", "password1").status_code == 200


def test_unknown_users_are_locked_the_same_way(client):
    for _ in range(5):
        assert post_login(client, "nobody", "wrong-pass").status_code == 401
    refused(post_login(client, "nobody", "wrong-pass"))
    refused(post_login(client, "NoBody ", "wrong-pass"))  # the same user name, written otherwise


def test_one_address_spraying_many_users_is_locked_but_its_successes_do_not_count(client, clock):
    for _ in range(30):  # a hall behind one address: clerks who type right never lock it
        assert post_login(client, "clerk2", "password1").status_code == 200
    for i in range(20):
        assert post_login(client, f"user{i}", "wrong-pass").status_code == 401
    refused(post_login(client, "clerk1", "password1"), 30)  # any user from that address
    assert post_login(client, "clerk1", "password1", addr="10.0.0.8").status_code == 200
    clock.advance(seconds=31)
    assert post_login(client, "clerk1", "password1").status_code == 200


def test_the_address_is_the_proxys_last_entry_and_only_a_loopback_peer_may_name_it():
    assert client_address("127.0.0.1", "6.6.6.6, 10.0.0.7") == "10.0.0.7"
    assert client_address("::1", "10.0.0.7") == "10.0.0.7"
    assert client_address("192.168.1.20", "10.0.0.7") == "192.168.1.20"  # not our proxy: ignored
    assert client_address("127.0.0.1", "not an address") == "127.0.0.1"
    assert client_address("2001:db8::1:2", None) == client_address("2001:db8::ffff", None) == "2001:db8::/64"
    assert client_address("::ffff:10.0.0.7", None) == "10.0.0.7"
    assert client_address(None, None) == "unknown"


def test_parallel_wrong_attempts_cannot_slip_past_the_limit(make_app, clock, db_url):
    """Attempts are counted before the password is checked: 12 at once, at most 5 are checked."""
    engine = make_app(db_url).engine
    checked: list[int] = []

    class Slow(HashPool):
        def run(self, fn, *args):
            checked.append(1)
            time.sleep(0.2)  # every check in flight at the same time
            return False

    auth = Auth(engine, clock=clock, hasher=Slow())
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def attempt():
        start.wait()
        try:
            auth.login("clerk1", "guess", address="10.0.0.7")
        except TooManyAttempts:
            outcomes.append("429")
        except Unauthorized:
            outcomes.append("401")

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["401"] * 5 + ["429"] * 7 and len(checked) == 5
    failures, locked = auth.limits.state(LOGIN_USER.key("clerk1"))
    assert failures == 5 and locked == clock() + timedelta(seconds=30)
    assert auth.limits.state(LOGIN_ADDR.key("10.0.0.7"))[0] == 5


def test_lockouts_and_logouts_reach_another_process_at_once(live_server):
    """The server locks a user and a second process (here: this test, on the server's database)
    refuses it at once; that process revokes a token or expires it, and the server refuses it on
    its very next request."""
    engine = make_engine(live_server.database_url)
    other = Auth(engine)
    token = live_server.login("clerk1")
    assert live_server.api("GET", "/me", token).status_code == 200
    for _ in range(5):
        r = live_server.api("POST", "/auth/login", json={"username": "clerk2", "password": "wrong-pass"})
        assert r.status_code == 401
    r = live_server.api("POST", "/auth/login", json={"username": "clerk2", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    with pytest.raises(TooManyAttempts) as locked:
        other.login("clerk2", PASSWORD, address="10.0.0.9")
    assert 1 <= locked.value.retry_after <= 30
    other.revoke(token)  # a logout in the other process
    assert live_server.api("GET", "/me", token).status_code == 401
    token = live_server.login("clerk3")
    assert live_server.api("GET", "/me", token).status_code == 200
    with write_tx(engine) as c:  # expired in the database
        c.execute(update(api_tokens).where(api_tokens.c.kind == "staff").values(
            expires_at=api_tokens.c.created_at))
    assert live_server.api("GET", "/me", token).status_code == 401
    assert live_server.api("POST", "/auth/logout", token).status_code == 401
    engine.dispose()


# ----- unknown users and the hashing pool ---------------------------------------------------------
def test_unknown_users_cost_the_same_hashing_as_known_ones(make_app, clock):
    engine = make_app().engine
    hashed: list[str] = []

    class Recording(HashPool):
        def run(self, fn, *args):
            hashed.append(args[0].split("$", 1)[0])
            return super().run(fn, *args)

    auth = Auth(engine, clock=clock, hasher=Recording())
    auth.add_user("amal", "password1", "clerk")
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for i in range(4):
        for kind, user in (("known", "amal"), ("unknown", f"ghost{i}")):
            t0 = time.perf_counter()
            with pytest.raises(Unauthorized):
                auth.login(user, f"wrong-{i}", address=f"10.1.0.{i}")
            times[kind].append(time.perf_counter() - t0)
        with write_tx(engine) as c:  # keep amal below the lock
            c.execute(delete(attempt_limits).where(attempt_limits.c.key.like("login-user:%")))
    assert len(hashed) == 8 and len(set(hashed)) == 1  # one method and cost for both
    known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
    print(f"\nfailed login: known user {known * 1000:.0f} ms, unknown user {unknown * 1000:.0f} ms (median of 4)")
    assert 0.5 < unknown / known < 2.0


def test_the_hashing_pool_is_bounded_and_answers_at_once_when_full():
    pool = HashPool("threading", workers=1, queue=1)
    release = threading.Event()
    results: list[str] = []

    def slow() -> str:
        release.wait(10)
        return "done"

    threads = [threading.Thread(target=lambda: results.append(pool.run(slow))) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while pool.in_use < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    with pytest.raises(LoginBusy):
        pool.run(slow)
    assert time.monotonic() - t0 < 0.1
    release.set()
    for t in threads:
        t.join(10)
    assert results == ["done", "done"] and pool.in_use == 0
    assert pool.run(lambda: "again") == "again"


def test_a_full_pool_answers_503_with_retry_after_and_counts_nothing(client):
    pool = client.rt.auth.hasher
    pool.capacity = 0  # every slot taken
    r = post_login(client, "clerk1", "password1")
    assert r.status_code == 503 and r.json["error"]["code"] == "login_busy" and r.headers["Retry-After"] == "1"
    assert client.rt.auth.limits.state(LOGIN_USER.key("clerk1"))[0] == 0  # the attempt was taken back
    pool.capacity = 9
    assert post_login(client, "clerk1", "password1").status_code == 200


# ----- token lifetime and idle timeout ------------------------------------------------------------
def test_idle_tokens_stop_working_and_used_ones_live_to_their_lifetime(tmp_path, clock):
    client = make_client(tmp_path, clock, token_idle_minutes=30, token_hours=2)
    token = {"Authorization": "Bearer " + post_login(client, "clerk1", "password1").json["token"]}
    kiosk = client.kiosk
    for _ in range(4):  # used every 25 minutes: alive for its whole lifetime
        clock.advance(minutes=25)
        assert client.get("/api/v1/me", headers=token).status_code == 200
    clock.advance(minutes=25)  # 2 h 5 min after login: expired
    assert client.get("/api/v1/me", headers=token).status_code == 401
    token = {"Authorization": "Bearer " + post_login(client, "clerk1", "password1").json["token"]}
    clock.advance(minutes=29)
    assert client.get("/api/v1/me", headers=token).status_code == 200
    clock.advance(minutes=30, seconds=1)  # idle more than 30 minutes
    assert client.get("/api/v1/me", headers=token).status_code == 401
    clock.advance(days=3)
    assert client.get("/api/v1/me", headers=kiosk).status_code == 200  # devices have no idle timeout


def test_a_deactivated_user_loses_their_tokens_at_once(client):
    from hall_server.storage import users
    token = {"Authorization": "Bearer " + post_login(client, "clerk1", "password1").json["token"]}
    assert client.get("/api/v1/me", headers=token).status_code == 200
    with write_tx(client.rt.engine) as c:
        c.execute(update(users).where(users.c.username == "clerk1").values(active=False))
    assert client.get("/api/v1/me", headers=token).status_code == 401


@pytest.mark.parametrize("value,ok", [("0", True), ("5", True), ("1440", True), ("4", False), ("1441", False),
                                      ("-1", False), ("ten", False)])
def test_the_idle_timeout_setting_is_checked(tmp_path, value, ok):
    env = {"HALL_TOKEN_IDLE_MINUTES": value}
    if ok:
        assert load_settings(env=env, data_dir=tmp_path, async_mode="threading").token_idle_minutes == int(value)
        return
    with pytest.raises(ConfigError, match="HALL_TOKEN_IDLE_MINUTES"):
        load_settings(env=env, data_dir=tmp_path, async_mode="threading")


def test_the_idle_timeout_defaults_to_two_hours(tmp_path):
    assert load_settings(env={}, data_dir=tmp_path, async_mode="threading").token_idle_minutes == 120


# ----- the file inquiry ---------------------------------------------------------------------------
def open_file(client) -> str:
    from hall_server.application import Actor
    from hall_server.application.files import FileDesk
    desk = FileDesk(client.rt.hall)
    f = desk.create("kfs", "building_permit", "منى حسن", NID, "01012345678", [0],
                    Actor("user", "sup", "supervisor"))
    return f["number"]  # 2026-000001


def inquire(client, number, last4, addr="10.0.0.7"):
    return client.post("/api/v1/halls/kfs/inquiry", json={"file": number, "last4": last4},
                       headers={"X-Forwarded-For": addr})


def test_every_way_of_writing_a_file_number_counts_against_one_limit(client, clock):
    number = open_file(client)
    assert number == "2026-000001"
    variants = ["2026-1", "2026/1", "2026 - 01", "٢٠٢٦-١", "2026-000001", " 2026/0001 ", "۲۰۲۶-۱",
                "2026-01", "2026/000001", "٢٠٢٦/٠٠١"]
    for i, v in enumerate(variants):  # ten wrong guesses, each written differently, each from elsewhere
        assert inquire(client, v, f"{i:04d}", addr=f"10.0.1.{i}").status_code == 404
    r = inquire(client, "2026-1", "2345", addr="10.0.2.1")  # the right digits, from a fresh address
    refused(r, 3600)
    refused(inquire(client, "٢٠٢٦-١", "2345", addr="10.0.2.2"))
    clock.advance(hours=1, seconds=1)
    assert inquire(client, "2026/1", "2345").status_code == 200
    assert inquire(client, "2026/1", "0000").status_code == 404  # an eleventh failure: locked 2 h
    refused(inquire(client, "2026-1", "2345"), 7200)


def test_one_address_walking_over_files_is_limited(client, clock):
    open_file(client)
    for i in range(50):
        assert inquire(client, f"2026-{100 + i}", "1234").status_code == 404
    refused(inquire(client, "2026-1", "2345"), 900)  # the right answer too, from that address
    assert inquire(client, "2026-1", "2345", addr="10.0.0.8").status_code == 200
    assert inquire(client, "not a number", "1234", addr="10.0.0.9").status_code == 404  # counted per address


def test_right_answers_do_not_use_up_the_limit(client):
    open_file(client)
    for _ in range(30):
        assert inquire(client, "2026-1", "2345").status_code == 200
        assert inquire(client, "2026-1", "5678").status_code == 200  # the mobile's last four
    assert inquire(client, "2026-1", "0000").status_code == 404
