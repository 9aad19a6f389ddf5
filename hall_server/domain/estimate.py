"""Wait estimates: how long a citizen will wait before a window calls them.

Three estimators live here so they can be measured against each other (bench/bench_estimates.py):

- `naive`: people ahead in the same service x the hall's mean service time / open windows.
- `v1`: people ahead in the same service x that service's typical minutes / open windows
  serving it (the first version shipped).
- `v2` (the default, see DEFAULT_ESTIMATOR): the work queued ahead of the ticket at the windows
  that can call it. A window usually serves several services and calls across them by the call
  policy, so everyone ranked before the ticket at those windows counts, each with their own
  service's typical time; plus what the windows still have in hand (the ticket at the window, a
  break), plus the tickets that will overtake it while it waits (priorities, strict order), plus
  the breaks its windows are likely to take meanwhile (learned from the hall's own pauses).

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
SERVICE_CV = 0.5  # spread (sd / mean) of a ticket's window time until the hall's history says otherwise
NEXT_QUANTILE = 0.5  # the figure for "next at a busy window" is the median of what the current citizen has left
TYPICAL_BREAK_S = 15 * 60.0  # a paused window is assumed back after this, until history says otherwise
OVERTAKE_CAP = 0.6  # beyond this the queue is unstable: promise at most 2.5x the work ahead, not a runaway
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


@dataclass(frozen=True)
class BreakPattern:
    """When and how long the hall's windows pause, from past days' pause events."""

    starts_s: tuple[float, ...] = ()  # sorted: each window-day's first pause, seconds after local midnight
    window_days: int = 0  # window-days worked in the same history (some take no break)
    mean_s: float = TYPICAL_BREAK_S  # mean length of a pause

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
    spread: float = SERVICE_CV  # sd / mean of a ticket's window time (the hall's history)
    # per-snapshot memo of a new ticket's place at each window (queue_state asks for every service)
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict, compare=False, repr=False)

    def minutes_of(self, service: str) -> float:
        """The v2 typical minutes of a service (the hall mean if the service is unknown)."""
        return self.minutes.get(service, self.hall_minutes)


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

    Window times are skewed (most short, a few very long): modelled as lognormal with the hall's
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


def _residual_s(snap: HallSnapshot, w: WindowNow, quantile: float | None = None) -> float:
    """Seconds until the window can call again: the rest of its current ticket and of its break."""
    left = 0.0
    if w.busy_s is not None:
        left += remaining_s(snap.minutes_of(w.busy_service or "") * 60.0, w.busy_s, snap.spread, quantile)
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
        # per window: (pop time, rank of the ordinary ticket it called, or None) in order; drain time
        self.pops: dict[int, list[tuple[float, int | None]]] = {n: [] for n in self.windows}
        self.drain: dict[int, float] = {}
        lists: dict[int, tuple[list[policy.Candidate], list[policy.Candidate]]] = {}
        ranks: dict[int, dict[str, int]] = {}
        for n, w in self.windows.items():
            profile = _profile(snap, w)
            key = policy.order_key(profile)
            pool = policy.eligible(profile, snap.waiting)
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
            self.pops[n].append((at, rank))
            heapq.heappush(free, (at + snap.minutes_of(chosen.service) * 60.0, n))

    def new_ordinary(self, window: int, service: str) -> float:
        """When `window` would call an ordinary ticket of `service` issued now.

        It is the newest, so the window takes it at its first call of an ordinary ticket ranked
        after it (under strict order, a later service of the window), or once it has nothing left.
        """
        w = self.windows[window]
        mine = w.services.index(service) if self.snap.strategy == policy.STRICT_ORDER else 0
        for at, rank in self.pops[window]:
            if rank is not None and rank > mine:
                return at
        return self.drain.get(window, 0.0)


class LiveWaits:
    """The default estimate (v3) for every waiting ticket and for a new ticket of any service.

    The call plan (the policy run forward, once per change) says when each ticket is called if
    nobody new came; later arrivals that overtake (priorities, strict order) stretch it by the
    overtaking load, and breaks likely to start meanwhile are added, as in v2.
    """

    def __init__(self, snap: HallSnapshot) -> None:
        self.snap = snap
        self.plan = CallPlan(snap)
        self.active = list(self.plan.windows.values())
        self._rho: dict[tuple[object, ...], tuple[float, float]] = {}
        # a ticket a busy window calls first waits for one citizen's remaining time: its median
        self._next: dict[int, tuple[float, float]] = {
            n: (self.plan.free0[n], _residual_s(snap, w, NEXT_QUANTILE))
            for n, w in self.plan.windows.items() if w.state == "open" and w.busy_s is not None}

    def _finish(self, group: Sequence[WindowNow], at: float, me: policy.Candidate) -> int:
        for w in group:
            hit = self._next.get(w.number)
            if hit is not None and at == hit[0]:  # the first ticket this window calls: me
                at = min(at, hit[1])
        out = at
        if me.priority is None:
            key = (tuple(w.number for w in group), me.service, me.target_window)
            if key not in self._rho:
                self._rho[key] = _overtaking(self.snap, group, me, self.active)
            out = stretch(at, *self._rho[key])
        return max(0, round(_with_breaks(self.snap, group, out)))

    def ticket(self, t: policy.Candidate) -> int | None:
        """The wait of a ticket of the snapshot's queue; None when no staffed window can call it."""
        group = [w for w in self.active if _serves(w, t.service, t.target_window)]
        if not group:
            return None
        at = self.plan.calls.get(t.id)
        if at is None:  # beyond the plan's horizon
            at = max(self.plan.drain.get(w.number, 0.0) for w in group)
        return self._finish(group, at, t)

    def new(self, service: str, priority: str | None = None) -> int | None:
        """The wait of a ticket of `service` issued now."""
        group = [w for w in self.active if service in w.services]
        if not group:
            return None
        if priority is not None:  # where a priority lands depends on every window's streak: plan it
            return wait_v3(self.snap, service, priority)
        me = policy.Candidate(NEW_TICKET_ID, service, self.snap.at, None)
        return self._finish(group, min(self.plan.new_ordinary(w.number, service) for w in group), me)


def wait_v3(snap: HallSnapshot, service: str, priority: str | None = None,
            ticket: policy.Candidate | None = None) -> int | None:
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
    return LiveWaits(snap).ticket(me)


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
