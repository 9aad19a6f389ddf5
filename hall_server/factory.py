"""The app factory: settings, database, application object, blueprints, Socket.IO."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from config import Settings, load_settings
from hall_server import sms
from hall_server.application import Bus, Clock, HallApp, utc_now
from hall_server.application.files import FileDesk
from hall_server.auth import Auth
from hall_server.migrate import upgrade
from hall_server.realtime import Broadcaster, DeviceRegistry, socketio
from hall_server.storage import make_engine

log = logging.getLogger(__name__)
# Real seconds a request may read a hall's live state (estimates) after a change before the
# broadcaster's coalesced rebuild catches up: one rebuild serves a rush of tickets.
LIVE_STALE_S = 0.5


def create_app(settings: Settings | None = None, clock: Clock = utc_now, **socketio_kwargs: Any) -> Flask:
    """Assemble the server for the given settings (defaults: config files + HALL_* environment)."""
    settings = settings or load_settings()
    app = Flask(__name__, static_folder=None)
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    engine = make_engine(settings.database_url)
    upgrade(engine)  # a no-op at head; a fresh database gets its schema
    bus = Bus()
    # The server shares each hall's live state for a moment (LIVE_STALE_S) between changes' rebuilds.
    hall = HallApp(settings, engine, clock=clock, bus=bus, live_stale_s=LIVE_STALE_S)
    hall.ensure_halls()
    app.extensions["hall"] = hall
    app.extensions["hall_files"] = FileDesk(hall)
    app.extensions["hall_auth"] = Auth(engine, settings.token_hours, clock=clock)
    app.extensions["hall_settings"] = settings

    from hall_server import api, pages
    api.register_errors(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    for init_app in _feature_modules():
        init_app(app)

    socketio.init_app(app, async_mode=settings.async_mode, message_queue=settings.message_queue,
                      cors_allowed_origins=[settings.public_url], **socketio_kwargs)
    bus.subscribe(Broadcaster(hall, socketio))
    sms.init_app(app, hall)
    app.extensions["hall_devices"] = DeviceRegistry(socketio)
    return app


def _feature_modules() -> list:
    """The init_app of each feature package (pages, devices); each registers its blueprint or hooks."""
    from audio import web as audio_web
    from counter_client import web as counter_web
    from display_board import web as board_web
    from hall_server import backoffice, supervisor
    from kiosk import web as kiosk_web
    return [kiosk_web.init_app, board_web.init_app, counter_web.init_app, audio_web.init_app,
            supervisor.init_app, backoffice.init_app]
