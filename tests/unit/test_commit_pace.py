"""Where a commit runs under gevent on SQLite (`storage.CommitPace`): inline while the disk syncs fast,
on the thread pool while it is slow, back inline when probes find it fast again."""
from __future__ import annotations

from hall_server.storage import CommitPace


def _run(pace: CommitPace, n: int, seconds: float) -> list[bool]:
    """n commits on a disk that syncs in `seconds`; which of them ran inline."""
    ran = []
    for _ in range(n):
        inline = pace.inline_next()
        ran.append(inline)
        if inline:
            pace.observed(seconds)
    return ran


def test_a_fast_disk_commits_inline_always():
    pace = CommitPace()
    assert all(_run(pace, 500, 0.0004))
    assert not pace.off_loop


def test_a_slow_disk_moves_commits_to_the_thread_pool_with_a_probe_now_and_then():
    pace = CommitPace()
    ran = _run(pace, 5, 0.008)
    assert ran[:2] == [True, True] and pace.off_loop  # 1.6 ms, then 2.9 ms on average: off the loop
    ran = _run(pace, 10 * CommitPace.PROBE_EVERY, 0.008)
    assert sum(ran) == 10  # only the probes ran inline
    assert pace.off_loop


def test_the_disk_getting_fast_again_brings_commits_back_inline_after_a_few_probes():
    pace = CommitPace()
    _run(pace, 5, 0.008)
    assert pace.off_loop
    ran = _run(pace, 30 * CommitPace.PROBE_EVERY, 0.0003)
    assert not pace.off_loop
    back = ran.index(True, len(ran) - ran[::-1].index(False))  # the first inline after the last thread-pool one
    assert all(ran[back:])
    assert sum(not r for r in ran) < 30 * CommitPace.PROBE_EVERY  # it did not wait for the end


def test_a_disk_between_the_two_thresholds_does_not_flap():
    pace = CommitPace()
    _run(pace, 10, 0.0015)  # above "back inline", below "off the loop": stays where it is
    assert not pace.off_loop
    _run(pace, 10, 0.01)
    assert pace.off_loop
    _run(pace, 20 * CommitPace.PROBE_EVERY, 0.0015)
    assert pace.off_loop


def test_the_mode_can_be_forced_either_way():
    always = CommitPace("1")
    assert not any(_run(always, 200, 0.0001)) and always.off_loop
    never = CommitPace("0")
    assert all(_run(never, 200, 0.05)) and not never.off_loop
    assert CommitPace("bogus").mode == "auto"
