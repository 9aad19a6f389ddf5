"""Wait estimates and the hall's live state, computed once per change and shared by every reader.

`WaitEstimates` owns its caches: today's recent service times (refreshed every DURATIONS_TTL of
the app's clock), past days' history (once a day) and, per hall, the `LiveView`: waiting counts,
open windows, and the estimate of every waiting ticket and of a new ticket of every service,
derived from one snapshot of the hall at one `seq`. Requests, the broadcaster and every `join`
share it; a request never ranks the queue itself.
"""
from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import String, bindparam, or_, select, type_coerce
from sqlalchemy.engine import Connection, Engine

from config import HallDef, Settings
from hall_server.application.common import Clock
from hall_server.domain import estimate, numbering, policy
from hall_server.domain.events import EventKind
from hall_server.domain.tickets import Status
from hall_server.domain.windows import takes_tickets
from hall_server.storage import Prepared, halls, read_tx, ticket_events, tickets, windows

RECENT_SAMPLES = 10
DURATIONS_TTL = 15.0  # seconds (of the app's clock) a hall's recent service times are reused
HISTORY_DAYS = 28  # past days whose service times are the prior of the estimates
DRIFT_S = 5.0  # app-clock seconds after which a view is rebuilt even without a change (time moves waits)
# A live state walks the hall's whole queue (21-30 ms at 3,000-9,000 waiting): at most this share of the
# time goes to rebuilding it, whoever rebuilds it (the broadcaster's coalesced queue_changed, or a
# request that finds it too old), so its cost per ticket does not grow with the queue.
REBUILD_SHARE = 0.05
REBUILD_PAUSE_MAX_S = 2.0


def rebuild_pause(build_s: float, floor_s: float) -> float:
    """How long a live state that took `build_s` to build serves before the next: at least `floor_s`,
    long enough that rebuilds take at most REBUILD_SHARE of the time, at most REBUILD_PAUSE_MAX_S."""
    return min(max(floor_s, build_s / REBUILD_SHARE), max(floor_s, REBUILD_PAUSE_MAX_S))


@dataclass
class _RecentTimes:
    """A hall's recent inputs of the wait estimates."""

    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    occupation: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    arrivals: dict[tuple[str, bool], float] = field(default_factory=dict)
    last_calls: dict[int, tuple[float, float]] = field(default_factory=dict)
    paused_today: set[int] = field(default_factory=set)
    turnarounds: list[float] = field(default_factory=list)  # seconds from a finish to the window's next call
    show_delays: list[float] = field(default_factory=list)  # today's seconds from the call to "start"
    # today's served citizens' window times (call to finish, DONE), per service: (n, sum log t, sum (log t)^2)
    served_logs: dict[str, tuple[int, float, float]] = field(default_factory=dict)


@dataclass
class _History:
    """A hall's past days as the wait estimates use them."""

    times: dict[str, tuple[float, int]] = field(default_factory=dict)  # service -> (mean s, count)
    turnaround: tuple[float, int] = (0.0, 0)  # mean seconds from a finish to the next call, and count
    breaks: estimate.BreakPattern = field(default_factory=estimate.BreakPattern)
    noshow: tuple[int, int] = (0, 0)  # called tickets that ended as no-shows, and all called tickets
    noshow_time: tuple[float | None, int] = (None, 0)  # mean seconds from the call to the no-show mark, count
    show_delays: list[float] = field(default_factory=list)  # seconds from the call to "start", citizens who came
    # served citizens' window times (call to finish, DONE) per service: (n, sum log t, sum (log t)^2)
    served_logs: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    # (weekday, hour) -> (service, priority?) -> mean arrivals in that hour on such days
    arrivals: dict[tuple[int, int], dict[tuple[str, bool], float]] = field(default_factory=dict)


@dataclass
class LiveView:
    """A hall at one `seq`: counts, open windows and estimates, shared until the next change."""

    hall: str
    seq: int
    built: float  # time.monotonic() when built
    snap: estimate.HallSnapshot
    estimator: str
    waiting: dict[str, int]
    open: dict[str, int]
    live: estimate.LiveWaits | None
    build_s: float = 0.0  # how long it took to build (`rebuild_pause`)
    _etas: dict[int, int | None] = field(default_factory=dict)  # waiting ticket id -> seconds, as asked
    _ids: dict[int, policy.Candidate] | None = None
    _new: dict[tuple[str, str | None, bool], int | None] = field(default_factory=dict)  # (service, priority, cautious)
    _ahead: dict[tuple[str, bool], int] | None = None  # (service, priority?) -> people ahead of a new ticket
    _positions: dict[int, int] | None = None

    @property
    def positions(self) -> dict[int, int]:
        """Waiting ticket id -> people ahead, the phone's rule (`estimate.people_ahead`), once per view.

        Same service, not sent to a window: a priority ticket counts the priority tickets issued
        before it; an ordinary one every priority ticket and the ordinary ones issued before it.
        One sort per service instead of a count per ticket.
        """
        if self._positions is None:
            out: dict[int, int] = {}
            by_service: dict[str, list[policy.Candidate]] = defaultdict(list)
            for t in self.snap.waiting:
                by_service[t.service].append(t)
            for group in by_service.values():
                group.sort(key=lambda t: (t.queued_at, t.id))
                prio_before = ordinary_before = 0
                prio_total = sum(1 for t in group if t.priority is not None and t.target_window is None)
                for t in group:
                    if t.priority is not None:
                        out[t.id] = prio_before
                    else:
                        out[t.id] = prio_total + ordinary_before
                    if t.target_window is None:
                        if t.priority is not None:
                            prio_before += 1
                        else:
                            ordinary_before += 1
            self._positions = out
        return self._positions

    def position_of(self, ticket: policy.Candidate) -> int:
        """People ahead of a waiting ticket; one newer than the view is counted on the view's queue."""
        hit = self.positions.get(ticket.id)
        return hit if hit is not None else estimate.people_ahead(self.snap, ticket.service, ticket.priority, ticket)

    def new_ahead(self, service: str, priority: str | None) -> int:
        """People ahead of a ticket of `service` issued at the view's moment (`estimate.people_ahead`).

        Counted for every service in one pass the first time it is asked: issuing asks it for
        each ticket, and a count per service was a walk over the whole queue per issue.
        """
        if self._ahead is None:
            at = (self.snap.at, estimate.NEW_TICKET_ID)
            counts: dict[tuple[str, bool], int] = defaultdict(int)
            for t in self.snap.waiting:
                if t.target_window is not None:
                    continue
                earlier = (t.queued_at, t.id) < at
                if t.priority is not None:
                    counts[(t.service, False)] += 1  # an ordinary new ticket: every priority one
                    if earlier:
                        counts[(t.service, True)] += 1  # a priority new ticket: the earlier priority ones
                elif earlier:
                    counts[(t.service, False)] += 1
            self._ahead = dict(counts)
        return self._ahead.get((service, priority is not None), 0)

    def eta_new(self, service: str, priority: str | None = None, cautious: bool = True) -> int | None:
        """Seconds until a ticket of `service` issued now is called (memoised per view).

        `cautious=False`: the plan's figure, without the near-the-front cap (`estimate.LiveWaits.near`).
        """
        cautious = cautious or self.live is None  # the other estimators have no cap
        key = (service, priority, cautious)
        if key not in self._new:
            if self.live is not None:
                self._new[key] = self.live.new(service, priority, cautious)
            else:
                self._new[key] = estimate.ESTIMATORS[self.estimator](self.snap, service, priority)
        return self._new[key]

    def _known(self, ticket: policy.Candidate) -> policy.Candidate | None:
        """The view's own entry for a waiting ticket; None when it is newer than the view."""
        if self._ids is None:
            self._ids = {t.id: t for t in self.snap.waiting}
        return self._ids.get(ticket.id)

    def eta_of(self, ticket: policy.Candidate, ahead: int | None = None) -> int | None:
        """Seconds until a waiting ticket is called; a ticket newer than the view counts as new.

        Computed when first asked and kept with the view: a change costs the call plan, not an
        estimate for each of thousands of waiting tickets that nobody may look at before the next.
        """
        if ticket.id in self._etas:
            return self._etas[ticket.id]
        known = self._known(ticket)
        if known is None:
            return self.eta_newer(ticket.service, ticket.priority, ahead)
        if self.live is not None:
            eta = self.live.ticket(known)
        else:
            eta = estimate.ESTIMATORS[self.estimator](self.snap, known.service, known.priority, known)
        self._etas[ticket.id] = eta
        return eta

    def plan_eta_of(self, ticket: policy.Candidate, ahead: int | None = None) -> int | None:
        """The plan's figure for a waiting ticket, before the near-the-front caution
        (`estimate.LiveWaits.near`): "you are next" is decided on it. Asked only for a ticket whose
        cautious figure is already within NEXT_MAX_S, so it is not kept."""
        if self.live is None:
            return self.eta_of(ticket, ahead)
        known = self._known(ticket)
        if known is None:
            return self.eta_newer(ticket.service, ticket.priority, ahead, cautious=False)
        return self.live.ticket(known, cautious=False)

    def eta_newer(self, service: str, priority: str | None, ahead: int | None,
                  cautious: bool = True) -> int | None:
        """A new ticket's wait when the queue has grown since this view: `ahead` is its place now.

        Under a rush the view lags the queue by a moment; each ticket of the same service queued
        since then (what `ahead` counts beyond the view's own count) adds its share of the
        service's windows' time, so back-to-back tickets are not all told "now".
        """
        eta = self.eta_new(service, priority, cautious)
        if eta is None or ahead is None:
            return eta
        extra = ahead - self.new_ahead(service, priority)
        if extra <= 0:
            return eta
        windows = sum(1 for w in self.snap.windows if w.state in ("open", "paused") and service in w.services)
        return eta + round(extra * self.snap.minutes_of(service) * 60.0 / max(windows, 1))


# The waiting tickets and those at windows, in one statement, as the driver gives them (times as stored:
# SQLite's text, PostgreSQL's naive UTC datetime): `WaitEstimates._queue` keeps a Candidate per unchanged
# row, so only new rows have their time parsed (a rebuild at 5,000 waiting read them in 12.5 ms through
# SQLAlchemy's result processing, 7.5 ms as they come).
_QUEUE = Prepared(select(tickets.c.id, tickets.c.service, type_coerce(tickets.c.queued_at, String).label("queued_at"),
                         tickets.c.priority, tickets.c.target_window, tickets.c.status, tickets.c.window,
                         type_coerce(tickets.c.called_at, String).label("called_at")).where(
    tickets.c.hall == bindparam("b_hall"),
    or_(*(tickets.c.status == s.value for s in (Status.WAITING, Status.CALLED, Status.SERVING)))))


def _utc(stored: Any) -> datetime:
    """A time as the driver returned it (text on SQLite, a naive datetime on PostgreSQL), aware in UTC."""
    at = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    return at.replace(tzinfo=UTC)


class _AtWindow(NamedTuple):
    """The ticket a window holds, as the snapshot needs it."""

    service: str
    status: str
    called_at: datetime | None


RECENT_TURNAROUNDS = 30  # today's latest turnarounds that move the history's figure


def _turnarounds(rows: Any) -> list[float]:
    """Seconds from a ticket's finish to its window's next call, while the next one was waiting.

    Call-to-finish misses what the window does between two citizens (the clerk closes the file,
    presses "next"): over a day that is minutes the estimates never counted, and they ran short.
    Only gaps where the next ticket was already queued at the finish count (else the window was
    idle, not turning around), and none over TURNAROUND_MAX_S (a pause, or a transferred
    citizen's visit the table no longer shows at that window). Rows: DONE/NO_SHOW tickets with
    window, day, called_at, finished_at, queued_at; oldest gap first.
    """
    by_window: dict[tuple[Any, int], list[Any]] = defaultdict(list)
    for r in rows:
        if r.window is not None and r.called_at is not None and r.finished_at is not None \
                and r.status in (Status.DONE.value, Status.NO_SHOW.value):
            by_window[(r.day, r.window)].append(r)
    out: list[tuple[datetime, float]] = []
    for seq in by_window.values():
        seq.sort(key=lambda r: r.called_at)
        for prev, nxt in zip(seq, seq[1:]):
            gap = (nxt.called_at - prev.finished_at).total_seconds()
            if nxt.queued_at <= prev.finished_at and 0.0 <= gap <= estimate.TURNAROUND_MAX_S:
                out.append((nxt.called_at, gap))
    out.sort(key=lambda g: g[0])
    return [g for _, g in out]


class WaitEstimates:
    """The estimators' inputs and the hall's live state; owns every cache it keeps."""

    def __init__(self, settings: Settings, engine: Engine, clock: Clock, stale_s: float = 0.0) -> None:
        self.settings, self.engine, self.clock, self.stale_s = settings, engine, clock, stale_s
        self.estimator = estimate.DEFAULT_ESTIMATOR  # a name in estimate.ESTIMATORS
        self._lock = threading.Lock()
        self._recent: dict[str, tuple[datetime, datetime, _RecentTimes]] = {}
        self._history: dict[str, tuple[date, _History]] = {}
        self._views: dict[str, LiveView] = {}
        # per hall: the spreads learned from (history, today's times), kept while both objects are the same
        self._spreads: dict[str, tuple[_History, _RecentTimes, tuple[dict[str, float], float]]] = {}
        self._build_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        # per hall: a waiting row as read -> its Candidate (`_queue`)
        self._candidates: dict[str, dict[tuple[Any, ...], policy.Candidate]] = {}
        self._prefixes = sorted({s.prefix for s in settings.catalog.services})

    # ----- the live state ------------------------------------------------------------------
    def view(self, hall: HallDef, seq: int | None = None, max_stale: float | None = None) -> LiveView:
        """The hall's live state at `seq` or later (None: the latest known).

        A view older than `max_stale` real seconds (default: the core's setting; for a view costly to
        build, at least twice the broadcaster's pause after it, `rebuild_pause`) or DRIFT_S app seconds
        is rebuilt (max_stale=0: now, max_stale=math.inf: any view there is, however old); within that a
        reader may get the state of a moment ago, which under a rush is what makes one computation
        serve many requests. One build at a time per hall: readers that wait for it take its result.
        """
        stale = self.stale_s if max_stale is None else max_stale
        cur = self._views.get(hall.code)
        if self._usable(cur, seq, stale):
            assert cur is not None
            return cur
        asked = time.monotonic()
        with self._build_locks[hall.code]:
            cur = self._views.get(hall.code)
            if cur is not None and (cur.built >= asked or self._usable(cur, seq, stale)):
                return cur  # built by another reader while this one waited
            with read_tx(self.engine) as c:
                view = self._build(c, hall)
            self._views[hall.code] = view
            return view

    def _usable(self, cur: LiveView | None, seq: int | None, stale: float) -> bool:
        if cur is None or cur.estimator != self.estimator:
            return False
        if stale == math.inf:  # any age (the broadcaster's immediate push: its fresh rebuild follows)
            return True
        if (self.clock() - cur.snap.at).total_seconds() > DRIFT_S:
            return False
        if seq is not None and cur.seq >= seq:
            return True
        # 0: rebuild now; else a view costly to build serves longer: twice the broadcaster's pause
        # after it (`rebuild_pause`), so that its coalesced rebuild comes first and no request waits for one
        limit = stale if stale <= 0 else max(stale, 2 * rebuild_pause(cur.build_s, 0.0))
        return time.monotonic() - cur.built <= limit

    def forget(self, hall: str | None = None) -> None:
        """Drop cached views (tests that change the estimator or the clock)."""
        if hall is None:
            self._views.clear()
        else:
            self._views.pop(hall, None)

    def _build(self, c: Connection, hall: HallDef) -> LiveView:
        t0 = time.monotonic()
        seq = c.execute(select(halls.c.seq).where(halls.c.code == hall.code)).scalar_one()
        snap = self.snapshot(c, hall)
        waiting: dict[str, int] = defaultdict(int)
        for t in snap.waiting:
            waiting[t.service] += 1
        open_counts: dict[str, int] = defaultdict(int)
        for w in snap.windows:
            if takes_tickets(w.state):  # the kiosk's `open`: the rule issuing refuses by
                for code in w.services:
                    open_counts[code] += 1
        live = estimate.LiveWaits(snap) if self.estimator == estimate.DEFAULT_ESTIMATOR else None
        built = time.monotonic()
        return LiveView(hall.code, seq, built, snap, self.estimator, dict(waiting), dict(open_counts), live,
                        build_s=built - t0)

    # ----- the snapshot ---------------------------------------------------------------------
    def snapshot_now(self, hall: HallDef) -> estimate.HallSnapshot:
        """The hall's snapshot read now, in its own transaction (measuring the estimators)."""
        with read_tx(self.engine) as c:
            return self.snapshot(c, hall)

    def snapshot(self, c: Connection, hall: HallDef) -> estimate.HallSnapshot:
        """What the estimators need about a hall now, read in the caller's transaction."""
        now = self.clock()
        recent = self._recent_times(c, hall)
        history = self._history_times(c, hall)
        # one statement (one moment on PostgreSQL too): a ticket called in between two reads would be in neither
        busy, waiting = self._queue(c, hall.code)
        wins = []
        for w in c.execute(select(windows.c.number, windows.c.state, windows.c.services,
                                  windows.c.priority_streak, windows.c.changed_at)
                           .where(windows.c.hall == hall.code).order_by(windows.c.number)):
            cur = busy.get(w.number)
            wins.append(estimate.WindowNow(
                number=w.number, state=w.state, services=tuple(w.services),
                priority_streak=w.priority_streak or 0,
                busy_s=(now - cur.called_at).total_seconds() if cur is not None and cur.called_at else None,
                busy_service=cur.service if cur is not None else None,
                # "serving" once the clerk pressed start (the citizen came): no no-show left to weigh
                busy_status=cur.status if cur is not None else None,
                paused_s=(now - w.changed_at).total_seconds() if w.state == "paused" and w.changed_at else None,
                paused_today=w.number in recent.paused_today))
        catalog = self.settings.catalog
        minutes, v1_minutes = {}, {}
        # a window's cycle per ticket is its call-to-finish time plus the clerk's turnaround to the next call
        turnaround_min = estimate.turnaround_seconds(recent.turnarounds, *history.turnaround) / 60.0
        for s in catalog.services:
            mean_s, n = history.times.get(s.code, (None, 0))
            minutes[s.code] = estimate.typical_minutes(recent.occupation.get(s.code, ()), mean_s, n,
                                                       s.expected_minutes) + turnaround_min
            v1_minutes[s.code] = estimate.service_minutes(recent.durations.get(s.code, []), s.expected_minutes)
        # the spread of a served citizen's window time, per service: past days' and today's log-times
        spreads, spread = self._service_spreads(hall, history, recent)
        all_recent = [d for ds in recent.durations.values() for d in ds]
        hall_minutes = estimate.service_minutes(
            all_recent, sum(s.expected_minutes for s in catalog.services) / len(catalog.services))
        return estimate.HallSnapshot(
            at=now, windows=tuple(wins),
            waiting=waiting,
            minutes=minutes, v1_minutes=v1_minutes, hall_minutes=hall_minutes,
            arrivals=recent.arrivals, last_calls=recent.last_calls,
            strategy=hall.queue.strategy, priority_ratio=hall.queue.priority_ratio,
            breaks=history.breaks, spread=spread, spreads=spreads, p_noshow=estimate.noshow_share(*history.noshow),
            # a no-show holds the window from the call to the mark, then the clerk turns around
            noshow_s=estimate.noshow_seconds(*history.noshow_time) + turnaround_min * 60.0,
            show_delays=tuple(sorted([*history.show_delays, *recent.show_delays]))
            if recent.show_delays else tuple(history.show_delays),
            day_s=(now.astimezone(hall.tz) - datetime.combine(
                numbering.local_day(now, hall.tz), datetime.min.time(), tzinfo=hall.tz)).total_seconds())

    def _queue(self, c: Connection, hall: str) -> tuple[dict[int, Any], tuple[policy.Candidate, ...]]:
        """The tickets at the hall's windows (window -> row), and its waiting tickets as the policy sees them.

        Rows come as the driver gives them (times as stored, `_QUEUE`), and a row unchanged since the
        hall's last read keeps its Candidate: a rebuild at thousands waiting spent most of its time
        turning the same rows into the same datetimes and Candidates again.
        """
        old = self._candidates.get(hall, {})
        new: dict[tuple[Any, ...], policy.Candidate] = {}
        busy: dict[int, Any] = {}
        waiting = Status.WAITING.value
        for row in _QUEUE.tuples(c, {"b_hall": hall}):
            ticket_id, service, queued_at, priority, target, status, window, called_at = row
            if status != waiting:
                busy[window] = _AtWindow(service, status, _utc(called_at) if called_at else None)
                continue
            cand = old.get(row)
            if cand is None:
                cand = policy.Candidate(ticket_id, service, _utc(queued_at), priority, target)
            new[row] = cand
        self._candidates[hall] = new
        return busy, tuple(new.values())

    def _service_spreads(self, hall: HallDef, history: _History,
                         recent: _RecentTimes) -> tuple[dict[str, float], float]:
        """The spread of a served citizen's window time per service and the hall's, from past days and today.

        Recomputed only when either input was re-read (today's every DURATIONS_TTL, the history daily).
        """
        hit = self._spreads.get(hall.code)
        if hit is not None and hit[0] is history and hit[1] is recent:
            return hit[2]
        out = estimate.service_spreads(estimate.merge_log_stats(history.served_logs, recent.served_logs))
        self._spreads[hall.code] = (history, recent, out)
        return out

    def _recent_times(self, c: Connection, hall: HallDef) -> _RecentTimes:
        """Today's service times, arrival rates and last calls, cached by the app's clock.

        The app's clock, not time.monotonic: in a simulated day time jumps, and a cache that
        lives 15 real seconds would serve a whole morning's stale figures.
        """
        now = self.clock()
        with self._lock:
            hit = self._recent.get(hall.code)
            if hit is not None and hit[0] <= now < hit[1]:
                return hit[2]
        tz = hall.tz
        since = now - timedelta(hours=12)
        q = (select(tickets.c.service, tickets.c.status, tickets.c.called_at, tickets.c.started_at,
                    tickets.c.finished_at, tickets.c.queued_at, tickets.c.window, tickets.c.day)
             .where(tickets.c.hall == hall.code, tickets.c.prefix.in_(self._prefixes),
                    tickets.c.day >= numbering.local_day(since, tz), tickets.c.finished_at >= since)
             .order_by(tickets.c.finished_at.desc()).limit(600))
        out = _RecentTimes()
        today = numbering.local_day(now, tz)  # past days' delays are in the history already
        rows = c.execute(q).all()
        out.turnarounds = _turnarounds(rows)[-RECENT_TURNAROUNDS:]
        served: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            if r.status == Status.DONE.value and r.called_at is not None and r.day == today:
                served[r.service].append((r.finished_at - r.called_at).total_seconds())
            if r.status == Status.DONE.value:
                begin = r.started_at or r.called_at
                if begin and len(out.durations[r.service]) < RECENT_SAMPLES:
                    out.durations[r.service].append((r.finished_at - begin).total_seconds())
            if r.status == Status.DONE.value and r.called_at is not None and r.started_at is not None \
                    and r.day == today and r.started_at >= r.called_at:
                out.show_delays.append((r.started_at - r.called_at).total_seconds())
            if r.status in (Status.DONE.value, Status.NO_SHOW.value) and r.called_at is not None \
                    and len(out.occupation[r.service]) < RECENT_SAMPLES:
                # the window is busy from the call (walking up, no-shows' recalls) to the finish
                out.occupation[r.service].append((r.finished_at - r.called_at).total_seconds())
        out.served_logs = {svc: estimate.log_stats(ts) for svc, ts in served.items()}
        rate_since = now - timedelta(seconds=estimate.RATE_WINDOW_S)
        les_since = now - timedelta(seconds=estimate.LES_MAX_AGE_S)
        q = (select(tickets.c.service, tickets.c.priority, tickets.c.issued_at, tickets.c.queued_at,
                    tickets.c.called_at, tickets.c.window)
             .where(tickets.c.hall == hall.code, tickets.c.prefix.in_(self._prefixes),
                    tickets.c.day >= numbering.local_day(min(rate_since, les_since), tz),
                    or_(tickets.c.issued_at >= rate_since, tickets.c.called_at >= les_since)))
        counts: dict[tuple[str, bool], int] = defaultdict(int)
        first = now
        last: dict[int, tuple[datetime, float]] = {}
        local = now.astimezone(tz)
        prior = self._history_times(c, hall).arrivals.get((local.weekday(), local.hour), {})
        for t in c.execute(q):
            if t.issued_at >= rate_since:
                counts[(t.service, t.priority is not None)] += 1
                first = min(first, t.issued_at)
            if t.called_at is not None and t.called_at >= les_since and t.window is not None \
                    and (t.window not in last or last[t.window][0] < t.called_at):
                last[t.window] = (t.called_at, (t.called_at - t.queued_at).total_seconds())
        # A hall that opened ten minutes ago has ten minutes of arrivals, not an hour's; and ten
        # minutes say little: the rate is shrunk toward the same hour of past weeks (or nothing).
        span_s = (now - first).total_seconds()
        out.arrivals = {k: estimate.arrival_rate(counts.get(k, 0), span_s, prior.get(k, 0.0))
                        for k in set(counts) | set(prior)}
        out.last_calls = {w: ((now - at).total_seconds(), wait) for w, (at, wait) in last.items()}
        midnight = datetime.combine(numbering.local_day(now, tz), datetime.min.time(), tzinfo=tz)
        out.paused_today = {r.window for r in c.execute(select(ticket_events.c.window).where(
            ticket_events.c.hall == hall.code, ticket_events.c.at >= midnight,
            ticket_events.c.kind == EventKind.WINDOW_PAUSE.value))}
        with self._lock:
            self._recent[hall.code] = (now, now + timedelta(seconds=DURATIONS_TTL), out)
        return out

    def _history_times(self, c: Connection, hall: HallDef) -> _History:
        """Past days' window time per service and the windows' break habits; read once a day."""
        today = numbering.local_day(self.clock(), hall.tz)
        with self._lock:
            hit = self._history.get(hall.code)
            if hit is not None and hit[0] == today:
                return hit[1]
        first_day = today - timedelta(days=HISTORY_DAYS)
        q = (select(tickets.c.service, tickets.c.called_at, tickets.c.finished_at, tickets.c.queued_at,
                    tickets.c.window, tickets.c.day, tickets.c.status, tickets.c.started_at)
             .where(tickets.c.hall == hall.code, tickets.c.prefix.in_(self._prefixes),
                    tickets.c.day >= first_day, tickets.c.day < today,
                    tickets.c.status.in_((Status.DONE.value, Status.NO_SHOW.value)),
                    tickets.c.called_at.is_not(None)))
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        rows = c.execute(q).all()
        no_shows: list[float] = []  # seconds from the call to the no-show mark (the recalls)
        show_delays: list[float] = []  # seconds from the call to "start" of those who came
        served: dict[str, list[float]] = defaultdict(list)  # call to finish of those who came (DONE)
        for r in rows:
            s = sums[r.service]
            s[0] += (r.finished_at - r.called_at).total_seconds()
            s[1] += 1
            if r.status == Status.NO_SHOW.value:
                no_shows.append((r.finished_at - r.called_at).total_seconds())
            else:
                served[r.service].append((r.finished_at - r.called_at).total_seconds())
                if r.started_at is not None and r.started_at >= r.called_at:
                    show_delays.append((r.started_at - r.called_at).total_seconds())
        gaps = _turnarounds(rows)
        out = _History(times={svc: (total / n, int(n)) for svc, (total, n) in sums.items() if n},
                       turnaround=(sum(gaps) / len(gaps), len(gaps)) if gaps else (0.0, 0),
                       noshow=(len(no_shows), len(rows)),
                       noshow_time=(sum(no_shows) / len(no_shows), len(no_shows)) if no_shows else (None, 0),
                       show_delays=sorted(show_delays),
                       served_logs={svc: estimate.log_stats(ts) for svc, ts in served.items()})
        # arrivals per (weekday, hour): the prior of today's rates
        per_slot: dict[tuple[int, int], dict[tuple[str, bool], int]] = defaultdict(lambda: defaultdict(int))
        days: dict[int, set[Any]] = defaultdict(set)
        for a in c.execute(select(tickets.c.day, tickets.c.issued_at, tickets.c.service, tickets.c.priority)
                           .where(tickets.c.hall == hall.code, tickets.c.prefix.in_(self._prefixes),
                                  tickets.c.day >= first_day, tickets.c.day < today)):
            local = a.issued_at.astimezone(hall.tz)
            per_slot[(local.weekday(), local.hour)][(a.service, a.priority is not None)] += 1
            days[local.weekday()].add(a.day)
        out.arrivals = {slot: {k: n / len(days[slot[0]]) for k, n in by_kind.items()}
                        for slot, by_kind in per_slot.items()}
        # breaks: each window-day's first pause (time of day) and every pause's length
        worked: set[tuple[Any, int]] = set()
        first: dict[tuple[Any, int], float] = {}
        paused_at: dict[int, datetime] = {}
        lengths: list[float] = []
        kinds = (EventKind.WINDOW_SIGN_IN.value, EventKind.WINDOW_PAUSE.value, EventKind.WINDOW_RESUME.value)
        for e in c.execute(select(ticket_events.c.kind, ticket_events.c.at, ticket_events.c.window).where(
                ticket_events.c.hall == hall.code,
                ticket_events.c.at >= datetime.combine(first_day, datetime.min.time(), tzinfo=hall.tz),
                ticket_events.c.at < datetime.combine(today, datetime.min.time(), tzinfo=hall.tz),
                ticket_events.c.kind.in_(kinds))
                .order_by(ticket_events.c.at, ticket_events.c.id)):
            local = e.at.astimezone(hall.tz)
            key = (local.date(), e.window)
            if e.kind == EventKind.WINDOW_SIGN_IN.value:
                worked.add(key)
            elif e.kind == EventKind.WINDOW_PAUSE.value:
                first.setdefault(key, local.hour * 3600 + local.minute * 60 + local.second)
                paused_at[e.window] = e.at
            elif e.window in paused_at:
                lengths.append((e.at - paused_at.pop(e.window)).total_seconds())
        if first:
            out.breaks = estimate.BreakPattern(
                tuple(sorted(first.values())), max(len(worked), len(first)),
                sum(lengths) / len(lengths) if lengths else estimate.TYPICAL_BREAK_S,
                estimate.break_cv(lengths))
        with self._lock:
            self._history[hall.code] = (today, out)
        return out
