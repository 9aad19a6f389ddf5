"""A seeded discrete-event simulation of a hall day, driven through the real application layer.

Citizens arrive by the hour and by service (a morning peak), draw tickets at the kiosk, are
called by clerks who take breaks, walk up or do not come (recalls, then no-show), are served for
a time drawn from their service's distribution, and sometimes are transferred to another
service. Priorities (elderly, disabled, pregnant) are drawn at the kiosk. In the "closing" load
one clerk leaves mid-morning and the supervisor spreads that window's services over the others.

The simulator never writes tables: every action is a HallApp use case (in process, on a
simulated clock, as fast as possible) or the same action over HTTP against a running server
(`CounterClient` for the windows, the kiosk ticket API with a device token), in real time
multiplied by a speed factor. One `random.Random(seed)` drives everything, so a seed gives the
same day twice.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import math
import secrets
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from statistics import fmean
from typing import Any, Protocol

from config import HallDef, Settings

log = logging.getLogger(__name__)

HOURS = (8, 9, 10, 11, 12, 13)  # arrival hours: the kiosk issues tickets from 08:00 to 14:00
PEAK = (0.75, 1.35, 1.35, 1.10, 0.85, 0.60)  # relative arrivals per hour (mean 1): a morning peak
WEEKDAY = {6: 1.15, 0: 1.05, 1: 1.0, 2: 0.95, 3: 0.85}  # Sun..Thu; Friday and Saturday are the weekend
KIND_WEIGHT = {"pay": 3.0, "inquiry": 2.5, "collect": 2.0, "followup": 2.0, "submit": 1.0}
KIND_CV = {"pay": 0.35, "inquiry": 0.6, "collect": 0.4, "followup": 0.5, "submit": 0.55}
PRIORITY_MIX = (("elderly", 0.05), ("disabled", 0.02), ("pregnant", 0.01))
OUTCOME_MIX = (("served", 0.86), ("incomplete_documents", 0.07), ("referred", 0.03), ("rejected", 0.02),
               ("info_only", 0.02))
SUPERVISOR_NAME = "sim-supervisor"
KIOSK_NAME = "sim-kiosk"


@dataclass(frozen=True)
class Load:
    """How busy the day is: offered service work per staffed window, and an optional closing."""

    name: str
    utilization: float  # window time arriving per window-minute (service, walk-up, recalls), arrival hours' mean
    close_window: int | None = None  # this window's clerk leaves at close_at...
    close_at: time | None = None  # ...and the supervisor spreads its services over the others


LOADS: dict[str, Load] = {
    "light": Load("light", 0.50),
    "normal": Load("normal", 0.70),
    "overloaded": Load("overloaded", 0.95),  # x the morning peak: well over capacity 09:00-11:00
    "closing": Load("closing", 0.70, close_window=4, close_at=time(10, 30)),
}


@dataclass(frozen=True)
class Behaviour:
    """Citizens' and clerks' habits; defaults are plausible for a one-stop-shop hall."""

    opening: time = time(8, 0)  # clerks sign in from here, within sign_in_spread_min
    sign_in_spread_min: float = 15.0
    hard_stop: time = time(15, 30)  # no call after this; whoever still waits is sent home
    p_no_show: float = 0.05
    p_late: float = 0.03  # comes only after the first recall
    p_transfer: float = 0.03
    p_transfer_inquiry: float = 0.10  # inquiries and follow-ups are often sent on to a sector
    walk_s: tuple[float, float] = (20.0, 60.0)
    react_s: tuple[float, float] = (5.0, 20.0)  # a clerk's pause between tickets
    recall_every_s: float = 60.0
    break_start: tuple[time, time] = (time(11, 0), time(12, 45))
    break_min: tuple[float, float] = (15.0, 30.0)
    catalog_error: float = 0.2  # lognormal sigma of true mean service time vs the catalog's guess
    clerk_speed_sigma: float = 0.1
    hours: tuple[int, ...] = HOURS
    peak: tuple[float, ...] = PEAK
    burst: tuple[time, int, float] | None = None  # (at, citizens, within seconds): a bus unloads at the door


# ----- demand: the inputs the day must match ------------------------------------------------
@dataclass(frozen=True)
class Arrival:
    """One citizen reaching the kiosk: seconds after local midnight, service, priority class."""

    at_s: float
    service: str
    priority: str | None


class Demand:
    """Arrival rates per service and hour and true service-time distributions for one hall.

    Rates are derived from the load: each window receives `utilization` x 60 minutes of work per
    hour on average (shaped by the morning peak and the weekday), split over its services by
    popularity; a service's rate is that work divided by the window time one of its tickets takes
    (true mean service time plus walking up, the clerk's pause and the no-shows' recalls).
    """

    def __init__(self, settings: Settings, hall: HallDef, load: Load, rng: Random,
                 behaviour: Behaviour = Behaviour()) -> None:
        self.hall, self.load, self.behaviour = hall, load, behaviour
        catalog = settings.catalog
        served = sorted({code for w in hall.windows for code in w.services})
        # drawn once per simulation: the hall's "truth", the same every day
        self.weight = {s: KIND_WEIGHT.get(catalog.service(s).kind, 1.0) * rng.lognormvariate(0.0, 0.35)
                       for s in served}
        self.mean_min = {s: catalog.service(s).expected_minutes * rng.lognormvariate(0.0, behaviour.catalog_error)
                         for s in served}
        self.cv = {s: KIND_CV.get(catalog.service(s).kind, 0.5) for s in served}
        self.kind = {s: catalog.service(s).kind for s in served}
        b = behaviour
        overhead_min = (fmean(b.walk_s) + fmean(b.react_s)
                        + b.p_no_show * (hall.queue.recall_limit + 1) * b.recall_every_s
                        + b.p_late * b.recall_every_s) / 60.0
        per_hour: dict[str, float] = dict.fromkeys(served, 0.0)  # arrivals per hour at peak factor 1
        for w in hall.windows:
            total = sum(self.weight[s] for s in w.services)
            for s in w.services:
                work = load.utilization * 60.0 * self.weight[s] / total  # window minutes per hour
                per_hour[s] += work / (self.mean_min[s] + overhead_min)
        self.base_rate = per_hour
        classes = set(hall.queue.priority_classes)
        self.priority_mix = tuple((p, share) for p, share in PRIORITY_MIX if p in classes)

    def rate(self, service: str, hour: int, weekday: int) -> float:
        """Expected arrivals of a service in one local hour of a day with that weekday."""
        b = self.behaviour
        if hour not in b.hours:
            return 0.0
        return self.base_rate[service] * b.peak[b.hours.index(hour)] * WEEKDAY.get(weekday, 0.0)

    def hourly(self, weekday: int) -> dict[int, float]:
        """Expected hall arrivals per local hour."""
        return {h: sum(self.rate(s, h, weekday) for s in self.base_rate) for h in self.behaviour.hours}

    def draw_arrivals(self, weekday: int, rng: Random) -> list[Arrival]:
        """A day's arrivals: a Poisson process per hour (piecewise-constant rate), then the service."""
        out: list[Arrival] = []
        services = list(self.base_rate)
        for h in self.behaviour.hours:
            rates = [self.rate(s, h, weekday) for s in services]
            total = sum(rates)
            if total <= 0:
                continue
            t = h * 3600.0
            while True:
                t += rng.expovariate(total / 3600.0)  # memoryless: restarting each hour is exact
                if t >= (h + 1) * 3600.0:
                    break
                service = rng.choices(services, weights=rates)[0]
                out.append(Arrival(t, service, self._priority(rng)))
        return out

    def draw_burst(self, at_s: float, count: int, within_s: float, rng: Random) -> list[Arrival]:
        """`count` citizens within `within_s` seconds from `at_s`, services as that hour's mix."""
        hour = int(at_s // 3600)
        services = list(self.base_rate)
        weights = [self.rate(s, hour, 0) or self.base_rate[s] for s in services]
        return [Arrival(at_s + rng.uniform(0.0, within_s), rng.choices(services, weights=weights)[0],
                        self._priority(rng)) for _ in range(count)]

    def _priority(self, rng: Random) -> str | None:
        u = rng.random()
        for p, share in self.priority_mix:
            if u < share:
                return p
            u -= share
        return None

    def service_seconds(self, service: str, speed: float, rng: Random) -> float:
        """A service time: lognormal with the service's true mean and spread, scaled by the clerk."""
        mean = self.mean_min[service] * 60.0 * speed
        sigma2 = math.log(1.0 + self.cv[service] ** 2)
        return max(30.0, rng.lognormvariate(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)))


# ----- drivers: how actions reach the application --------------------------------------------
class Driver(Protocol):
    """Where the simulated people act: in process on a simulated clock, or over HTTP."""

    def advance(self, to: datetime) -> None: ...
    def new_day(self) -> None: ...
    def setup(self, windows: Sequence[int]) -> None: ...
    def issue(self, service: str, priority: str | None) -> dict[str, Any]: ...
    def estimates(self, service: str, priority: str | None) -> dict[str, int | None] | None: ...
    def window_action(self, window: int, action: str, **kw: Any) -> Any: ...
    def window_services(self, window: int) -> list[str]: ...
    def window_state(self, window: int) -> str: ...
    closes_windows: bool
    def set_services(self, window: int, services: list[str]) -> None: ...
    def cancel(self, token: str) -> None: ...
    def waiting_total(self) -> int: ...


class SimClock:
    """The simulated clock the in-process HallApp reads."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class InProcessDriver:
    """HallApp use cases on the configured database, at simulated time, as fast as possible."""

    closes_windows = True  # history is filled before the hall opens: a window left open is closed

    def __init__(self, app: Any, hall: str, clock: SimClock, measure: bool = False) -> None:
        from hall_server.application import Actor
        self.app, self.hall, self.clock, self.measure = app, hall, clock, measure
        self.kiosk = Actor("device", KIOSK_NAME, "kiosk", hall=hall)
        self.supervisor = Actor("user", SUPERVISOR_NAME, "supervisor")
        self.clerks: dict[int, Any] = {}

    def advance(self, to: datetime) -> None:
        if to > self.clock.now:
            self.clock.now = to

    def new_day(self) -> None:
        """Nothing to do: the simulated clock simply moves on to the next morning."""

    def setup(self, windows: Sequence[int]) -> None:
        """Clerk accounts sim-clerk-N (created once, random passwords: nobody logs in with them)."""
        from hall_server.application import Actor
        from hall_server.application.auth import Auth
        from hall_server.domain.errors import DomainError
        auth = Auth(self.app.engine, clock=self.clock)
        for n in windows:
            name = f"sim-clerk-{n}"
            try:
                uid = auth.add_user(name, secrets.token_urlsafe(24), "clerk", f"Simulated clerk {n}")
            except DomainError:  # made by an earlier run
                found = auth.user_id(name)
                assert found is not None, name
                uid = found
            self.clerks[n] = Actor("user", name, "clerk", user_id=uid)

    def issue(self, service: str, priority: str | None) -> dict[str, Any]:
        from hall_server.domain.errors import DomainError
        try:
            return self.app.issue_ticket(self.hall, service, priority=priority, actor=self.kiosk)[0]
        except DomainError as exc:
            if exc.code == "service_closed":
                raise ServiceNotOpen(exc.message, exc.code) from exc
            raise

    def estimates(self, service: str, priority: str | None) -> dict[str, int | None] | None:
        """Every estimator on the state the issue is about to see (same instant, same queue)."""
        if not self.measure:
            return None
        from hall_server.domain import estimate
        snap = self.app.core.estimates.snapshot_now(self.app.hall(self.hall))
        return estimate.estimate_all(snap, service, priority)

    def window_action(self, window: int, action: str, **kw: Any) -> Any:
        a = self.app
        actor = self.clerks[window]
        if action in ("sign_in", "sign_out", "pause", "resume"):
            return a.set_window_state(self.hall, window, action, actor)
        if action == "close":
            return a.set_window_state(self.hall, window, "close", self.supervisor)
        if action == "complete":
            return a.complete(self.hall, window, actor, kw.get("outcome", "served"))
        if action == "transfer":
            return a.transfer(self.hall, window, actor, service=kw["service"])
        return getattr(a, action)(self.hall, window, actor)  # call_next, start, recall, no_show

    def window_services(self, window: int) -> list[str]:
        return list(self.app.window_view(self.hall, window)["services"])

    def window_state(self, window: int) -> str:
        return str(self.app.window_view(self.hall, window)["state"])

    def set_services(self, window: int, services: list[str]) -> None:
        self.app.set_window_services(self.hall, window, services, self.supervisor)

    def cancel(self, token: str) -> None:
        from hall_server.application import Actor
        self.app.cancel(token, Actor("citizen", "sent-home", "citizen"))

    def waiting_total(self) -> int:
        return sum(self.app.queue_state(self.hall)["waiting"].values())


class SimActionFailed(Exception):
    """A live server refused a simulated action (someone else uses the window, the server is down)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # the API's error code, when the server answered with one


class ServiceNotOpen(SimActionFailed):
    """The kiosk refused a ticket: no open window serves the service (409 service_closed). The
    citizen waits in the hall until one opens (the day releases them when a window does)."""


class HttpDriver:
    """The same actions against a running server: kiosk API with a device token, CounterClient
    for each window (clerkN accounts), a supervisor account for closing and reassigning."""

    closes_windows = False  # a window a person works at stays theirs: the simulated sign-in fails

    def __init__(self, base_url: str, hall: str, kiosk_token: str, speed: float, password: str,
                 clerk_prefix: str = "clerk", supervisor: str = "supervisor") -> None:
        import requests
        self.base_url, self.hall, self.speed = base_url.rstrip("/"), hall, speed
        self.session = requests.Session()
        self.kiosk_token, self.password = kiosk_token, password
        self.clerk_prefix, self.supervisor_name = clerk_prefix, supervisor
        self.clients: dict[int, Any] = {}
        self.sup_token: str | None = None
        self._anchor: tuple[float, datetime] | None = None  # (monotonic at start, simulated start)

    def new_day(self) -> None:
        """Each simulated day starts now: the next advance anchors simulated to real time."""
        self._anchor = None

    def close(self) -> None:
        """Close the HTTP connections (the window clients share the driver's session)."""
        self.session.close()

    def advance(self, to: datetime) -> None:
        """Sleep until the simulated instant, real time divided by the speed."""
        if self._anchor is None:
            self._anchor = (_time.monotonic(), to)
            return
        due = self._anchor[0] + (to - self._anchor[1]).total_seconds() / self.speed
        delay = due - _time.monotonic()
        if delay > 0:
            _time.sleep(delay)

    def _api(self, method: str, path: str, token: str | None, body: dict[str, Any] | None = None) -> Any:
        import requests
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            r = self.session.request(method, f"{self.base_url}/api/v1{path}", json=body, headers=headers,
                                     timeout=30)
        except requests.RequestException as exc:
            raise SimActionFailed(f"{method} {path}: {exc}") from exc
        if r.status_code >= 400:
            try:
                code = r.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
            raise SimActionFailed(f"{method} {path}: {r.status_code} {r.text[:200]}", code)
        return r.json() if r.content else None

    def setup(self, windows: Sequence[int]) -> None:
        from counter_client.client import CounterClient, CounterError
        for n in windows:
            client = CounterClient(self.base_url, self.hall, n, session=self.session)
            try:
                client.login(f"{self.clerk_prefix}{n}", self.password)
            except CounterError as exc:
                raise SimActionFailed(f"log in as {self.clerk_prefix}{n}: {exc}") from exc
            self.clients[n] = client
        self.sup_token = self._api("POST", "/auth/login", None, {"username": self.supervisor_name,
                                                                 "password": self.password})["token"]

    def issue(self, service: str, priority: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"service": service}
        if priority:
            body["priority"] = priority
        try:
            return self._api("POST", f"/halls/{self.hall}/tickets", self.kiosk_token, body)
        except SimActionFailed as exc:
            if exc.code == "service_closed":
                raise ServiceNotOpen(str(exc), exc.code) from exc
            raise

    def estimates(self, service: str, priority: str | None) -> dict[str, int | None] | None:
        return None  # the server's estimators are not reachable from outside; the ticket's eta is

    def window_action(self, window: int, action: str, **kw: Any) -> Any:
        from counter_client.client import CounterError
        if action == "close":
            return self._api("POST", f"/halls/{self.hall}/windows/{window}/close", self.sup_token)
        client = self.clients[window]
        try:
            if action == "complete":
                return client.complete(kw.get("outcome", "served"))
            if action == "transfer":
                return client.transfer(service=kw["service"])
            return getattr(client, action)()
        except CounterError as exc:
            raise SimActionFailed(f"window {window} {action}: {exc}") from exc

    def window_services(self, window: int) -> list[str]:
        return list(self._api("GET", f"/halls/{self.hall}/windows/{window}", self.sup_token)["services"])

    def window_state(self, window: int) -> str:
        return str(self._api("GET", f"/halls/{self.hall}/windows/{window}", self.sup_token)["state"])

    def set_services(self, window: int, services: list[str]) -> None:
        self._api("PUT", f"/halls/{self.hall}/windows/{window}/services", self.sup_token,
                  {"services": services})

    def cancel(self, token: str) -> None:
        self._api("POST", f"/tickets/{token}/cancel", None)

    def waiting_total(self) -> int:
        return sum(self._api("GET", f"/halls/{self.hall}/queue", None)["waiting"].values())


# ----- what a day produced -------------------------------------------------------------------
@dataclass
class SimTicket:
    """One ticket as the simulation saw it."""

    number: str
    token: str
    service: str
    priority: str | None
    issued_at: datetime
    eta_shown: int | None  # what the kiosk printed (the default estimator)
    estimates: dict[str, int | None] | None  # every estimator on the same state (in process)
    calls: list[tuple[datetime, int]] = field(default_factory=list)  # (called at, window), in order
    status: str = "waiting"  # waiting | called | serving | done | no_show | sent_home
    transfers: int = 0
    ahead: int | None = None  # people ahead at issue, as the kiosk showed

    @property
    def waited_s(self) -> float | None:
        """Seconds from issue to the first call; None if never called."""
        return (self.calls[0][0] - self.issued_at).total_seconds() if self.calls else None


@dataclass
class DayResult:
    """A simulated day: its tickets in issue order and the calls in order."""

    day: date
    load: str
    tickets: list[SimTicket]
    calls: list[tuple[str, datetime, datetime, int]]  # (number, issued at, called at, window)

    def summary(self, target_s: float) -> dict[str, Any]:
        """Counts, waits and the accuracy of the estimate shown at issue."""
        waits = [t.waited_s for t in self.tickets if t.waited_s is not None]
        shown = [(t.eta_shown, t.waited_s) for t in self.tickets if t.waited_s is not None]
        acc = accuracy(shown)
        return {
            "day": self.day.isoformat(), "load": self.load, "issued": len(self.tickets),
            "served": sum(t.status == "done" for t in self.tickets),
            "no_show": sum(t.status == "no_show" for t in self.tickets),
            "transferred": sum(t.transfers > 0 for t in self.tickets),
            "priority": sum(t.priority is not None for t in self.tickets),
            "sent_home": sum(t.status == "sent_home" for t in self.tickets),
            "mean_wait_min": fmean(waits) / 60 if waits else None,
            "p90_wait_min": sorted(waits)[int(0.9 * (len(waits) - 1))] / 60 if waits else None,
            "within_target": sum(w <= target_s for w in waits) / len(waits) if waits else None,
            "eta_mae_min": acc["mae_min"], "eta_within_5": acc["within_5"], "eta_bias_min": acc["bias_min"],
        }


def accuracy(pairs: Iterable[tuple[float | None, float | None]]) -> dict[str, Any]:
    """Mean absolute error and bias (minutes) and the share within 5 minutes, of (estimate, actual)."""
    pairs = list(pairs)
    errs = [e - a for e, a in pairs if e is not None and a is not None]
    total = sum(1 for _, a in pairs if a is not None)
    if not errs:
        return {"n": 0, "coverage": 0.0, "mae_min": None, "within_5": None, "bias_min": None, "p90_abs_min": None}
    abs_sorted = sorted(abs(e) for e in errs)
    return {
        "n": len(errs), "coverage": len(errs) / total if total else 0.0,
        "mae_min": fmean(abs(e) for e in errs) / 60, "within_5": sum(abs(e) <= 300 for e in errs) / len(errs),
        "bias_min": fmean(errs) / 60, "p90_abs_min": abs_sorted[int(0.9 * (len(abs_sorted) - 1))] / 60,
    }


# ----- the day -------------------------------------------------------------------------------
@dataclass
class _Window:
    number: int
    services: list[str]
    speed: float
    state: str = "off"  # off | idle | called | serving | paused | gone
    current: str | None = None  # ticket number
    poke_pending: bool = False
    break_due: bool = False
    break_taken: bool = False
    leave_due: bool = False


def working_days(start: date, count: int, hall: HallDef) -> list[date]:
    """The next `count` days from `start` (inclusive) the hall is open: no weekend, no holiday."""
    out, d = [], start
    holidays = set(hall.holidays)
    while len(out) < count:
        if d.weekday() in WEEKDAY and d not in holidays:
            out.append(d)
        d += timedelta(days=1)
    return out


def days_before(end: date, count: int, hall: HallDef) -> list[date]:
    """The last `count` open days strictly before `end` (to fill a history that ends yesterday)."""
    out, d = [], end - timedelta(days=1)
    holidays = set(hall.holidays)
    while len(out) < count:
        if d.weekday() in WEEKDAY and d not in holidays:
            out.append(d)
        d -= timedelta(days=1)
    return sorted(out)


class Simulation:
    """Runs hall days through a driver; one Random(seed) for every draw, so runs repeat exactly."""

    def __init__(self, settings: Settings, hall_code: str, load: Load, seed: int, driver: Any,
                 behaviour: Behaviour = Behaviour()) -> None:
        self.settings = settings
        self.hall = settings.hall(hall_code)
        self.load, self.seed, self.driver, self.b = load, seed, driver, behaviour
        self.rng = Random(seed)
        self.demand = Demand(settings, self.hall, load, self.rng, behaviour)
        self.clerk_speed = {w.number: self.rng.lognormvariate(0.0, behaviour.clerk_speed_sigma)
                            for w in self.hall.windows}
        self._ready = False

    # -- time ------------------------------------------------------------------------------
    def _at(self, day: date, seconds: float) -> datetime:
        local = datetime.combine(day, time(0), tzinfo=self.hall.tz) + timedelta(seconds=seconds)
        return local.astimezone(UTC)

    @staticmethod
    def _secs(t: time) -> float:
        return t.hour * 3600.0 + t.minute * 60.0 + t.second

    # -- the day ---------------------------------------------------------------------------
    def run_day(self, day: date) -> DayResult:
        """Simulate one day from the clerks' arrival to the last ticket; returns what happened."""
        if not self._ready:
            self.driver.setup([w.number for w in self.hall.windows])
            self._ready = True
        return _Day(self, day).run()

    def run(self, days: Sequence[date], on_day: Callable[[DayResult], None] | None = None) -> list[DayResult]:
        """Simulate several days in order."""
        out = []
        for d in days:
            result = self.run_day(d)
            if on_day is not None:
                on_day(result)
            out.append(result)
        return out


class _Day:
    """The event loop of one day (a heap of timed events, ties broken by insertion order)."""

    def __init__(self, sim: Simulation, day: date) -> None:
        self.sim, self.day, self.b, self.rng, self.d = sim, day, sim.b, sim.rng, sim.driver
        self.heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self.counter = itertools.count()
        self.tickets: dict[str, SimTicket] = {}
        self.order: list[SimTicket] = []
        self.calls: list[tuple[str, datetime, datetime, int]] = []
        self.configured = {w.number: list(w.services) for w in sim.hall.windows}
        self.windows = {n: _Window(n, list(s), sim.clerk_speed[n]) for n, s in self.configured.items()}
        self.now_s = 0.0
        self.arrivals_end_s = (sim.b.hours[-1] + 1) * 3600.0
        self.stopped = False
        # citizens who found their service closed at the kiosk (no open window serves it: before the
        # clerks sign in, during a lone clerk's break): they take their ticket when a window opens
        self.closed_out: dict[str, list[str | None]] = {}

    def push(self, at_s: float, kind: str, *args: Any) -> None:
        heapq.heappush(self.heap, (at_s, next(self.counter), kind, args))

    def u(self, bounds: tuple[float, float]) -> float:
        return self.rng.uniform(*bounds)

    def act(self, window: int, action: str, **kw: Any) -> Any:
        """One clerk action; a live server's refusal takes the window out of the simulation."""
        try:
            return self.d.window_action(window, action, **kw)
        except SimActionFailed as exc:
            log.warning("simulated window %s leaves the day: %s", window, exc)
            self.windows[window].state = "gone"
            return None

    def run(self) -> DayResult:
        sim, b = self.sim, self.b
        self.d.new_day()
        self._reset_windows()
        for a in sim.demand.draw_arrivals(self.day.weekday(), self.rng):
            self.push(a.at_s, "arrive", a.service, a.priority)
        if b.burst is not None:
            at, count, within = b.burst
            for a in sim.demand.draw_burst(sim._secs(at), count, within, self.rng):
                self.push(a.at_s, "arrive", a.service, a.priority)
        open_s = sim._secs(b.opening)
        for n in self.windows:
            self.push(open_s + self.rng.uniform(0, b.sign_in_spread_min * 60), "sign_in", n)
            if sim.load.close_window == n and sim.load.close_at is not None:
                self.push(sim._secs(sim.load.close_at), "leave", n)
            else:
                start = self.u((sim._secs(b.break_start[0]), sim._secs(b.break_start[1])))
                self.push(start, "break_due", n)
        self.push(sim._secs(b.hard_stop), "hard_stop")
        while self.heap:
            at_s, _, kind, args = heapq.heappop(self.heap)
            self.now_s = at_s
            self.d.advance(sim._at(self.day, at_s))
            getattr(self, "on_" + kind)(*args)
        self._restore_windows()
        return DayResult(self.day, sim.load.name, self.order, self.calls)

    def _reset_windows(self) -> None:
        """Start from the configured services, every window closed (a supervisor's morning)."""
        self.d.advance(self.sim._at(self.day, self.sim._secs(self.b.opening) - 600))
        for n, services in self.configured.items():
            if self.d.window_services(n) != services:
                self.d.set_services(n, services)
            if self.d.closes_windows and self.d.window_state(n) != "closed":
                try:
                    self.d.window_action(n, "close")
                except SimActionFailed as exc:
                    log.warning("window %s could not be closed at the start of the day: %s", n, exc)

    def _restore_windows(self) -> None:
        for n, services in self.configured.items():
            if self.windows[n].services != services:
                self.quietly("reassignment", self.d.set_services, n, services)

    # -- events ----------------------------------------------------------------------------
    def quietly(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A kiosk or supervisor action; on a live server a refusal is logged and the day goes on."""
        try:
            return fn(*args)
        except SimActionFailed as exc:
            log.warning("simulated %s refused: %s", what, exc)
            return None

    def on_arrive(self, service: str, priority: str | None) -> None:
        estimates = self.d.estimates(service, priority)
        try:
            t = self.d.issue(service, priority)
        except ServiceNotOpen:  # the kiosk shows the service closed: wait for a window to open
            self.closed_out.setdefault(service, []).append(priority)
            return
        except SimActionFailed as exc:  # a live server's other refusals: logged, the day goes on
            log.warning("simulated ticket refused: %s", exc)
            return
        st = SimTicket(t["number"], t["token"], service, priority, self.sim._at(self.day, self.now_s),
                       t.get("eta_seconds"), estimates, ahead=t.get("position"))
        self.tickets[st.number] = st
        self.order.append(st)
        self.poke_for(service)

    def reopened(self, services: Iterable[str]) -> None:
        """A window serving these services opened: whoever waited for one goes to the kiosk now."""
        for service in services:
            for i, priority in enumerate(self.closed_out.pop(service, [])):
                self.push(self.now_s + 5.0 * (i + 1), "arrive", service, priority)  # one after another

    def poke_for(self, service: str) -> None:
        """Idle clerks see the new ticket on their screen and call it after a moment."""
        for w in self.windows.values():
            if w.state == "idle" and not w.poke_pending and service in w.services:
                w.poke_pending = True
                self.push(self.now_s + self.u(self.b.react_s), "poke", w.number)

    def on_sign_in(self, n: int) -> None:
        w = self.windows[n]
        if w.state != "off" or self.stopped:
            return
        if self.act(n, "sign_in") is not None:
            w.state = "idle"
            self.reopened(w.services)
            self.on_poke(n)

    def on_poke(self, n: int) -> None:
        w = self.windows[n]
        w.poke_pending = False
        if w.state != "idle":
            return
        if self.stopped:
            return self._sign_out(w)
        if w.leave_due:
            return self._leave(w)
        if w.break_due and not w.break_taken:
            return self._pause(w)
        t = self.act(n, "call_next")
        if t is None:
            if w.state == "idle" and self.now_s >= self.arrivals_end_s:
                self._sign_out(w)  # the day's arrivals are over and nothing is left for this window
            return
        now = self.sim._at(self.day, self.now_s)
        st = self.tickets.get(t["number"])
        if st is None:  # a ticket someone else issued (a live hall): served, but not measured
            st = self.tickets[t["number"]] = SimTicket(t["number"], t.get("token", ""), t["service"],
                                                       t.get("priority"), now, None, None)
        st.calls.append((now, n))
        self.calls.append((st.number, st.issued_at, now, n))
        st.status, w.state, w.current = "called", "called", st.number
        if self.rng.random() < self.b.p_no_show:
            if self.sim.hall.queue.recall_limit == 0:
                self.push(self.now_s + self.b.recall_every_s, "no_show", n, st.number)
            else:
                self.push(self.now_s + self.b.recall_every_s, "recall", n, st.number, 1, False)
        elif self.rng.random() < self.b.p_late:
            self.push(self.now_s + self.b.recall_every_s, "recall", n, st.number, 1, True)
        else:
            self.push(self.now_s + self.u(self.b.walk_s), "show", n, st.number)

    def on_recall(self, n: int, number: str, k: int, comes: bool) -> None:
        if self.act(n, "recall") is None:
            return
        if comes:
            self.push(self.now_s + self.u(self.b.walk_s), "show", n, number)
        elif k < self.sim.hall.queue.recall_limit:
            self.push(self.now_s + self.b.recall_every_s, "recall", n, number, k + 1, False)
        else:
            self.push(self.now_s + self.b.recall_every_s, "no_show", n, number)

    def on_no_show(self, n: int, number: str) -> None:
        self.act(n, "no_show")
        self.tickets[number].status = "no_show"
        self._free(self.windows[n])

    def on_show(self, n: int, number: str) -> None:
        w = self.windows[n]
        if self.act(n, "start") is None:
            return
        st = self.tickets[number]
        st.status, w.state = "serving", "serving"
        self.push(self.now_s + self.sim.demand.service_seconds(st.service, w.speed, self.rng), "finish", n, number)

    def on_finish(self, n: int, number: str) -> None:
        w, st = self.windows[n], self.tickets[number]
        kind = self.sim.demand.kind.get(st.service, "submit")
        p = self.b.p_transfer_inquiry if kind in ("inquiry", "followup") else self.b.p_transfer
        target = self._transfer_target(w) if self.rng.random() < p and not self.stopped else None
        if target is not None:
            if self.act(n, "transfer", service=target) is None:
                return
            st.status, st.service = "waiting", target
            st.transfers += 1
            self._free(w)
            self.poke_for(target)
            return
        outcome = self.rng.choices([o for o, _ in OUTCOME_MIX], weights=[p for _, p in OUTCOME_MIX])[0]
        if self.act(n, "complete", outcome=outcome) is None:
            return
        st.status = "done"
        self._free(w)

    def _transfer_target(self, w: _Window) -> str | None:
        staffed = sorted({s for o in self.windows.values() if o.state in ("idle", "called", "serving", "paused")
                          and o.number != w.number for s in o.services} - set(w.services))
        if not staffed:
            return None
        return self.rng.choices(staffed, weights=[self.sim.demand.weight.get(s, 1.0) for s in staffed])[0]

    def _free(self, w: _Window) -> None:
        w.state, w.current = "idle", None
        w.poke_pending = True
        self.push(self.now_s + self.u(self.b.react_s), "poke", w.number)

    def on_break_due(self, n: int) -> None:
        w = self.windows[n]
        w.break_due = True
        if w.state == "idle" and not self.stopped:
            self._pause(w)

    def _pause(self, w: _Window) -> None:
        if self.act(w.number, "pause") is None:
            return
        w.state, w.break_taken, w.break_due = "paused", True, False
        self.push(self.now_s + self.u(self.b.break_min) * 60, "break_end", w.number)

    def on_break_end(self, n: int) -> None:
        w = self.windows[n]
        if w.state != "paused":
            return
        if self.act(n, "resume") is None:
            return
        w.state = "idle"
        self.reopened(w.services)
        self.on_poke(n)

    def on_leave(self, n: int) -> None:
        w = self.windows[n]
        w.leave_due = True
        if w.state in ("idle", "paused"):
            self._leave(w)

    def _leave(self, w: _Window) -> None:
        """The clerk is called away: the supervisor spreads the window's services, then it closes."""
        others = [o for o in self.windows.values() if o.number != w.number and o.state != "gone"]
        for i, service in enumerate(s for s in w.services if s not in {x for o in others for x in o.services}):
            o = others[i % len(others)]
            o.services = o.services + [service]
            self.quietly("reassignment", self.d.set_services, o.number, o.services)
            if o.state in ("idle", "called", "serving"):
                self.reopened([service])
            if o.state == "idle" and not o.poke_pending:
                o.poke_pending = True
                self.push(self.now_s + self.u(self.b.react_s), "poke", o.number)
        self._sign_out(w)

    def _sign_out(self, w: _Window) -> None:
        if w.state == "paused":
            self.act(w.number, "resume")
        self.act(w.number, "sign_out")
        w.state = "gone"

    def on_hard_stop(self) -> None:
        """Closing time: nobody else is called; whoever still waits is sent home."""
        self.stopped = True
        for st in self.order:
            if st.status == "waiting":
                self.quietly("sending home", self.d.cancel, st.token)
                st.status = "sent_home"
        for w in self.windows.values():
            if w.state in ("idle", "paused", "off"):
                if w.state != "off":
                    self._sign_out(w)
                w.state = "gone"


# ----- entry points --------------------------------------------------------------------------
def in_process(settings: Settings, engine: Any, hall: str, load: Load, seed: int, start: datetime,
               measure: bool = False, behaviour: Behaviour = Behaviour()) -> Simulation:
    """A simulation on a HallApp over `engine`, with its own simulated clock."""
    from hall_server.application import HallApp
    clock = SimClock(start)
    app = HallApp(settings, engine, clock=clock)
    app.ensure_halls()
    return Simulation(settings, hall, load, seed, InProcessDriver(app, hall, clock, measure), behaviour)


def run_days(sim: Simulation, days: Sequence[date], report: Callable[[DayResult], None] | None = None
             ) -> list[DayResult]:
    """Run the days; refuses to start on a hall with tickets still waiting from real use."""
    if sim.driver.waiting_total():
        from hall_server.domain.errors import DomainError
        raise DomainError("tickets are still waiting in this hall: finish or cancel them before simulating",
                          "tickets_waiting")
    return sim.run(days, report)


__all__ = ["Arrival", "Behaviour", "DayResult", "Demand", "HttpDriver", "InProcessDriver", "LOADS", "Load",
           "SimClock", "SimTicket", "Simulation", "accuracy", "days_before", "in_process", "run_days",
           "working_days"]
