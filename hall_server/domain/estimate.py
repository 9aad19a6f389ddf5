"""Wait estimates: how long a citizen will wait before a window calls them.

Estimators live here so they can be measured against each other (bench/bench_estimates.py):

- `naive`: people ahead in the same service x the hall's mean service time / open windows.
- `v1`: people ahead in the same service x that service's typical minutes / open windows
  serving it (the first version shipped).
- `v2`: the work queued ahead of the ticket at the windows that can call it, each ticket with
  its own service's typical time, stretched by the overtaking load (kept for comparison).
- `v3` (the default, see DEFAULT_ESTIMATOR; `LiveWaits` computes it for every waiting ticket at
  once, per change): the call policy run forward (`CallPlan`, which must call every ticket when
  `simulate_calls`, the reference, does). Each window frees up after what it has in hand: the
  rest of its current citizen (a no-show or a lognormal window time with his service's learned
  spread, `HallSnapshot.spread_of`, conditioned on the time already spent and on whether he came,
  "called" or "serving": `remaining_mixed`) and of a break; each
  ticket then takes its service's typical time (call to finish, plus the clerk's turnaround to
  the next call, learned from history). Later arrivals called first (priorities, earlier-listed services under
  strict order) stretch the wait by the number of them most likely to come (`stretch`), and
  breaks likely to start before the call are added (`_with_breaks`).
- `les`: the delay of the last ticket called (a classic, for comparison only).

What a citizen near the front is told (NEAR_AHEAD, NEAR_QUANTILE, NEAR_RATIO). A figure too long
sends people home and they lose their turn; one too short only keeps them in the hall. So for a
ticket with at most NEAR_AHEAD calls before it at the window the plan gives it, the figure is
capped at NEAR_RATIO (3) x the NEAR_QUANTILE (1 in 5,000) quantile of its predicted wait, floored at
a minute: under the model, at most 1 citizen in 5,000 near the front is told more than 3x his real
wait. At the 1% level it had first, 13 of 6,346 near the front on the bench's days were told more
than 3x, as many as the model's own chances added up to (13.2): its tail, not a mis-learned spread
(the model's lower tail is if anything too fat: 0.55% waited less than its 1% quantile). Issue 11
allows none, so the level is 1 in 5,000: none on those days, for 0.4-1.5 minutes more mean absolute
error per scenario (bench/estimates_results.md). The figure near the front is then cautious: down
to a quarter of the plan's when the citizens before it might finish or not come quickly. Too short
only keeps a citizen in the hall a little longer. "You are next" is decided on the plan's figure
(`LiveWaits.ticket(..., cautious=False)`), not on this cautious one: a few minutes shown because the
citizen just called at the window might not come is not "next" when most do and the plan says a
quarter of an hour.
The predicted wait is a mixture (`LiveWaits.near`): each citizen before the ticket (the one
at the window, and the k called before it) either never comes, with the hall's no-show share
(`p_noshow`, learned from past days' calls and shrunk toward NOSHOW_P), and holds the window for
the no-show time (`noshow_s`: call to the mark, learned, plus the turnaround; spread NOSHOW_CV),
or comes and takes a lognormal window time of the mean that keeps the service's typical time (which
counts no-shows, as learned: `served_mean`) and of the service's spread, learned (`service_spreads`):
the variance of the log of served citizens' call-to-finish times (the span `typical_minutes` learns;
no-shows are the other mode) of past days and today, per service, shrunk toward the hall's pooled
value, itself shrunk toward SERVICE_CV (0.5), each by SPREAD_PRIOR_N tickets; a service with no
history takes the hall's (`HallSnapshot.spreads`, `spread`). A wide service (window times from 2 to
20 minutes) gets a lower cap than a steady one of the same mean: a short one is likelier. The citizen
at the window is weighed by what the snapshot knows of him (`WindowNow.busy_status`,
`_at_window_modes`): "serving" (the clerk pressed start) means he came, and only the served lognormal
is left, conditioned on his time there; "called" (not at the window yet) keeps the no-show mode, its
weight the hall's share updated by how long he has not come against how long those who come take
(`p_noshow_called`: the call-to-start delays of past days and today, `HallSnapshot.show_delays`, so a
citizen not there 90 s after the call, when 9 in 10 come within a minute, is most likely a no-show);
unknown (an older snapshot) or "called" without that history: both modes weighed by the chance each
lasts his time so far (once his mark is past, he came). Each
case of who does not come is one lognormal: the exact conditional law of what is left when only
the citizen at the window (or only a break) is before the ticket, else a sum with the same mean
and variance (Fenton-Wilkinson); the quantile of the mixture is found by bisection on its CDF
(`mixture_quantile`: a dozen evaluations of at most 2 x (k + 1) lognormal CDFs, memoised per
window slot). A break left counts as a lognormal of the hall's break lengths (`BreakPattern.cv`,
learned) conditioned on its time so far. The lognormal alone had too thin a lower tail: a citizen
called two minutes ago who never comes frees the window a minute later, which it gave well under
1 in 100. The cap binds mostly when the window's current citizen has just been called, or a
no-show among those before the ticket would shorten the wait a lot; otherwise the figure stays the
plan's. It applies after overtakers and breaks (they only lengthen a wait). Further back the
spread of a sum of many tickets is small and the figure is the plan's. The plan itself counts the
citizen at the window with the same mixture and the same weights (`remaining_mixed`, the mean). `eta_range` turns the
figure into what kiosk, phone and supervisor page show.

Everything here is pure: the application layer gathers a `HallSnapshot` and calls these.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from statistics import NormalDist, fmean

from hall_server.domain import policy

MIN_SAMPLES = 3

# v2 tuning, each with its reason:
PRIOR_WEIGHT = 5.0  # recent samples needed to outweigh the history (or catalog) by half
HISTORY_MIN = 5  # fewer historical samples than this and the catalog still has a say
RESIDUAL_FLOOR = 0.3  # v2: a ticket already past its typical time still has this share of it to go
SERVICE_CV = 0.5  # spread (sd / mean) of a served citizen's window time until the hall's history says otherwise
SPREAD_PRIOR_N = 5.0  # served tickets (degrees of freedom) needed to outweigh the prior spread by half
SERVICE_MIN_S = 5.0  # window times are floored here before their log is taken (a ticket closed at once)
NEAR_AHEAD = 3  # a ticket with at most this many calls before it at its window is near the front...
NEAR_QUANTILE = 0.0002  # ...and is told at most NEAR_RATIO x this quantile of its wait (1 in 5,000: the docstring)
NEAR_RATIO = 3.0  # issue 11: never more than 3x the real wait near the front
NEAR_FLOOR_S = 60.0  # the quantile is floored at a minute: anything up to a minute is shown as "now"
TYPICAL_BREAK_S = 15 * 60.0  # a paused window is assumed back after this, until history says otherwise
BREAK_CV = 0.3  # spread (sd / mean) of a break's length, for the near-the-front cap, until history says otherwise
NOSHOW_P = 0.05  # share of called citizens who never come, until the hall's history says otherwise
NOSHOW_PRIOR_N = 100.0  # calls of history needed to outweigh NOSHOW_P by half
NOSHOW_S = 180.0  # seconds from the call to the no-show mark: two recalls a minute apart (the default), then the mark
NOSHOW_CV = 0.25  # spread of that time (the clerk presses "recall" and "no-show" by hand)
OVERTAKE_CAP = 0.5  # beyond this the queue is unstable: promise at most 2x the work ahead, not a runaway
RATE_WINDOW_S = 3600.0  # arrival rates are counted over the last hour
RATE_PRIOR_H = 1.0  # hours of pseudo-observations at the prior rate: a burst of minutes cannot swing a rate
TURNAROUND_MAX_S = 120.0  # a longer gap between a finish and the next call is a pause or idle, not a turnaround
NEW_TICKET_ID = 2**62  # the id a not-yet-issued ticket takes in the ranking: after every real one


# ----- v1 (kept for comparison and for callers that use it directly) ----------------------------
def service_minutes(recent_durations_s: Sequence[float], expected_minutes: float) -> float:
    """Typical minutes at the window: the mean of recent service times, or the catalog's value.

    With few recent samples the catalog's expected time is blended in, so one quick ticket in
    the morning does not promise everyone a two-minute wait.
    """
    if not recent_durations_s:
        return float(expected_minutes)
    observed = fmean(recent_durations_s) / 60.0
    n = len(recent_durations_s)
    if n >= MIN_SAMPLES * 3:
        return observed
    weight = n / (MIN_SAMPLES * 3)
    return weight * observed + (1 - weight) * expected_minutes


@dataclass(frozen=True)
class WaitInputs:
    """What the v1 estimator knows about one service."""

    people_ahead: int
    minutes_per_ticket: float
    open_windows: int


def estimate_wait_seconds(inputs: WaitInputs) -> int | None:
    """Estimate v1: people ahead times service time, shared by the open windows serving it.

    None means no open window serves the service now, so no honest estimate exists.
    """
    if inputs.open_windows <= 0:
        return None
    if inputs.people_ahead <= 0:
        return 0
    return round(inputs.people_ahead * inputs.minutes_per_ticket * 60 / inputs.open_windows)


# ----- the baseline ------------------------------------------------------------------------------
def naive_wait_seconds(people_ahead: int, mean_minutes: float, open_windows: int) -> int | None:
    """The baseline: people ahead x the hall's mean service time / open windows serving it."""
    if open_windows <= 0:
        return None
    return max(0, round(people_ahead * mean_minutes * 60 / open_windows))


# ----- what a citizen is told ---------------------------------------------------------------------
NEXT_MAX_S = 5 * 60  # "you are next" only when the call is this close


def eta_range(seconds: int | None) -> tuple[int, int] | None:
    """The honest promise for an estimate: a range in seconds, on 5-minute steps, widening with it.

    Measured errors grow with the wait, so a long estimate is shown as a wider range (about
    -20%/+25%, at least 5 minutes wide); under 5 minutes it is "less than 5 minutes", and at most
    a minute is "now". None stays None (no window can call the ticket).
    """
    if seconds is None:
        return None
    if seconds <= 60:
        return (0, 0)
    minutes = seconds / 60.0
    if minutes < 5:
        return (0, 5 * 60)
    lo = 5 * int(minutes * 0.8 // 5)
    hi = max(lo + 5, 5 * -int(-(minutes * 1.25) // 5))
    return (lo * 60, hi * 60)


def accuracy_of(pairs: Sequence[tuple[float, float]], within_s: float = 300.0) -> dict[str, float | int | None]:
    """How estimates at issue compare with the waits that happened: (estimate s, waited s) pairs."""
    n = len(pairs)
    if not n:
        return {"count": 0, "within_5_min": 0, "within_5_min_share": None, "mean_abs_error_seconds": None,
                "bias_seconds": None}
    errors = [est - waited for est, waited in pairs]
    within = sum(1 for e in errors if abs(e) <= within_s)
    return {"count": n, "within_5_min": within, "within_5_min_share": within / n,
            "mean_abs_error_seconds": round(sum(abs(e) for e in errors) / n),
            "bias_seconds": round(sum(errors) / n)}


# ----- arrival rates ------------------------------------------------------------------------------
def arrival_rate(count: int, span_s: float, prior_per_h: float) -> float:
    """Arrivals per hour from `count` seen over `span_s` seconds, shrunk toward a prior rate.

    The prior (the same weekday and hour in past weeks, or nothing) weighs as RATE_PRIOR_H hours
    of observation: thirty tickets in the first two minutes of a day are a burst, not a rate of
    900 an hour, and extrapolating them made every estimate five times too long.
    """
    span_h = max(span_s, 0.0) / 3600.0
    return (count + prior_per_h * RATE_PRIOR_H) / (span_h + RATE_PRIOR_H)


# ----- v2 inputs -----------------------------------------------------------------------------
def typical_minutes(recent_s: Sequence[float], history_mean_s: float | None, history_n: int,
                    expected_minutes: float) -> float:
    """Minutes a ticket of one service occupies a window: today's samples shrunk toward history.

    The prior is the service's mean over past days (itself shrunk toward the catalog when the
    history is thin); today's samples move it by how many there are, so a slow clerk today shows
    up within a few tickets but one odd ticket does not swing every estimate.
    """
    prior = float(expected_minutes)
    if history_mean_s is not None and history_n > 0:
        w = history_n / (history_n + HISTORY_MIN)
        prior = w * history_mean_s / 60.0 + (1 - w) * prior
    if not recent_s:
        return prior
    n = len(recent_s)
    return (n * fmean(recent_s) / 60.0 + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)


def turnaround_seconds(recent_s: Sequence[float], history_mean_s: float, history_n: int) -> float:
    """Seconds a window takes from one citizen's finish to calling the next: today's shrunk toward history.

    Service times are learned from call to finish; the clerk's turnaround before the next call
    (closing the file, pressing "next") is part of every ticket's cycle too. Without history the
    prior is 0 (nothing assumed), so a first day learns it from its own gaps.
    """
    n = len(recent_s)
    prior = history_mean_s if history_n > 0 else 0.0
    if not n:
        return prior
    return (sum(recent_s) + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)


def noshow_share(no_shows: int, called: int) -> float:
    """The share of called citizens who never come: past days' calls shrunk toward NOSHOW_P.

    NOSHOW_PRIOR_N calls of history weigh as much as the prior, so a first day with two no-shows in
    its first ten calls does not make every citizen near the front a likely no-show.
    """
    return (max(no_shows, 0) + NOSHOW_P * NOSHOW_PRIOR_N) / (max(called, 0) + NOSHOW_PRIOR_N)


def noshow_seconds(mean_s: float | None, n: int) -> float:
    """Seconds from the call to the no-show mark: past days' mean shrunk toward NOSHOW_S."""
    if mean_s is None or n <= 0:
        return NOSHOW_S
    return (n * mean_s + HISTORY_MIN * NOSHOW_S) / (n + HISTORY_MIN)


def break_cv(lengths_s: Sequence[float]) -> float:
    """The spread (sd / mean) of the hall's break lengths, shrunk toward BREAK_CV when there are few."""
    n = len(lengths_s)
    if n < 2:
        return BREAK_CV
    mean = fmean(lengths_s)
    if mean <= 0:
        return BREAK_CV
    var = sum((x - mean) ** 2 for x in lengths_s) / (n - 1)
    return math.sqrt((n * var / (mean * mean) + HISTORY_MIN * BREAK_CV ** 2) / (n + HISTORY_MIN))


LogStats = tuple[int, float, float]  # (n, sum of log t, sum of (log t)^2) of window times t


def log_stats(times_s: Sequence[float]) -> LogStats:
    """What the spread of window times is learned from: their count and the first two sums of their logs."""
    logs = [math.log(max(t, SERVICE_MIN_S)) for t in times_s]
    return len(logs), math.fsum(logs), math.fsum(x * x for x in logs)


def merge_log_stats(*parts: Mapping[str, LogStats]) -> dict[str, LogStats]:
    """Per-service `log_stats` of several sources (past days, today) added up."""
    out: dict[str, LogStats] = {}
    for part in parts:
        for svc, (n, s1, s2) in part.items():
            m, t1, t2 = out.get(svc, (0, 0.0, 0.0))
            out[svc] = (m + n, t1 + s1, t2 + s2)
    return out


def _cv_of_sigma2(s2: float) -> float:
    return math.sqrt(math.expm1(max(s2, 0.0)))


def service_spreads(stats: Mapping[str, LogStats]) -> tuple[dict[str, float], float]:
    """The spread (sd / mean) of a served citizen's window time per service, and the hall's.

    Learned as the lognormal's sigma^2 = the variance of the log-times (what the estimator's
    lognormal is; the log's variance sees the short times that make the near-the-front cap, where
    sd / mean is driven by the long ones), shrunk as the other learned figures: the hall's is the
    pooled within-service variance (each service about its own mean: the services' different
    typical times are not spread) shrunk toward SERVICE_CV's by SPREAD_PRIOR_N degrees of freedom;
    a service's is its own shrunk toward the hall's by as many. So a service with a handful of
    tickets has about the hall's spread, and a hall with no history SERVICE_CV. Returned as CVs.
    """
    prior = math.log1p(SERVICE_CV * SERVICE_CV)
    own: dict[str, tuple[float, float]] = {}  # service -> (sum of squared deviations, degrees of freedom)
    for svc, (n, s1, s2) in stats.items():
        if n >= 2:
            own[svc] = (max(s2 - s1 * s1 / n, 0.0), n - 1.0)
    ss = sum(v for v, _ in own.values())
    df = sum(d for _, d in own.values())
    hall = (ss + SPREAD_PRIOR_N * prior) / (df + SPREAD_PRIOR_N)
    per = {svc: _cv_of_sigma2((v + SPREAD_PRIOR_N * hall) / (d + SPREAD_PRIOR_N)) for svc, (v, d) in own.items()}
    return per, _cv_of_sigma2(hall)


@dataclass(frozen=True)
class BreakPattern:
    """When and how long the hall's windows pause, from past days' pause events."""

    starts_s: tuple[float, ...] = ()  # sorted: each window-day's first pause, seconds after local midnight
    window_days: int = 0  # window-days worked in the same history (some take no break)
    mean_s: float = TYPICAL_BREAK_S  # mean length of a pause
    cv: float = BREAK_CV  # sd / mean of a pause's length (the near-the-front cap counts short ones)

    def p_start(self, after_s: float, until_s: float) -> float:
        """Chance that a window with no break yet today starts one between the two times of day."""
        if not self.starts_s or self.window_days <= 0 or until_s <= after_s:
            return 0.0
        before = bisect_right(self.starts_s, after_s)
        within = bisect_right(self.starts_s, until_s) - before
        still_possible = self.window_days - before  # window-days without a break by `after_s`
        return within / still_possible if still_possible > 0 else 0.0


@dataclass(frozen=True)
class WindowNow:
    """One window as the estimator sees it."""

    number: int
    state: str  # open | paused | closed
    services: tuple[str, ...]
    priority_streak: int = 0
    busy_s: float | None = None  # seconds since its current ticket was called; None when free
    busy_service: str | None = None
    # the current citizen: "called" (not at the window yet: may be a no-show) or "serving" (the clerk
    # pressed start: he came); None when unknown (an older snapshot, or a test that does not say)
    busy_status: str | None = None
    paused_s: float | None = None  # seconds since it paused, when paused
    paused_today: bool = False  # it had its break already (one a day is the habit we learn)


@dataclass(frozen=True)
class HallSnapshot:
    """Everything the estimators need about a hall at one instant."""

    at: datetime
    windows: tuple[WindowNow, ...]
    waiting: tuple[policy.Candidate, ...]
    minutes: Mapping[str, float]  # v2: typical window minutes per ticket, per service
    v1_minutes: Mapping[str, float]  # v1: recent start-to-finish blended with the catalog
    hall_minutes: float  # the baseline's single mean for every service
    arrivals: Mapping[tuple[str, bool], float] = field(default_factory=dict)  # (service, priority?) per hour
    last_calls: Mapping[int, tuple[float, float]] = field(default_factory=dict)  # window -> (age s, wait s)
    strategy: str = policy.LONGEST_WAIT
    priority_ratio: int = 3
    breaks: BreakPattern = field(default_factory=BreakPattern)
    day_s: float | None = None  # `at` as seconds after the hall's local midnight
    spread: float = SERVICE_CV  # sd / mean of a served citizen's window time, the hall's (a service's fallback)
    p_noshow: float = NOSHOW_P  # share of called citizens who never come (the hall's history)
    noshow_s: float = NOSHOW_S  # a no-show's window time: the call to the mark, plus the turnaround
    # sorted seconds from the call to "start" of citizens who came (history and today): how long a
    # called citizen who will come can still be on his way (`p_noshow_called`); () when unknown
    show_delays: tuple[float, ...] = ()
    # the same per service (`service_spreads`: past days' and today's served tickets); a service absent: `spread`
    spreads: Mapping[str, float] = field(default_factory=dict)
    # per-snapshot memo of a new ticket's place at each window (queue_state asks for every service)
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict, compare=False, repr=False)

    def minutes_of(self, service: str) -> float:
        """The v2 typical minutes of a service (the hall mean if the service is unknown)."""
        return self.minutes.get(service, self.hall_minutes)

    def spread_of(self, service: str | None) -> float:
        """The spread (sd / mean) of a served citizen's window time for a service (the hall's if unknown)."""
        per = getattr(self, "spreads", None)  # a snapshot pickled before the field (an older --dump): none
        return per.get(service or "", self.spread) if per else self.spread


def _active(w: WindowNow) -> bool:
    # A paused window is on a break and comes back; a closed one has nobody at it.
    return w.state in ("open", "paused")


def _serves(w: WindowNow, service: str, target_window: int | None) -> bool:
    if target_window is not None:
        return w.number == target_window
    return service in w.services


def _profile(snap: HallSnapshot, w: WindowNow) -> policy.WindowProfile:
    return policy.WindowProfile(w.number, w.services, snap.strategy, snap.priority_ratio)


_N = NormalDist()


def remaining_s(typical_s: float, elapsed_s: float, cv: float, quantile: float | None = None) -> float:
    """What a ticket at the window has left after `elapsed_s`: its mean, or a quantile.

    Window times are skewed (most short, a few very long): modelled as lognormal with the service's
    mean and spread, conditioned on having lasted `elapsed_s` already. A ticket past its typical
    time is likely a long one and still has a good part to go; the first version said 30% of the
    typical time whatever the elapsed time, and "typical minus elapsed" before that.
    """
    if typical_s <= 0:
        return 0.0
    s2 = math.log1p(cv * cv)
    s = math.sqrt(s2)
    mu = math.log(typical_s) - s2 / 2.0
    if elapsed_s <= 0:
        return typical_s if quantile is None else math.exp(mu + s * _N.inv_cdf(quantile))
    z = (math.log(elapsed_s) - mu) / s
    tail = 1.0 - _N.cdf(z)
    if tail < 1e-9:  # far beyond any typical length: give the window a tenth of its typical time
        return 0.1 * typical_s
    if quantile is None:
        return typical_s * _N.cdf(s - z) / tail - elapsed_s
    p = min(1.0 - tail + quantile * tail, 1.0 - 1e-12)
    return max(0.0, math.exp(mu + s * _N.inv_cdf(p)) - elapsed_s)


def _survival(mean: float, cv: float, elapsed_s: float) -> float:
    """P(T > elapsed) for a lognormal time T of this mean and spread."""
    if elapsed_s <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    s2 = math.log1p(cv * cv)
    return 0.5 * math.erfc((math.log(elapsed_s) - math.log(mean) + s2 / 2.0) / math.sqrt(2.0 * s2))


def served_mean(typical_s: float, p_noshow: float, noshow_s: float) -> float:
    """The mean window time of a citizen who comes, such that with no-shows the mean is `typical_s`."""
    p = min(max(p_noshow, 0.0), 0.5)
    return max((typical_s - p * noshow_s) / (1.0 - p), 0.25 * typical_s)


def p_noshow_called(p_noshow: float, elapsed_s: float, show_delays: Sequence[float]) -> float:
    """The chance that a citizen called `elapsed_s` ago, who has not come yet ("called"), never comes.

    Bayes on the hall's delays from the call to "start" of those who came (`show_delays`, sorted):
    p / (p + (1 - p) x share of them still on their way after `elapsed_s` (smoothed: (k + 1) / (n + 2))).
    Right after the call it is about p; once most who come would have come, it is most likely a no-show.
    """
    p = min(max(p_noshow, 0.0), 0.5)
    if p <= 0 or not show_delays:
        return p
    n = len(show_delays)
    later = (n - bisect_right(show_delays, max(elapsed_s, 0.0)) + 1) / (n + 2)
    return p / (p + (1.0 - p) * later)


def _at_window_modes(typical_s: float, elapsed_s: float, cv: float, p_noshow: float, noshow_s: float,
                     status: str | None, show_delays: Sequence[float]) -> tuple[float, float, float]:
    """The citizen at the window: (served mean, weight he came and is still there, weight of a no-show).

    The weights are unnormalised chances given what is known after `elapsed_s`: "serving" (the clerk
    pressed start) means he came; "called" weighs a no-show by how long those who come take to come
    (`p_noshow_called`) when the hall has that history; otherwise (None: unknown, or no history) both
    modes are weighed by the chance they last `elapsed_s` (the no-show mark comes at about `noshow_s`).
    """
    p = min(max(p_noshow, 0.0), 0.5)
    m = served_mean(typical_s, p, noshow_s)
    if status == "serving":
        return m, _survival(m, cv, elapsed_s), 0.0
    s_ns = _survival(noshow_s, NOSHOW_CV, elapsed_s) if p > 0 else 0.0
    if status == "called" and show_delays and p > 0:
        q = p_noshow_called(p, elapsed_s, show_delays)
        return m, (1.0 - q) * _survival(m, cv, elapsed_s), q * s_ns
    return m, (1.0 - p) * _survival(m, cv, elapsed_s), p * s_ns


def remaining_mixed(typical_s: float, elapsed_s: float, cv: float, p_noshow: float, noshow_s: float,
                    status: str | None = None, show_delays: Sequence[float] = ()) -> float:
    """The mean of what the citizen at the window has left, a no-show or not (the mixture of `LiveWaits.near`).

    `status`: "serving" (he came: no no-show left), "called" (weighed with `show_delays`), None (unknown).
    """
    p = min(max(p_noshow, 0.0), 0.5)
    if typical_s <= 0 or elapsed_s <= 0 or (p <= 0 and status != "serving"):
        if status == "serving" and typical_s > 0:
            return remaining_s(served_mean(typical_s, p, noshow_s), elapsed_s, cv)
        return remaining_s(typical_s, elapsed_s, cv)
    m, s_ln, s_ns = _at_window_modes(typical_s, elapsed_s, cv, p, noshow_s, status, show_delays)
    if s_ln + s_ns < 1e-12:
        return remaining_s(typical_s, elapsed_s, cv)
    left = s_ln * remaining_s(m, elapsed_s, cv) if s_ln > 0 else 0.0
    if s_ns > 0:
        left += s_ns * remaining_s(noshow_s, elapsed_s, NOSHOW_CV)
    return left / (s_ln + s_ns)


def remaining_moments(typical_s: float, elapsed_s: float, cv: float) -> tuple[float, float]:
    """Mean and variance of what a ticket at the window has left (the lognormal of `remaining_s`)."""
    if typical_s <= 0:
        return 0.0, 0.0
    s2 = math.log1p(cv * cv)
    s = math.sqrt(s2)
    mu = math.log(typical_s) - s2 / 2.0
    if elapsed_s <= 0:
        return typical_s, (cv * typical_s) ** 2
    z = (math.log(elapsed_s) - mu) / s
    tail = 1.0 - _N.cdf(z)
    if tail < 1e-9:
        return 0.1 * typical_s, (cv * 0.1 * typical_s) ** 2
    m1 = typical_s * _N.cdf(s - z) / tail
    m2 = math.exp(2.0 * mu + 2.0 * s2) * _N.cdf(2.0 * s - z) / tail
    return m1 - elapsed_s, max(m2 - m1 * m1, 0.0)


def lognormal_quantile(mean: float, var: float, quantile: float) -> float:
    """The quantile of the lognormal with this mean and variance (a sum of window times, Fenton-Wilkinson)."""
    if mean <= 0:
        return 0.0
    if var <= 0:
        return mean
    s2 = math.log1p(var / (mean * mean))
    return math.exp(math.log(mean) - s2 / 2.0 + math.sqrt(s2) * _N.inv_cdf(quantile))


_SQRT2 = math.sqrt(2.0)


def _ln_part(weight: float, mean: float, var: float, elapsed: float = 0.0,
             shift: float = 0.0) -> tuple[float, ...] | None:
    """One part of a mixture: a lognormal of this mean and variance, less `elapsed` already past.

    With `elapsed` > 0 it is what a time of that law has left once it has lasted `elapsed` (the
    law conditioned on it, as `remaining_s`). None when the part cannot happen (weight 0, or the
    time is long past). The tuple: (weight, mu, sigma, elapsed, P(T <= elapsed), P(T > elapsed), shift).
    """
    if weight <= 0.0 or mean <= 0.0:
        return None
    s2 = math.log1p(var / (mean * mean)) if var > 0 else 1e-12
    s = math.sqrt(s2)
    mu = math.log(mean) - s2 / 2.0
    if elapsed <= 0.0:
        return (weight, mu, s, 0.0, 0.0, 1.0, shift)
    tail = 0.5 * math.erfc((math.log(elapsed) - mu) / (s * _SQRT2))
    if tail < 1e-9:
        return None
    return (weight, mu, s, elapsed, 1.0 - tail, tail, shift)


def _part_cdf(part: tuple[float, ...], x: float) -> float:
    w, mu, s, e, base, tail, shift = part
    y = x - shift + e
    if y <= e or y <= 0.0:
        return 0.0
    return w * max(0.5 * math.erfc((mu - math.log(y)) / (s * _SQRT2)) - base, 0.0) / tail


def _part_quantile(part: tuple[float, ...], q: float) -> float:
    _, mu, s, e, base, tail, shift = part
    return max(math.exp(mu + s * _N.inv_cdf(min(base + q * tail, 1.0 - 1e-12))) - e, 0.0) + shift


def mixture_quantile(parts: Sequence[tuple[float, ...] | None], q: float, tol_s: float = 1.0) -> float:
    """The `q` quantile of a mixture of `_ln_part`s (weights summing to 1): bisection on its CDF.

    The quantile lies between the smallest and the largest of the parts' own `q` quantiles, so a
    dozen halvings find it to within `tol_s` seconds.
    """
    live = [p for p in parts if p is not None]
    if not live:
        return 0.0
    total = sum(p[0] for p in live)
    target = q * total
    qs = [_part_quantile(p, q) for p in live]
    lo, hi = min(qs), max(qs)
    if len(live) == 1 or hi - lo <= tol_s:
        return hi if len(live) == 1 else lo
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if sum(_part_cdf(p, mid) for p in live) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= tol_s:
            break
    return 0.5 * (lo + hi)


def _residual_s(snap: HallSnapshot, w: WindowNow, quantile: float | None = None) -> float:
    """Seconds until the window can call again: the rest of its current ticket and of its break."""
    left = 0.0
    if w.busy_s is not None:
        typical = snap.minutes_of(w.busy_service or "") * 60.0
        if quantile is None:
            left += remaining_mixed(typical, w.busy_s, snap.spread_of(w.busy_service), snap.p_noshow,
                                    snap.noshow_s, w.busy_status, snap.show_delays)
        else:
            left += remaining_s(typical, w.busy_s, snap.spread_of(w.busy_service), quantile)
    if w.state == "paused":
        left += max(snap.breaks.mean_s - (w.paused_s or 0.0), 0.0)
    return left


def _residual_v2(snap: HallSnapshot, w: WindowNow) -> float:
    """v2's residual, kept as it was measured: typical minus elapsed, at least 30% of typical."""
    left = 0.0
    if w.busy_s is not None:
        typical = snap.minutes_of(w.busy_service or "") * 60.0
        left += max(typical - w.busy_s, RESIDUAL_FLOOR * typical)
    if w.state == "paused":
        left += max(snap.breaks.mean_s - (w.paused_s or 0.0), 0.0)
    return left


def people_ahead(snap: HallSnapshot, service: str, priority: str | None = None,
                 ticket: policy.Candidate | None = None) -> int:
    """Waiting tickets of the same service that the policy calls first (what v1 and naive count)."""
    me = ticket or policy.Candidate(NEW_TICKET_ID, service, snap.at, priority)
    n = 0
    for t in snap.waiting:
        if t.id == me.id or t.service != service or t.target_window is not None:
            continue
        earlier = (t.queued_at, t.id) < (me.queued_at, me.id)
        if (me.priority is None and (t.priority is not None or earlier)) or \
                (me.priority is not None and t.priority is not None and earlier):
            n += 1
    return n


def open_windows(snap: HallSnapshot, service: str) -> int:
    """Open (not paused, not closed) windows that serve the service: what v1 divides by."""
    return sum(1 for w in snap.windows if w.state == "open" and service in w.services)


def _work_ahead(snap: HallSnapshot, me: policy.Candidate, group: Sequence[WindowNow],
                new: bool) -> tuple[float, float]:
    """Seconds of work, and how many tickets, the call policy puts before `me` at its windows.

    A ticket another window could also take counts only by the share of our group in it.
    """
    keys = tuple(_ahead_key(snap, w, me, new) for w in group)
    work_key = ("work", tuple(w.number for w in group), keys)
    hit = snap._memo.get(work_key) if new else None
    if isinstance(hit, tuple):
        return hit
    active = [w for w in snap.windows if _active(w)]
    ahead: dict[int, policy.Candidate] = {}
    for w, key in zip(group, keys):
        ahead.update((t.id, t) for t in _ahead_at(snap, w, me, key))
    in_group = {w.number for w in group}
    work = count = 0.0
    for t in ahead.values():
        servers = [w.number for w in active if _serves(w, t.service, t.target_window)]
        share = sum(1 for n in servers if n in in_group) / len(servers) if servers else 1.0
        work += share * snap.minutes_of(t.service) * 60.0
        count += share
    if new:
        snap._memo[work_key] = (work, count)
    return work, count


def wait_v2(snap: HallSnapshot, service: str, priority: str | None = None,
            ticket: policy.Candidate | None = None) -> int | None:
    """Estimate v2: work ranked ahead at the windows that can call the ticket, shared among them.

    `ticket` is a waiting ticket (its place in the queue); without it, a new ticket of `service`
    issued now. None when no window that could call it is staffed (open or on a break).
    """
    me = ticket or policy.Candidate(NEW_TICKET_ID, service, snap.at, priority)
    group = [w for w in snap.windows if _active(w) and _serves(w, me.service, me.target_window)]
    if not group:
        return None
    work, _ = _work_ahead(snap, me, group, ticket is None)
    active = [w for w in snap.windows if _active(w)]
    base = (sum(_residual_v2(snap, w) for w in group) + work) / len(group)
    # Tickets that arrive later but are called first stretch the wait: T = base / (1 - rho).
    rho = 0.0 if me.priority is not None else _overtaking_load(snap, group, me, active)
    wait = base / (1.0 - min(rho, OVERTAKE_CAP))
    return max(0, round(_with_breaks(snap, group, wait)))


def _with_breaks(snap: HallSnapshot, group: Sequence[WindowNow], wait: float) -> float:
    """Add the breaks the group's windows will likely start while the ticket waits.

    A break that starts before the ticket is called takes its length off one window's capacity:
    the wait grows by its expected length shared among the group. Only breaks starting within
    the wait as foreseen count: one that starts after the call delays someone else. (The first
    version iterated to a fixed point over the lengthened wait, so breaks due after the call
    counted too: with a thin history, "1 ahead, 3 minutes" became 20.)
    """
    if snap.day_s is None or not snap.breaks.starts_s:
        return wait
    due = sum(1 for w in group if w.state == "open" and not w.paused_today)
    if not due:
        return wait
    lost = due * snap.breaks.p_start(snap.day_s, snap.day_s + wait) * snap.breaks.mean_s
    return wait + lost / len(group)


def _ahead_key(snap: HallSnapshot, w: WindowNow, me: policy.Candidate, new: bool) -> tuple[object, ...] | None:
    """What a new ticket's place at window w depends on (None: not shareable, an issued ticket).

    A new ticket is the last one queued, so at a window its place depends only on whether it is a
    priority and, under strict order, on its service's rank there, not on which service it is.
    """
    if not new:
        return None
    rank = w.services.index(me.service) if snap.strategy == policy.STRICT_ORDER and me.service in w.services else -1
    return ("ahead", w.number, me.priority is not None, rank)


def _ahead_at(snap: HallSnapshot, w: WindowNow, me: policy.Candidate,
              key: tuple[object, ...] | None) -> list[policy.Candidate]:
    """The tickets window w calls before `me`, by the call policy itself."""
    hit = snap._memo.get(key) if key is not None else None
    if isinstance(hit, list):
        return hit
    pool = list(snap.waiting) if key is None else [*snap.waiting, me]
    out = []
    for choice in policy.rank_candidates(_profile(snap, w), pool, w.priority_streak):
        if choice.ticket.id == me.id:
            break
        out.append(choice.ticket)
    if key is not None:
        snap._memo[key] = out
    return out


def _overtaking_load(snap: HallSnapshot, group: Sequence[WindowNow], me: policy.Candidate,
                     active: Sequence[WindowNow]) -> float:
    """The share of the group's capacity that later arrivals ranked before `me` will take."""
    return _overtaking(snap, group, me, active)[0]


def _overtaking(snap: HallSnapshot, group: Sequence[WindowNow], me: policy.Candidate,
                active: Sequence[WindowNow]) -> tuple[float, float]:
    """The overtaking load (share of the group's capacity) and the group time one overtaker takes (s)."""
    in_group = {w.number for w in group}
    load_min_per_hour = 0.0
    per_hour_in_group = 0.0
    for (svc, is_priority), per_hour in snap.arrivals.items():
        if per_hour <= 0:
            continue
        overtakes = is_priority
        if not overtakes and snap.strategy == policy.STRICT_ORDER and me.target_window is None:
            # under strict order a window calls its earlier-listed services first
            overtakes = any(svc in w.services and me.service in w.services
                            and w.services.index(svc) < w.services.index(me.service) for w in group)
        if not overtakes:
            continue
        servers = [w.number for w in active if svc in w.services]
        if not servers:
            continue
        share = sum(1 for n in servers if n in in_group) / len(servers)
        load_min_per_hour += per_hour * share * snap.minutes_of(svc)
        per_hour_in_group += per_hour * share
    if per_hour_in_group <= 0:
        return 0.0, 0.0
    return load_min_per_hour / (60.0 * len(group)), load_min_per_hour * 60.0 / per_hour_in_group / len(group)


def poisson_median(mean: float) -> int:
    """The median of a Poisson count with this mean (Choi's bound: within 1/3 of the mean)."""
    if mean < math.log(2.0):
        return 0
    return max(0, math.floor(mean + 1.0 / 3.0 - 0.02 / mean))


def stretch(base: float, rho: float, each_s: float) -> float:
    """A wait of `base` seconds once later arrivals that are called first have cut in.

    On average they stretch it to base / (1 - rho) (each overtaker's own overtakers included),
    but they come one by one, each taking `each_s`: the figure counts the number of them most
    likely to come (the Poisson median of the mean count), so a ticket next in line is not told
    twice its wait because an overtaker *might* arrive in the next three minutes, while a long
    wait still gets about the mean (the first version stretched every wait by the mean).
    """
    if rho <= 0 or each_s <= 0 or base <= 0:
        return base
    mean_extra = base / (1.0 - min(rho, OVERTAKE_CAP)) - base
    return base + poisson_median(mean_extra / each_s) * each_s


# ----- every waiting ticket at once ------------------------------------------------------------
class CallPlan:
    """The call policy run forward from a snapshot, fast: when each waiting ticket is called.

    Every staffed window frees up after its residual (its current ticket, its break), then calls
    by the policy itself: its own order (longest wait, or its service order under strict order),
    priorities first but an ordinary ticket after `priority_ratio` of them in a row; each ticket
    takes its service's typical time; nobody new arrives. Each window sorts its two lists once and
    walks them, skipping what others took: O(windows x queue) after the sorts, where re-ranking
    the pool at every call (`simulate_calls`, the reference) is quadratic.
    """

    def __init__(self, snap: HallSnapshot, horizon_s: float = 12 * 3600.0) -> None:
        import heapq

        self.snap = snap
        self.windows = {w.number: w for w in snap.windows if _active(w)}
        self.calls: dict[int, float] = {}  # ticket id -> seconds until its call
        self.slot: dict[int, tuple[int, int]] = {}  # ticket id -> (window calling it, its calls before it)
        # per window: (pop time, rank of the ordinary ticket it called, or None) in order; drain time
        self.pops: dict[int, list[tuple[float, int | None]]] = {n: [] for n in self.windows}
        self.pop_services: dict[int, list[str]] = {n: [] for n in self.windows}  # the service of each call
        self.drain: dict[int, float] = {}
        lists: dict[int, tuple[list[policy.Candidate], list[policy.Candidate]]] = {}
        ranks: dict[int, dict[str, int]] = {}
        # each window's pool (`policy.eligible`) from the queue grouped once: those sent to it and the
        # unsent ones of its services, without a pass over the whole queue per window
        by_service: dict[str, list[policy.Candidate]] = {}
        by_target: dict[int, list[policy.Candidate]] = {}
        for c in snap.waiting:
            if c.target_window is None:
                by_service.setdefault(c.service, []).append(c)
            else:
                by_target.setdefault(c.target_window, []).append(c)
        for n, w in self.windows.items():
            profile = _profile(snap, w)
            key = policy.order_key(profile)
            pool = list(by_target.get(n, ()))
            for code in dict.fromkeys(w.services):
                pool += by_service.get(code, ())
            lists[n] = (sorted((c for c in pool if c.priority), key=key),
                        sorted((c for c in pool if not c.priority), key=key))
            ranks[n] = {code: i for i, code in enumerate(w.services)}
        heads = {n: [0, 0] for n in self.windows}
        streak = {n: w.priority_streak for n, w in self.windows.items()}
        free = [(_residual_s(snap, w), n) for n, w in self.windows.items()]
        self.free0 = {n: at for at, n in free}  # when each window first calls
        heapq.heapify(free)
        strict = snap.strategy == policy.STRICT_ORDER
        while free:
            at, n = heapq.heappop(free)
            prio, normal = lists[n]
            head = heads[n]
            while head[0] < len(prio) and prio[head[0]].id in self.calls:
                head[0] += 1
            while head[1] < len(normal) and normal[head[1]].id in self.calls:
                head[1] += 1
            has_p, has_n = head[0] < len(prio), head[1] < len(normal)
            if (not has_p and not has_n) or at > horizon_s:
                self.drain[n] = at
                continue
            if has_p and (not has_n or streak[n] < snap.priority_ratio):
                chosen, rank = prio[head[0]], None
                streak[n] += 1
            else:
                chosen = normal[head[1]]
                rank = (0 if chosen.target_window == n else ranks[n].get(chosen.service, 0)) if strict else 0
                streak[n] = 0
            self.calls[chosen.id] = at
            self.slot[chosen.id] = (n, len(self.pops[n]))
            self.pops[n].append((at, rank))
            self.pop_services[n].append(chosen.service)
            heapq.heappush(free, (at + snap.minutes_of(chosen.service) * 60.0, n))

    def new_ordinary(self, window: int, service: str) -> float:
        """When `window` would call an ordinary ticket of `service` issued now."""
        return self.new_slot(window, service)[0]

    def new_slot(self, window: int, service: str) -> tuple[float, int]:
        """When `window` would call an ordinary ticket of `service` issued now, and its calls before it.

        It is the newest, so the window takes it at its first call of an ordinary ticket ranked
        after it (under strict order, a later service of the window), or once it has nothing left.
        """
        w = self.windows[window]
        mine = w.services.index(service) if self.snap.strategy == policy.STRICT_ORDER else 0
        pops = self.pops[window]
        for i, (at, rank) in enumerate(pops):
            if rank is not None and rank > mine:
                return at, i
        return self.drain.get(window, 0.0), len(pops)

    def new_priority_slot(self, window: int) -> tuple[float, int]:
        """When `window` would call a priority ticket issued now, and its calls before it (longest wait).

        It is the newest of the priority list, so until a window takes it the plan is the same with
        it or without it: the window takes it at its first call of an ordinary ticket made while its
        streak allowed another priority one (it had none left then), or once it has nothing left.
        Under strict order a priority ticket ranks by its service, not last: plan it with the queue.
        """
        streak = self.windows[window].priority_streak
        pops = self.pops[window]
        for i, (at, rank) in enumerate(pops):
            if rank is None:
                streak += 1
            elif streak < self.snap.priority_ratio:
                return at, i
            else:
                streak = 0
        return self.drain.get(window, 0.0), len(pops)

    def cycles(self, window: int, k: int, at: float) -> list[float]:
        """The window times of the `k` tickets `window` calls before a ticket it calls at `at`."""
        times = [t for t, _ in self.pops[window][:k]] + [at]
        return [b - a for a, b in zip(times, times[1:])]

    def cycle_services(self, window: int, k: int) -> list[str]:
        """The services of the `k` tickets `window` calls first (those of `cycles`)."""
        return self.pop_services[window][:k]


class LiveWaits:
    """The default estimate (v3) for every waiting ticket and for a new ticket of any service.

    The call plan (the policy run forward, once per change) says when each ticket is called if
    nobody new came; later arrivals that overtake (priorities, strict order) stretch it by the
    overtaking load, and breaks likely to start meanwhile are added, as in v2.
    """

    def __init__(self, snap: HallSnapshot, near_quantile: float | None = NEAR_QUANTILE) -> None:
        self.snap = snap
        self.plan = CallPlan(snap)
        self.active = list(self.plan.windows.values())
        self.near_quantile = near_quantile  # None: every ticket gets the plan's (mean) figure
        self._rho: dict[tuple[object, ...], tuple[float, float]] = {}
        self._near: dict[tuple[int, int, float], float] = {}

    def near(self, window: int, k: int, at: float) -> float | None:
        """The cap on a near-the-front ticket's figure: NEAR_RATIO x the NEAR_QUANTILE of its wait.

        `k` tickets are called before it at `window`, the window the plan gives it. Its wait is what is
        left of a break (its length spread by the hall's BreakPattern.cv), plus what the citizen at the
        window has left (0 at a free window), plus the window times of those `k`. Each citizen is a
        mixture: with the hall's no-show share he never comes and the window is free again after the
        no-show time (`noshow_s`); else a lognormal window time with his service's learned spread
        (`HallSnapshot.spread_of`), of the mean that keeps the service's typical time (no-shows
        included, as learned). The one at the window is conditioned on the time already spent (a
        no-show is less and less likely as it passes). The wait is then a mixture over who of them is a
        no-show: each case a single conditional lognormal (exact) or a sum (Fenton-Wilkinson), and the
        quantile of the mixture is found by bisection (`mixture_quantile`). None: no cap (too far from
        the front, or off). Memoised per (window, k, at): new tickets share slots.
        """
        q = self.near_quantile
        if q is None or k > NEAR_AHEAD:
            return None
        key = (window, k, at)
        hit = self._near.get(key)
        if hit is None:
            hit = self._near[key] = NEAR_RATIO * max(self._near_quantile(window, k, at, q), NEAR_FLOOR_S)
        return hit

    def _near_quantile(self, window: int, k: int, at: float, q: float) -> float:
        snap, w = self.snap, self.plan.windows[window]
        p = min(max(snap.p_noshow, 0.0), 0.5)
        ns, ns_var = snap.noshow_s, (NOSHOW_CV * snap.noshow_s) ** 2

        def served(typical: float) -> float:
            return served_mean(typical, p, ns)

        # fixed terms: a break's rest (mean, variance), then the citizen at the window by mode
        base_mean = base_var = 0.0
        paused = w.state == "paused"
        if paused and snap.breaks.cv > 0:
            base_mean, base_var = remaining_moments(snap.breaks.mean_s, w.paused_s or 0.0, snap.breaks.cv)
        elif paused:
            base_mean = max(snap.breaks.mean_s - (w.paused_s or 0.0), 0.0)
        if not k and w.busy_s is None:
            if not paused:
                return 0.0  # a free window calls it now
            if snap.breaks.cv > 0:  # only the break's rest: its exact conditional law
                return remaining_s(snap.breaks.mean_s, w.paused_s or 0.0, snap.breaks.cv, q)
        modes: list[tuple[float, float, float, float, float]] = []  # (weight, mean, var, elapsed, cv)
        if w.busy_s is not None:
            typical = snap.minutes_of(w.busy_service or "") * 60.0
            cv = snap.spread_of(w.busy_service)  # his service's spread
            e = w.busy_s
            m, w_ln, w_ns = _at_window_modes(typical, e, cv, p, ns, w.busy_status, snap.show_delays)
            norm = w_ln + w_ns
            if norm < 1e-12:  # far beyond any typical length: as `remaining_s`, a tenth of it to go
                modes.append((1.0, 0.1 * typical, (cv * 0.1 * typical) ** 2, 0.0, cv))
            else:
                if w_ln > 0:
                    modes.append((w_ln / norm, m, (cv * m) ** 2, e, cv))
                if w_ns > 0:
                    modes.append((w_ns / norm, ns, ns_var, e, NOSHOW_CV))
        else:
            modes.append((1.0, 0.0, 0.0, 0.0, 0.0))
        cycles = self.plan.cycles(window, k, at) if k else []
        kinds = self.plan.cycle_services(window, k) if k else []
        ln_mean = sum(served(c) for c in cycles)
        ln_var = sum((snap.spread_of(svc) * served(c)) ** 2 for c, svc in zip(cycles, kinds))
        parts = []
        for wm, mean, var, e, mcv in modes:
            for j in range(k + 1):  # j of the k before it are no-shows
                wj = wm * math.comb(k, j) * p ** j * (1.0 - p) ** (k - j)
                if wj <= 0.0:
                    continue
                share = (k - j) / k if k else 0.0
                c_mean, c_var = share * ln_mean + j * ns, share * ln_var + j * ns_var
                if not paused and not k:  # only the citizen at the window: his exact conditional law
                    parts.append(_ln_part(wj, mean, var, e))
                    continue
                r_mean, r_var = remaining_moments(mean, e, mcv) if e > 0 else (mean, var)
                parts.append(_ln_part(wj, base_mean + r_mean + c_mean, base_var + r_var + c_var))
        return mixture_quantile(parts, q)

    def _finish(self, group: Sequence[WindowNow], at: float, me: policy.Candidate,
                slot: tuple[int, int] | None, cautious: bool = True) -> int:
        out = at
        if me.priority is None:
            key = (tuple(w.number for w in group), me.service, me.target_window)
            if key not in self._rho:
                self._rho[key] = _overtaking(self.snap, group, me, self.active)
            out = stretch(at, *self._rho[key])
        out = _with_breaks(self.snap, group, out)
        cap = self.near(*slot, at) if slot is not None and cautious else None
        if cap is not None:  # overtakers and breaks only lengthen the wait: the cap holds after them
            out = min(out, cap)
        return max(0, round(out))

    def ticket(self, t: policy.Candidate, cautious: bool = True) -> int | None:
        """The wait of a ticket of the snapshot's queue; None when no staffed window can call it.

        `cautious=False`: the plan's figure, without the near-the-front cap (`near`): what "you are
        next" is decided on, since the cautious figure may be a few minutes while the plan says more.
        """
        group = [w for w in self.active if _serves(w, t.service, t.target_window)]
        if not group:
            return None
        at = self.plan.calls.get(t.id)
        if at is None:  # beyond the plan's horizon
            at = max(self.plan.drain.get(w.number, 0.0) for w in group)
        return self._finish(group, at, t, self.plan.slot.get(t.id), cautious)

    def new(self, service: str, priority: str | None = None, cautious: bool = True) -> int | None:
        """The wait of a ticket of `service` issued now (`cautious`: as for `ticket`)."""
        group = [w for w in self.active if service in w.services]
        if not group:
            return None
        if priority is not None:
            if self.snap.strategy == policy.STRICT_ORDER:  # it ranks by its service: plan it with the queue
                return wait_v3(self.snap, service, priority, near_quantile=self.near_quantile if cautious else None)
            # the first window whose plan leaves room for one more priority ticket (ties: the lower
            # number, as the plan's own heap); a whole new plan per priority ticket ranked every waiting
            # ticket inside its request (4% of all issue CPU at 2,500 waiting, py-spy)
            at, n, k = min((at, w.number, k) for w in group for at, k in (self.plan.new_priority_slot(w.number),))
            return self._finish(group, at, policy.Candidate(NEW_TICKET_ID, service, self.snap.at, priority), (n, k),
                                cautious)
        me = policy.Candidate(NEW_TICKET_ID, service, self.snap.at, None)
        at, k, n = min((*self.plan.new_slot(w.number, service), w.number) for w in group)
        return self._finish(group, at, me, (n, k), cautious)


def wait_v3(snap: HallSnapshot, service: str, priority: str | None = None,
            ticket: policy.Candidate | None = None, near_quantile: float | None = NEAR_QUANTILE) -> int | None:
    """Estimate v3 (the default): the call policy run forward (`CallPlan`), stretched by overtaking.

    `ticket` is a waiting ticket of the snapshot; without it, a new ticket of `service` issued now,
    planned with the queue. None when no window that could call it is staffed.
    """
    me = ticket or policy.Candidate(NEW_TICKET_ID, service, snap.at, priority)
    group = [w for w in snap.windows if _active(w) and _serves(w, me.service, me.target_window)]
    if not group:
        return None
    if ticket is None:
        snap = replace(snap, waiting=(*snap.waiting, me), _memo={})
    return LiveWaits(snap, near_quantile).ticket(me)


# ----- the ground truth of the estimates ---------------------------------------------------------
def simulate_calls(snap: HallSnapshot, horizon_s: float = 12 * 3600.0) -> dict[int, float]:
    """Seconds until each waiting ticket is called if the call policy runs forward from `snap`.

    Every staffed window frees up after its residual (current ticket, break), then calls by the
    policy itself (its services, priorities and streak), each ticket taking its service's typical
    time; nobody new arrives. What the estimators approximate, used to test them. Tickets not
    called within the horizon (no window serves them) are absent.
    """
    import heapq

    windows = {w.number: w for w in snap.windows if _active(w)}
    free = [(_residual_s(snap, w), w.number) for w in windows.values()]
    heapq.heapify(free)
    streak = {n: w.priority_streak for n, w in windows.items()}
    pool = {t.id: t for t in snap.waiting}
    out: dict[int, float] = {}
    while free and pool:
        at, number = heapq.heappop(free)
        if at > horizon_s:
            break
        ranked = policy.rank_candidates(_profile(snap, windows[number]), pool.values(), streak[number])
        if not ranked:
            continue  # nothing this window can ever call: the pool only shrinks
        choice = ranked[0]
        out[choice.ticket.id] = at
        streak[number] = choice.priority_streak
        del pool[choice.ticket.id]
        heapq.heappush(free, (at + snap.minutes_of(choice.ticket.service) * 60.0, number))
    return out


# ----- last to enter service -------------------------------------------------------------------
LES_MAX_AGE_S = 30 * 60.0  # a call older than this says little about the queue now


def wait_les(snap: HallSnapshot, service: str, priority: str | None = None,
             ticket: policy.Candidate | None = None) -> int | None:
    """The delay of the last ticket to be called at the windows that can call this one.

    A classic predictor for queues whose service times nobody knows (Ibrahim & Whitt's "LES");
    measured here for comparison, not used by default. None without a recent call.
    """
    target = ticket.target_window if ticket is not None else None
    best: tuple[float, float] | None = None
    for w in snap.windows:
        if not (_active(w) and _serves(w, service, target)):
            continue
        last = snap.last_calls.get(w.number)
        if last is not None and last[0] <= LES_MAX_AGE_S and (best is None or last[0] < best[0]):
            best = last
    return None if best is None else max(0, round(best[1]))


# ----- the registry ------------------------------------------------------------------------
def wait_v1(snap: HallSnapshot, service: str, priority: str | None = None,
            ticket: policy.Candidate | None = None) -> int | None:
    """v1 over a snapshot: same-service people ahead x the service's minutes / open windows."""
    ahead = people_ahead(snap, service, priority, ticket)
    minutes = snap.v1_minutes.get(service, snap.hall_minutes)
    return estimate_wait_seconds(WaitInputs(ahead, minutes, open_windows(snap, service)))


def wait_naive(snap: HallSnapshot, service: str, priority: str | None = None,
               ticket: policy.Candidate | None = None) -> int | None:
    """The baseline over a snapshot."""
    return naive_wait_seconds(people_ahead(snap, service, priority, ticket), snap.hall_minutes,
                              open_windows(snap, service))


Estimator = Callable[..., "int | None"]
ESTIMATORS: dict[str, Estimator] = {"naive": wait_naive, "v1": wait_v1, "v2": wait_v2, "v3": wait_v3,
                                    "les": wait_les}
DEFAULT_ESTIMATOR = "v3"  # the most accurate in bench/bench_estimates.py (see bench/estimates_results.md)


def estimate_all(snap: HallSnapshot, service: str, priority: str | None = None,
                 ticket: policy.Candidate | None = None) -> dict[str, int | None]:
    """Every estimator's answer for the same ticket and snapshot (for measuring them)."""
    return {name: fn(snap, service, priority, ticket) for name, fn in ESTIMATORS.items()}
