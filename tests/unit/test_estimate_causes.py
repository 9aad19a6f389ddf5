"""The causes of the estimates found too long near the front (issue 11), each on a snapshot.

Ground truth is the call policy run forward on the same snapshot (`simulate_calls`), as in
test_estimate_scenarios.py; each test builds the state that produced a violation in
bench/bench_estimates.py --violations and checks the estimate against what the policy does.
"""
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hall_server.domain import estimate
from hall_server.domain.estimate import BreakPattern, HallSnapshot, LiveWaits, WindowNow, simulate_calls
from hall_server.domain.policy import STRICT_ORDER, Candidate

T0 = datetime(2026, 3, 2, 9, 56, tzinfo=UTC)
H = 3600.0


def snap(windows, waiting=(), minutes=None, **kw):
    minutes = minutes or {"a": 4.0, "b": 6.0, "c": 10.0}
    return HallSnapshot(at=T0, windows=tuple(windows), waiting=tuple(waiting), minutes=minutes,
                        v1_minutes=minutes, hall_minutes=6.0, **kw)


def cand(i, service, minutes_ago, priority=None):
    return Candidate(i, service, T0 - timedelta(minutes=minutes_ago), priority)


def test_breaks_due_after_the_call_do_not_lengthen_the_wait():
    # strict_order 2026-03-02 D-047: next at its window, 3.3 min foreseen, told 20.4 min. One past day
    # of history: 3 of the 4 windows without a break yet took it within 10 minutes of this time.
    breaks = BreakPattern(starts_s=(11.23 * H, 11.38 * H, 11.41 * H, 11.42 * H, 11.85 * H, 11.99 * H,
                                    12.01 * H, 12.06 * H, 12.57 * H), window_days=9, mean_s=1350.0)
    s = snap([WindowNow(5, "open", ("a",), busy_s=126.0, busy_service="a")], [cand(1, "a", 1)],
             breaks=breaks, day_s=11.94 * H)
    truth = simulate_calls(s)[1]
    est = LiveWaits(s).ticket(s.waiting[0])
    # only a break starting before the call (within the foreseen ~2 min) can delay it
    p = breaks.p_start(11.94 * H, 11.94 * H + truth)
    assert est <= truth + p * 1350.0 + 1
    assert est <= 3 * max(truth, 60)  # the first version: 20 minutes, 6x


def test_next_at_a_busy_window_is_told_at_most_3x_a_low_quantile_of_what_the_citizen_there_has_left():
    # a 10-minute ticket 108 s in: on average 7 minutes to go, but a few in 10,000 finish within seconds
    w = WindowNow(3, "open", ("a", "b"), busy_s=108.0, busy_service="c")
    s = snap([w], [cand(1, "b", 2)], p_noshow=0.0)  # everyone comes: the lognormal alone (no-shows below)
    mean_left = estimate.remaining_s(600.0, 108.0, estimate.SERVICE_CV)
    low = estimate.remaining_s(600.0, 108.0, estimate.SERVICE_CV, estimate.NEAR_QUANTILE)
    assert simulate_calls(s)[1] == pytest.approx(mean_left)  # the plan runs on means
    assert LiveWaits(s).ticket(s.waiting[0]) == round(min(mean_left, 3 * max(low, 60.0)))
    assert LiveWaits(s).ticket(s.waiting[0]) < mean_left  # the cap binds here
    assert LiveWaits(s, near_quantile=None).ticket(s.waiting[0]) == round(mean_left)  # the rule off: the plan


def test_far_from_the_front_the_figure_is_the_plan():
    w = WindowNow(3, "open", ("a", "b"), busy_s=108.0, busy_service="c")
    s = snap([w], [cand(i, "b", 20 - i) for i in range(1, 8)])
    live, plain = LiveWaits(s), LiveWaits(s, near_quantile=None)
    for t in s.waiting[estimate.NEAR_AHEAD + 1:]:
        assert live.ticket(t) == plain.ticket(t)
    # near the front the figure never exceeds the plan's and grows with the place
    figures = [live.ticket(t) for t in s.waiting]
    assert figures == sorted(figures)
    assert all(live.ticket(t) <= plain.ticket(t) for t in s.waiting)


@pytest.mark.parametrize("elapsed", [0.0, 30.0, 120.0, 300.0, 600.0, 1200.0])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_near_the_front_the_model_gives_at_most_about_near_quantile_told_3x_their_wait(elapsed, k):
    # Draw the wait from the model itself (the current citizen's lognormal time conditioned on
    # `elapsed`, then k lognormal tickets): the figure shown may exceed 3x the real wait (floored at
    # a minute, as the bench judges) for about NEAR_QUANTILE of the draws, not more.
    import math
    import random

    rng = random.Random(k * 1000 + int(elapsed))
    cv = estimate.SERVICE_CV
    sigma = math.sqrt(math.log1p(cv * cv))
    w = WindowNow(3, "open", ("a",), busy_s=elapsed or None, busy_service="a" if elapsed else None)
    s = snap([w], [cand(i, "a", 10 - i) for i in range(1, k + 2)], minutes={"a": 10.0})
    shown = LiveWaits(s).ticket(s.waiting[k])
    mu = math.log(600.0) - sigma * sigma / 2
    bad = 0
    n = 20_000  # about 4 expected at 1 in 5,000: enough to see a cap at the 1% level (200)
    for _ in range(n):
        left = 0.0
        if elapsed:
            while (x := rng.lognormvariate(mu, sigma)) <= elapsed:
                pass
            left = x - elapsed
        wait = left + sum(rng.lognormvariate(mu, sigma) for _ in range(k))
        bad += shown > 3 * max(wait, 60.0)
    assert bad <= 2 * estimate.NEAR_QUANTILE * n + 4, (shown, bad)


def test_a_ticket_long_past_its_typical_time_still_has_some_left():
    # the first versions said typical - elapsed (at least 30%): a 10-minute service at 25 minutes
    # has most likely a good while to go, and at 9 minutes more than one
    assert estimate.remaining_s(600.0, 25 * 60.0, 0.5) > 0.3 * 600
    assert estimate.remaining_s(600.0, 9 * 60.0, 0.5) > 60.0
    assert estimate.remaining_s(600.0, 0.0, 0.5) == pytest.approx(600.0)
    # conditional quantiles grow with the quantile
    qs = [estimate.remaining_s(600.0, 200.0, 0.5, q) for q in (0.1, 0.5, 0.9)]
    assert qs == sorted(qs) and qs[0] >= 0


def test_strict_order_overtakers_stretch_by_those_likely_to_come():
    # strict_order 2026-03-03 B-022: next at window 3 (its last service), 108 s into a 12-minute ticket;
    # earlier-listed services arrive at 3 an hour x 4 minutes. The first version stretched the rest
    # of the current ticket by 1 / (1 - rho) whatever its length.
    w = WindowNow(3, "open", ("a", "b"), busy_s=108.0, busy_service="c")
    arrivals = {("a", False): 3.0}
    s = snap([w], [cand(1, "b", 1)], strategy=STRICT_ORDER, arrivals=arrivals,
             minutes={"a": 4.0, "b": 6.0, "c": 12.0})
    truth = simulate_calls(s)[1]  # nobody new: the rest of the current ticket
    est = LiveWaits(s).ticket(s.waiting[0])
    rho = 3.0 * 4.0 / 60.0
    assert est < truth / (1 - rho)  # not the mean stretch of a single uncertain wait...
    assert est <= 3 * truth
    # ...but a long wait still gets about the mean stretch
    long = snap([w], [cand(i, "b", 30 - i) for i in range(1, 11)], strategy=STRICT_ORDER, arrivals=arrivals,
                minutes={"a": 4.0, "b": 6.0, "c": 12.0})
    last = long.waiting[-1]
    truth_last = simulate_calls(long)[last.id]
    est_last = LiveWaits(long).ticket(last)
    assert truth_last < est_last <= truth_last / (1 - rho) + 1


def test_poisson_median():
    assert estimate.poisson_median(0.5) == 0
    assert estimate.poisson_median(0.7) == 1
    assert estimate.poisson_median(3.0) == 3
    assert estimate.poisson_median(10.2) == 10


def test_turnaround_is_learned_and_shrunk_toward_history():
    assert estimate.turnaround_seconds([], 0.0, 0) == 0.0  # nothing known: nothing assumed
    assert estimate.turnaround_seconds([], 14.0, 200) == 14.0
    assert estimate.turnaround_seconds([20.0] * 5, 10.0, 200) == pytest.approx(15.0)
    assert estimate.turnaround_seconds([20.0] * 5, 0.0, 0) == pytest.approx(10.0)


def test_scenarios_near_the_front_with_busy_windows_stay_within_3x():
    # several windows each busy at a different point of its ticket, a few tickets each
    wins = [WindowNow(1, "open", ("a",), busy_s=30.0, busy_service="a"),
            WindowNow(2, "open", ("b",), busy_s=400.0, busy_service="b"),
            WindowNow(3, "open", ("c",), busy_s=900.0, busy_service="c"),
            WindowNow(4, "open", ("a", "b", "c"), busy_s=5.0, busy_service="c")]
    waiting = [cand(i, "abc"[i % 3], 10 - i) for i in range(9)]
    s = snap(wins, waiting)
    truth, live = simulate_calls(s), LiveWaits(s)
    for t in s.waiting:
        est, real = live.ticket(t), truth[t.id]
        assert est <= 3 * max(real, 60), (t, est, real)
        if live.plan.slot[t.id][1] <= estimate.NEAR_AHEAD:  # cautious on purpose, within the same upper bound
            assert real / 4 - 1 <= est <= real + max(5 * 60, 0.35 * real), (t, est, real)
        else:
            assert abs(est - real) <= max(5 * 60, 0.35 * real), (t, est, real)


# ----- no-shows: the citizen ahead may never come (a mixture, not the lognormal's thin lower tail) -----
def _draw_left(rng, mean, cv, elapsed):
    """A lognormal time of this mean and spread, conditioned on having lasted `elapsed`: what is left."""
    import math

    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    while (x := rng.lognormvariate(mu, sigma)) <= elapsed:
        pass
    return x - elapsed


def _draw_wait(rng, s, w, k, typical_s):
    """One wait drawn from the mixture itself: the citizen at the window, then k tickets, each maybe a no-show."""
    p, ns = s.p_noshow, s.noshow_s
    served = estimate.served_mean(typical_s, p, ns)
    cv = s.spread
    left = 0.0
    if w.busy_s is not None:
        s_ln = (1 - p) * estimate._survival(served, cv, w.busy_s)
        s_ns = p * estimate._survival(ns, estimate.NOSHOW_CV, w.busy_s)
        if rng.random() < s_ns / (s_ln + s_ns):
            left = _draw_left(rng, ns, estimate.NOSHOW_CV, w.busy_s)
        else:
            left = _draw_left(rng, served, cv, w.busy_s)
    for _ in range(k):
        left += _draw_left(rng, ns, estimate.NOSHOW_CV, 0.0) if rng.random() < p else \
            _draw_left(rng, served, cv, 0.0)
    return left


@pytest.mark.parametrize("p", [0.05, 0.2])
@pytest.mark.parametrize("elapsed", [0.0, 30.0, 120.0, 300.0])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_with_no_shows_near_the_front_at_most_about_near_quantile_are_told_3x_their_wait(p, elapsed, k):
    # Draw the wait from the mixture (a called citizen never comes with the hall's share, the window
    # is free at the no-show mark): the figure may exceed 3x the wait (floored at a minute) for about
    # NEAR_QUANTILE of the draws. The lognormal alone (p_noshow=0, at 1%) gave up to 1 in 9 here.
    import random

    rng = random.Random(k * 1000 + int(elapsed) + int(p * 100))
    w = WindowNow(3, "open", ("a",), busy_s=elapsed or None, busy_service="a" if elapsed else None)
    s = snap([w], [cand(i, "a", 10 - i) for i in range(1, k + 2)], minutes={"a": 10.0}, p_noshow=p)
    shown = LiveWaits(s).ticket(s.waiting[k])
    n = 20_000  # about 4 expected at 1 in 5,000: enough to see a cap at the 1% level (200)
    bad = sum(shown > 3 * max(_draw_wait(rng, s, w, k, 600.0), 60.0) for _ in range(n))
    assert bad <= 2 * estimate.NEAR_QUANTILE * n + 4, (shown, bad)


def test_the_lognormal_alone_is_too_sure_when_citizens_may_not_come():
    # what the near-the-front rule said before no-shows were a mode of their own (at its 1% level of
    # then): in a hall where 1 in 5 called citizens never comes, next after a citizen called 2 minutes
    # ago, 9% were told over 3x
    import random

    rng = random.Random(7)
    w = WindowNow(3, "open", ("a",), busy_s=120.0, busy_service="a")
    s = snap([w], [cand(1, "a", 5)], minutes={"a": 10.0}, p_noshow=0.2)
    old = LiveWaits(replace(s, p_noshow=0.0), near_quantile=0.01).ticket(s.waiting[0])
    new = LiveWaits(s).ticket(s.waiting[0])
    n = 4000
    waits = [_draw_wait(rng, s, w, 0, 600.0) for _ in range(n)]
    assert sum(old > 3 * max(x, 60.0) for x in waits) / n > 0.05
    assert sum(new > 3 * max(x, 60.0) for x in waits) <= 2 * estimate.NEAR_QUANTILE * n + 4


def test_next_after_a_citizen_who_is_likely_a_no_show_is_told_at_most_3x_what_his_mark_leaves():
    # A 10-minute ticket called 2 minutes ago at the window; the hall's history: 1 in 5 called never
    # comes, marked 3 minutes after the call. If he does not come, the window calls the next one a
    # minute from now: the policy run forward (`simulate_calls`) on the hall with that window free,
    # plus the minute the mark leaves. The figure respects that; the plan (he comes) is the mean.
    w = WindowNow(3, "open", ("a", "b"), busy_s=120.0, busy_service="c")
    s = snap([w], [cand(1, "b", 2), cand(2, "b", 1)], p_noshow=0.2, noshow_s=180.0)
    live = LiveWaits(s)
    shown = live.ticket(s.waiting[0])
    if_no_show = (180.0 - 120.0) + simulate_calls(replace(s, windows=(replace(w, busy_s=None, busy_service=None),),
                                                          _memo={}))[1]
    assert shown <= 3 * max(if_no_show, 60.0)
    assert shown <= simulate_calls(s)[1]  # never above the plan
    # the figure is the cap: NEAR_RATIO x the mixture's NEAR_QUANTILE quantile (here under a minute: the floor)
    assert shown == round(estimate.NEAR_RATIO * max(live._near_quantile(3, 0, 0.0, estimate.NEAR_QUANTILE),
                                                    estimate.NEAR_FLOOR_S))
    # the lognormal alone (at the 1% level it had) told him more than 3x what a no-show leaves him
    alone = LiveWaits(replace(s, p_noshow=0.0, _memo={}), near_quantile=0.01)
    assert alone.ticket(s.waiting[0]) > 3 * max(if_no_show, 60.0)
    # the one behind: one call before him, the citizen at the window or the one ahead may not come
    second = live.ticket(s.waiting[1])
    assert second <= alone.ticket(s.waiting[1])


@pytest.mark.parametrize("quantile, rel", [(0.01, 0.1), (estimate.NEAR_QUANTILE, 0.2)])
@pytest.mark.parametrize("busy_s, k", [(120.0, 0), (300.0, 1), (30.0, 2), (None, 1)])
def test_the_cap_is_the_mixtures_quantile(busy_s, k, quantile, rel):
    # the quantile found by bisection on the mixture's CDF against 100,000 draws of the mixture
    # (Fenton-Wilkinson sums: within 10% at 1%; within 20% this deep in the tail, where the sum's
    # approximation and the 20 draws below the quantile are both rougher)
    import random

    rng = random.Random(11)
    w = WindowNow(3, "open", ("a",), busy_s=busy_s, busy_service="a" if busy_s else None)
    s = snap([w], [cand(i, "a", 10 - i) for i in range(1, k + 2)], minutes={"a": 10.0}, p_noshow=0.2)
    live = LiveWaits(s)
    at = live.plan.calls[s.waiting[k].id]
    q = live._near_quantile(3, k, at, quantile)
    draws = sorted(_draw_wait(rng, s, w, k, 600.0) for _ in range(100_000))
    truth = draws[int(quantile * len(draws))]
    assert q == pytest.approx(truth, rel=rel, abs=5.0)


def test_mixture_quantile_solves_the_cdf():
    parts = [estimate._ln_part(0.9, 600.0, 150.0 ** 2), estimate._ln_part(0.1, 180.0, 45.0 ** 2)]
    for q in (0.01, 0.05, 0.5):
        x = estimate.mixture_quantile(parts, q, tol_s=0.01)
        assert sum(estimate._part_cdf(p, x) for p in parts) == pytest.approx(q, abs=1e-4)
    # one part: the closed form, conditioned or not
    one = estimate._ln_part(1.0, 600.0, 300.0 ** 2, elapsed=108.0)
    assert estimate.mixture_quantile([one], 0.01) == pytest.approx(
        estimate.remaining_s(600.0, 108.0, 0.5, 0.01), rel=1e-6)
    assert estimate._ln_part(1.0, 600.0, 300.0 ** 2, elapsed=1e6) is None  # long past: cannot happen


def test_the_mixtures_mean_is_the_typical_time_and_a_no_show_is_ruled_out_once_his_mark_is_past():
    typical, p, ns = 600.0, 0.1, 180.0
    served = estimate.served_mean(typical, p, ns)
    assert p * ns + (1 - p) * served == pytest.approx(typical)  # learned means count no-shows: kept
    assert estimate.remaining_mixed(typical, 0.0, 0.5, p, ns) == pytest.approx(typical)
    assert estimate.remaining_mixed(typical, 100.0, 0.5, 0.0, ns) == estimate.remaining_s(typical, 100.0, 0.5)
    # well past the mark nobody is a no-show: what a served citizen has left
    assert estimate.remaining_mixed(typical, 400.0, 0.5, p, ns) == pytest.approx(
        estimate.remaining_s(served, 400.0, 0.5), rel=1e-3)
    # just before the mark, a likely no-show pulls the mean down
    assert estimate.remaining_mixed(typical, 150.0, 0.5, p, ns) < estimate.remaining_s(served, 150.0, 0.5)


def test_no_shows_and_break_spread_are_learned_and_shrunk_toward_the_prior():
    assert estimate.noshow_share(0, 0) == estimate.NOSHOW_P
    assert estimate.noshow_share(2, 10) < 0.1  # two early no-shows do not make everyone a likely one
    assert estimate.noshow_share(300, 3000) == pytest.approx(0.1, abs=0.003)
    assert estimate.noshow_seconds(None, 0) == estimate.NOSHOW_S
    assert estimate.noshow_seconds(120.0, 200) == pytest.approx(120.0, abs=2.0)
    assert estimate.break_cv([]) == estimate.BREAK_CV
    assert estimate.break_cv([900.0] * 200) < 0.05
    assert estimate.break_cv([600.0, 1200.0] * 100) == pytest.approx(0.33, abs=0.02)


def test_a_break_ending_early_is_within_the_cap():
    # a window paused 10 minutes ago (the hall's breaks: 20 minutes on average, spread 0.3), next at it:
    # the cap counts the break's rest as a law, not its mean alone
    w = WindowNow(3, "paused", ("a",), paused_s=600.0)
    fixed = BreakPattern(mean_s=1200.0, cv=0.0)
    spread = BreakPattern(mean_s=1200.0, cv=0.3)
    s = snap([w], [cand(1, "a", 5)], breaks=spread)
    q_fixed = LiveWaits(replace(s, breaks=fixed, _memo={}))._near_quantile(3, 0, 0.0, estimate.NEAR_QUANTILE)
    q_spread = LiveWaits(s)._near_quantile(3, 0, 0.0, estimate.NEAR_QUANTILE)
    assert q_fixed == pytest.approx(600.0, abs=1.0)
    assert q_spread < q_fixed
    assert q_spread == pytest.approx(estimate.remaining_s(1200.0, 600.0, 0.3, estimate.NEAR_QUANTILE), rel=0.25)


# ----- the citizen at the window: called (may not come) or serving (he came) ----------------------
DELAYS = tuple(sorted([20.0 + 2.0 * i for i in range(20)] + [70.0, 80.0]))  # call -> "start": most within 60 s


def test_a_serving_citizen_has_no_noshow_weight():
    # the clerk pressed start: he came. What he has left is the served lognormal alone, conditioned on
    # his time at the window, in the plan's mean and in the near-the-front cap (its exact conditional law)
    typical, p, ns, e = 600.0, 0.2, 180.0, 120.0
    served = estimate.served_mean(typical, p, ns)
    m, w_ln, w_ns = estimate._at_window_modes(typical, e, 0.5, p, ns, "serving", DELAYS)
    assert (m, w_ns) == (served, 0.0) and w_ln > 0
    assert estimate.remaining_mixed(typical, e, 0.5, p, ns, "serving", DELAYS) == pytest.approx(
        estimate.remaining_s(served, e, 0.5))
    assert estimate.remaining_mixed(typical, 0.0, 0.5, p, ns, "serving") == pytest.approx(served)
    w = WindowNow(3, "open", ("a",), busy_s=e, busy_service="a", busy_status="serving")
    s = snap([w], [cand(1, "a", 5)], minutes={"a": typical / 60.0}, p_noshow=p, noshow_s=ns, show_delays=DELAYS)
    q = LiveWaits(s)._near_quantile(3, 0, 0.0, estimate.NEAR_QUANTILE)
    assert q == pytest.approx(estimate.remaining_s(served, e, 0.5, estimate.NEAR_QUANTILE), rel=1e-3)
    # unknown status (an older snapshot): the no-show mode still weighs and the quantile is far lower
    q_unknown = LiveWaits(replace(s, windows=(replace(w, busy_status=None),), _memo={}))._near_quantile(
        3, 0, 0.0, estimate.NEAR_QUANTILE)
    assert q_unknown < 0.5 * q


def test_a_called_citizen_does_have_noshow_weight_growing_while_he_does_not_come():
    p = 0.05
    assert estimate.p_noshow_called(p, 90.0, ()) == p  # no history of delays: the hall's share
    assert estimate.p_noshow_called(p, 0.0, DELAYS) == pytest.approx(p, rel=0.1)  # just called
    late = estimate.p_noshow_called(p, 90.0, DELAYS)  # past every delay seen: most likely he will not come
    assert late > 0.5
    assert estimate.p_noshow_called(p, 50.0, DELAYS) < late
    typical, ns = 600.0, 180.0
    _, w_ln, w_ns = estimate._at_window_modes(typical, 90.0, 0.5, p, ns, "called", DELAYS)
    assert w_ns / (w_ln + w_ns) > 0.5
    # the plan's mean: a called citizen 90 s in is likely a no-show whose mark is 90 s away
    assert estimate.remaining_mixed(typical, 90.0, 0.5, p, ns, "called", DELAYS) < \
        0.6 * estimate.remaining_mixed(typical, 90.0, 0.5, p, ns)
    # the next ticket is told at most 3x what the mark leaves him (90 s), where serving he is not capped so
    w = WindowNow(3, "open", ("a",), busy_s=90.0, busy_service="a", busy_status="called")
    s = snap([w], [cand(1, "a", 5)], minutes={"a": typical / 60.0}, p_noshow=p, noshow_s=ns, show_delays=DELAYS)
    assert LiveWaits(s).ticket(s.waiting[0]) <= 3 * 90.0
    # serving, he came: only the lognormal's lower tail is left; at the 1% level (this deep in the tail,
    # NEAR_QUANTILE, both are capped at the minute's floor) the cap is well above what the mark leaves
    serving = replace(s, windows=(replace(w, busy_status="serving"),), _memo={})
    assert LiveWaits(s, near_quantile=0.01).ticket(s.waiting[0]) <= 3 * 90.0 < \
        LiveWaits(serving, near_quantile=0.01).ticket(s.waiting[0])


# ----- the spread of a served citizen's window time: learned per service, shrunk ----------------------
def _lognormal_times(rng, mean, cv, n):
    import math

    sigma = math.sqrt(math.log1p(cv * cv))
    return [rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma) for _ in range(n)]


def test_the_service_spread_is_learned_from_log_times_and_shrunk_toward_the_hall_and_the_prior():
    import random

    rng = random.Random(7)
    assert estimate.service_spreads({}) == ({}, estimate.SERVICE_CV)  # no history: the prior
    # plenty of tickets: each service's own spread; the hall's pools them about each service's own mean,
    # so two services of different typical times (4 and 12 minutes) are not counted as spread
    stats = {"a": estimate.log_stats(_lognormal_times(rng, 240.0, 0.3, 2000)),
             "b": estimate.log_stats(_lognormal_times(rng, 720.0, 0.3, 2000))}
    per, hall = estimate.service_spreads(stats)
    assert per["a"] == pytest.approx(0.3, abs=0.03) and per["b"] == pytest.approx(0.3, abs=0.03)
    assert hall == pytest.approx(0.3, abs=0.02)
    # a service with three tickets, however spread, gets about the hall's
    stats["c"] = estimate.log_stats([60.0, 600.0, 1800.0])
    per, hall = estimate.service_spreads(stats)
    own = estimate.service_spreads({"c": stats["c"]})[0]["c"]  # its own (shrunk toward the prior only)
    assert abs(per["c"] - hall) < abs(own - hall) and per["c"] > hall
    # a wide service with many tickets keeps its spread
    stats["d"] = estimate.log_stats(_lognormal_times(rng, 600.0, 0.8, 2000))
    per, _ = estimate.service_spreads(stats)
    assert per["d"] == pytest.approx(0.8, abs=0.08)
    # a hall with few tickets stays near the prior
    _, few = estimate.service_spreads({"a": estimate.log_stats([300.0, 320.0, 310.0])})
    assert abs(few - estimate.SERVICE_CV) < abs(few - 0.05) and few < estimate.SERVICE_CV
    # past days and today add up
    merged = estimate.merge_log_stats({"a": estimate.log_stats([300.0, 600.0])}, {"a": estimate.log_stats([900.0])})
    assert merged["a"] == pytest.approx(estimate.log_stats([300.0, 600.0, 900.0]))
    assert estimate.log_stats([0.0])[1] == pytest.approx(math.log(estimate.SERVICE_MIN_S))  # no log(0)


def test_a_service_without_its_own_spread_takes_the_halls():
    s = snap([WindowNow(3, "open", ("a",))], spread=0.4, spreads={"a": 0.7})
    assert s.spread_of("a") == 0.7 and s.spread_of("b") == 0.4 and s.spread_of(None) == 0.4
    assert snap([WindowNow(3, "open", ("a",))]).spread_of("a") == estimate.SERVICE_CV


@pytest.mark.parametrize("k", [0, 2])
def test_a_wide_spread_service_gets_a_lower_cap(k):
    # the citizen at the window (served, 2 minutes in) and the k before the ticket are of service "c"
    # (10 minutes): the wider its learned spread, the likelier a short one, the lower the cap on the figure
    w = WindowNow(3, "open", ("a", "c"), busy_s=120.0, busy_service="c", busy_status="serving")
    waiting = [cand(i + 1, "c", 20 - i) for i in range(k)] + [cand(k + 1, "a", 1)]
    caps, figures = {}, {}
    for cv in (0.3, 0.8):
        s = snap([w], waiting, spreads={"c": cv}, p_noshow=0.0)
        live = LiveWaits(s)
        at = live.plan.calls[k + 1]
        caps[cv] = live.near(3, k, at)
        figures[cv] = live.ticket(s.waiting[-1])
        assert figures[cv] <= 3 * max(simulate_calls(s)[k + 1], 60)
    assert caps[0.8] < caps[0.3]
    assert figures[0.8] <= figures[0.3]
    # the 1% quantile under the wide spread is what the lognormal of that spread gives (k = 0: exact)
    if not k:
        assert caps[0.8] == pytest.approx(3 * max(estimate.remaining_s(600.0, 120.0, 0.8, estimate.NEAR_QUANTILE),
                                                  60.0), rel=0.01)
