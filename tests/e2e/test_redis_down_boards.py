"""Redis down under two server processes, with real boards: every board still shows and speaks every call.

Two gevent processes share a database and a redis-server; a Chromium board is joined to each. Redis is
killed while clerks on both processes keep calling. Each board gets its own process's calls live; a
call of the other process shows up as a gap in `seq`, and the board fetches what it missed
(hall-live.js, GET /halls/<hall>/calls?since_seq) and shows and speaks it. After Redis returns, every
call of the run is on both boards and in both boards' audio logs, each exactly once. Bounded waits
only, no timed assertions.
"""
from __future__ import annotations

import pytest

from tests.board_support import issue, open_board, shot, wait_for
from tests.e2e.test_redis_down import Clerk, RedisServer
from tests.support import LiveServer, launch

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.serial]


def _shown(page) -> list[int]:
    return page.evaluate("window.boardCallLog")


def _spoken(page) -> list[int]:
    return [e["call_id"] for e in page.evaluate("window.boardAudioLog")]


def test_with_redis_down_every_board_still_shows_and_speaks_every_call(browser, tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    env = {"HALL_MESSAGE_QUEUE": redis.url}
    a = launch(tmp_path / "a", async_mode="gevent", env=env)
    b = LiveServer(data_dir=tmp_path / "a", database_url=a.database_url, async_mode="gevent", env=env,
                   devices=a.devices).start()
    try:
        clerks = {"a": Clerk(a, "clerk1", 1), "b": Clerk(b, "clerk2", 2)}
        issue(a, "building_permit", 12)  # served by windows 1 and 2
        pages = {"a": open_board(browser, a, autoplay="1", digits="western"),
                 "b": open_board(browser, b, autoplay="1", digits="western")}

        def all_calls() -> dict[int, str]:
            return {c["call_id"]: c["number"] for c in b.api("GET", "/halls/kfs/calls?since_seq=0").json()["calls"]}

        def everywhere(what: str) -> None:
            made = set(all_calls())
            for name, page in pages.items():
                wait_for(lambda page=page: made <= set(_shown(page)), 60, f"board {name} to show {what}")
                wait_for(lambda page=page: made <= set(_spoken(page)), 90, f"board {name} to speak {what}")

        clerks["a"].call()
        clerks["b"].call()
        everywhere("the calls made with Redis up")

        redis.down("kill")
        for _ in range(3):  # both processes keep calling; their pushes cannot cross
            clerks["a"].call()
            clerks["b"].call()
        clerks["a"].call()  # a last own event on each side brings the gap to light
        clerks["b"].call()
        everywhere("the calls made with Redis down")
        shot(pages["a"], "redis-down-board-a")

        redis.up("kill")
        everywhere("every call, Redis back")
        made = all_calls()
        assert len(made) == 10
        for name, page in pages.items():
            shown, spoken = _shown(page), _spoken(page)
            assert sorted(shown) == sorted(set(shown)) and set(shown) == set(made), name  # each shown once
            assert sorted(spoken) == sorted(set(spoken)) and set(spoken) == set(made), name  # each spoken once
            assert page.errors == [], name
    finally:
        b.stop()
        a.stop()
        redis.kill()
