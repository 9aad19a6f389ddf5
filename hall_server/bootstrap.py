"""The composition root: builds everything the server is made of from Settings, once.

Engine, bus, the hall application, its desks (files, auth, reports, alerts), the device
registry, printing, call audio and SMS; and the bus's table of after-commit effects. `create_app`
stores the one typed `Runtime`; blueprints and socket handlers reach it through `hall_server.current.runtime()`.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask_socketio import SocketIO
from sqlalchemy.engine import Engine

from audio.web import TTS_DEVICE, CallRenderer
from config import Settings
from display_board.web import hall_zones
from hall_server import sms
from hall_server.application import Bus, Clock, HallApp, utc_now
from hall_server.application.alerts import AlertDesk
from hall_server.application.auth import Auth, HashPool
from hall_server.application.files import FileDesk
from hall_server.application.reports import Reports
from hall_server.migrate import upgrade
from hall_server.realtime import Broadcaster, DeviceRegistry, Listeners
from hall_server.storage import make_engine
from printer.dispatch import PrintDispatcher

log = logging.getLogger(__name__)
# Real seconds a request may read a hall's live state (estimates) after a change before the
# broadcaster's coalesced rebuild catches up: one rebuild serves a rush of tickets.
LIVE_STALE_S = 0.5


@dataclass
class Runtime:
    """Everything a running server is made of (one per Flask app)."""

    settings: Settings
    engine: Engine
    bus: Bus
    hall: HallApp
    files: FileDesk
    auth: Auth
    reports: Reports
    alerts: AlertDesk
    devices: DeviceRegistry
    listeners: Listeners
    printing: PrintDispatcher
    audio: CallRenderer
    sms: sms.SmsOutbox
    board_zones: dict[str, Any]


def _when_ready(sio: SocketIO) -> Any:
    """spawn(fn): sio.start_background_task(fn) once `sio` is bound to its app (init_app comes after
    bootstrap); until then a short-lived waiter (a thread; a greenlet once gevent patched threading)."""
    def spawn(fn: Any) -> None:
        if sio.server is not None:
            sio.start_background_task(fn)
            return

        def wait() -> None:
            while sio.server is None:
                time.sleep(0.05)
            sio.start_background_task(fn)
        threading.Thread(target=wait, name="sms-outbox-start", daemon=True).start()
    return spawn


def bootstrap(settings: Settings, sio: SocketIO, clock: Clock = utc_now) -> Runtime:
    """Build the runtime for `settings`; pushes and background work go through `sio`."""
    # the server under gevent or eventlet keeps its SQLite connections open between uses (storage._Kept)
    engine = make_engine(settings.database_url, keep_connections=settings.async_mode != "threading")
    upgrade(engine)  # a no-op at head; a fresh database gets its schema
    bus = Bus()
    hall = HallApp(settings, engine, clock=clock, bus=bus, live_stale_s=LIVE_STALE_S)
    hall.ensure_halls()
    devices = DeviceRegistry(sio)
    listeners = Listeners()

    def emit(event: str, payload: dict[str, Any], room: str) -> None:
        sio.emit(event, payload, to=room)

    def printer_status(hall_code: str, device: str, status: str, detail: str) -> None:
        devices.update(hall_code, f"{device}-printer", "printer", status, detail)

    def tts_status(hall_code: str, status: str, detail: str) -> None:
        if status != "online":
            log.error("hall %s: %s: %s", hall_code, status, detail)
        devices.update(hall_code, TTS_DEVICE, "tts", status, detail)

    # durable SMS: rows of sms_outbox, sent by a worker (a greenlet under gevent, a thread in threading mode)
    gateways = {h.code: sms.make_gateway(h.sms, settings.data_dir) for h in settings.halls}
    outbox = sms.SmsOutbox(gateways, engine, spawn=_when_ready(sio), sleep=sio.sleep,
                           lease=float(settings.sms_lease_seconds),
                           start=any(g is not None for g in gateways.values()))
    rt = Runtime(
        settings=settings, engine=engine, bus=bus, hall=hall, files=FileDesk(hall),
        auth=Auth(engine, settings.token_hours, clock=clock, idle_minutes=settings.token_idle_minutes,
                  hasher=HashPool(settings.async_mode)), reports=Reports(hall),
        alerts=AlertDesk(hall, devices.of_hall), devices=devices, listeners=listeners,
        # each server-driven printer's worker: a greenlet under gevent, a thread in threading mode
        printing=PrintDispatcher(settings, emit, printer_status, spawn=sio.start_background_task),
        audio=CallRenderer(settings, hall.views.call, sio.start_background_task, tts_status, sio.sleep,
                           listening=listeners.any),
        sms=outbox,
        board_zones={h.code: hall_zones(h, settings) for h in settings.halls},
    )
    # What happens after a commit, in order: the ticket's print job, the call's audio pre-render,
    # the pushes, then SMS. Each handler logs its own failures; none can undo the change.
    notifier = sms.SmsNotifier(hall, outbox)
    broadcaster = Broadcaster(hall, sio)
    for effect in (rt.printing.after_commit, rt.audio.after_commit, broadcaster, notifier):
        bus.subscribe(effect)
    if settings.message_queue:  # several processes: notice the others' changes while the queue is down
        _when_ready(sio)(broadcaster.watch_seq)
    # ... and before a command's commit, in its transaction: the call's SMS outbox rows
    bus.before_commit(notifier.in_transaction)
    return rt

