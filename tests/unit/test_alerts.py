"""Alert rules on hand-made snapshots: each alert fires on its condition and clears when it ends."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hall_server.domain.alerts import (
    DEVICE_OFFLINE,
    DEVICE_PROBLEM,
    LATE_FILES,
    NO_OPEN_WINDOW,
    WAIT_OVER_TARGET,
    WINDOW_IDLE,
    AlertBook,
    DeviceState,
    Rules,
    Snapshot,
    WaitingTicket,
    WindowState,
    evaluate,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 10:00 Cairo
RULES = Rules(wait_target_seconds=15 * 60, idle_seconds=3 * 60)
NAMES = {"a": ("رخصة بناء", "Building permit"), "b": ("إشغال", "Occupancy")}


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def open_window(number=1, services=("a",), current=None, finished=None, opened=None):
    return WindowState(number, "open", tuple(services), current, finished, opened)


def codes(snap: Snapshot) -> set[tuple[str, str]]:
    return {(a.code, a.subject) for a in evaluate(snap, RULES)}


def snap(**kw) -> Snapshot:
    return Snapshot(now=kw.pop("now", NOW), service_names=NAMES, **kw)


def test_a_quiet_hall_has_no_alerts():
    assert evaluate(snap(windows=[open_window()])) == []


def test_wait_over_target_fires_after_the_target_and_clears_when_called():
    win = [open_window(current="A-009")]
    assert codes(snap(waiting=[WaitingTicket("A-001", "a", ago(15))], windows=win)) == set()  # exactly 15: at target
    s = snap(waiting=[WaitingTicket("A-001", "a", ago(16)), WaitingTicket("A-002", "a", ago(2))], windows=win)
    alerts = evaluate(s, RULES)
    assert [(a.code, a.subject, a.severity) for a in alerts] == [(WAIT_OVER_TARGET, "service:a", "warning")]
    a = alerts[0]
    assert a.since == ago(1) and "A-001" in a.message_ar and "16" in a.message_en and "رخصة بناء" in a.message_ar
    # twice the target is critical
    assert evaluate(snap(waiting=[WaitingTicket("A-001", "a", ago(31))], windows=win), RULES)[0].severity == "critical"
    # called: the ticket no longer waits
    assert codes(snap(waiting=[WaitingTicket("A-002", "a", ago(2))], windows=win)) == set()


def test_no_open_window_fires_for_a_served_nowhere_queue_and_clears_when_a_window_opens():
    waiting = [WaitingTicket("B-001", "b", ago(1))]
    paused = WindowState(2, "paused", ("b",), None, None, None)
    assert codes(snap(waiting=waiting, windows=[open_window(1, ("a",)), paused])) == {(NO_OPEN_WINDOW, "service:b")}
    both_open = [open_window(1, ("a",), current="A-001"), open_window(2, ("b",), current="B-000")]
    assert codes(snap(waiting=waiting, windows=both_open)) == set()
    # a ticket sent to one window that is closed is stranded even though the service is open elsewhere
    sent = [WaitingTicket("B-002", "b", ago(1), target_window=3)]
    closed3 = WindowState(3, "closed", ("c",), None, None, None)
    assert codes(snap(waiting=sent, windows=[open_window(2, ("b",), current="B-000"), closed3])) == {
        (NO_OPEN_WINDOW, "service:b")}


def test_window_idle_fires_after_n_minutes_with_a_queue_and_clears_on_a_call():
    waiting = [WaitingTicket("A-001", "a", ago(10))]
    idle2 = open_window(1, ("a",), finished=ago(2), opened=ago(60))
    assert codes(snap(waiting=waiting, windows=[idle2])) == set()
    idle4 = open_window(1, ("a",), finished=ago(4), opened=ago(60))
    alerts = evaluate(snap(waiting=waiting, windows=[idle4]), RULES)
    assert [(a.code, a.subject) for a in alerts] == [(WINDOW_IDLE, "window:1")]
    assert alerts[0].since == ago(1) and "4" in alerts[0].message_en
    # idle but nobody waits for it: no alert
    other = [WaitingTicket("B-001", "b", ago(10))]
    assert (WINDOW_IDLE, "window:1") not in codes(snap(waiting=other, windows=[idle4]))
    # the queue only started a minute ago: the window has not been idle *with a queue* for 3 minutes
    assert codes(snap(waiting=[WaitingTicket("A-002", "a", ago(1))], windows=[idle4])) == set()
    # it called: busy
    assert codes(snap(waiting=waiting, windows=[open_window(1, ("a",), current="A-001", finished=ago(4))])) == set()
    # reopened a minute ago after a long pause: not idle yet
    assert codes(snap(waiting=waiting, windows=[open_window(1, ("a",), finished=ago(40), opened=ago(1))])) == set()
    # a ticket transferred to this window counts as its queue
    sent = [WaitingTicket("B-003", "b", ago(10), target_window=1)]
    assert (WINDOW_IDLE, "window:1") in codes(snap(waiting=sent, windows=[idle4]))


def test_devices_offline_or_faulty_fire_and_clear_when_back_online():
    devs = [DeviceState("printer-1", "printer", "offline", "disconnected", ago(2)),
            DeviceState("announcer-1", "announcer", "tts_failed", "espeak missing", ago(1)),
            DeviceState("kiosk-2", "printer", "online")]
    alerts = evaluate(snap(devices=devs), RULES)
    assert {(a.code, a.subject) for a in alerts} == {(DEVICE_OFFLINE, "device:printer-1"),
                                                     (DEVICE_PROBLEM, "device:announcer-1")}
    assert all(a.severity == "critical" for a in alerts)
    assert next(a for a in alerts if a.code == DEVICE_OFFLINE).since == ago(2)
    back = [DeviceState(d.name, d.role, "online") for d in devs]
    assert evaluate(snap(devices=back), RULES) == []


def test_late_files_fire_and_clear():
    cairo = ZoneInfo("Africa/Cairo")
    alerts = evaluate(snap(late_files=3, oldest_late_due=date(2026, 11, 1), tz=cairo), RULES)
    assert [(a.code, a.subject) for a in alerts] == [(LATE_FILES, "files")]
    assert alerts[0].since == datetime(2026, 11, 2, tzinfo=cairo) and "3" in alerts[0].message_ar
    assert evaluate(snap(late_files=0), RULES) == []


def test_alerts_are_listed_most_severe_first():
    s = snap(waiting=[WaitingTicket("A-001", "a", ago(16))], windows=[open_window(1, ("a",), finished=ago(20))],
             late_files=1)
    assert [a.code for a in evaluate(s, RULES)] == [WAIT_OVER_TARGET, WINDOW_IDLE, LATE_FILES]


def test_alert_book_keeps_raised_and_cleared_history():
    book = AlertBook(keep=3)
    w = [WaitingTicket("A-001", "a", ago(16))]
    first = evaluate(snap(waiting=w, windows=[open_window(current="X-1")]), RULES)
    changes = book.update("kfs", first, NOW)
    assert [(c.change, c.alert.code) for c in changes] == [("raised", WAIT_OVER_TARGET)]
    # the same alert again (its message changes with the minutes): no new history line
    later = NOW + timedelta(minutes=1)
    again = evaluate(snap(now=later, waiting=w, windows=[open_window(current="X-1")]), RULES)
    assert book.update("kfs", again, later) == []
    assert book.first_seen("kfs", again[0]) == NOW
    cleared = book.update("kfs", [], later + timedelta(minutes=1))
    assert [(c.change, c.alert.code, c.at) for c in cleared] == [
        ("cleared", WAIT_OVER_TARGET, later + timedelta(minutes=1))]
    assert [c.change for c in book.changes("kfs")] == ["cleared", "raised"]  # newest first
    assert book.first_seen("kfs", again[0]) is None
    for _ in range(3):  # the history is bounded
        book.update("kfs", first, NOW)
        book.update("kfs", [], NOW)
    assert len(book.changes("kfs")) == 3 and book.changes("other") == []
    d = book.changes("kfs")[0].as_dict()
    assert set(d) == {"change", "at", "code", "severity", "subject", "since", "message_ar", "message_en"}
