"""The app factory: settings, database, application object, blueprints, Socket.IO."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from config import Settings, load_settings
from hall_server.application import Clock, HallApp, Notifier, utc_now
from hall_server.auth import Auth
from hall_server.realtime import Broadcaster, socketio
from hall_server.storage import make_engine

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, clock: Clock = utc_now, **socketio_kwargs: Any) -> Flask:
    """Assemble the server for the given settings (defaults: config files + HALL_* environment)."""
    settings = settings or load_settings()
    app = Flask(__name__, static_folder=None)
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    engine = make_engine(settings.database_url)
    notifier = Notifier()
    hall = HallApp(settings, engine, clock=clock, notifier=notifier)
    hall.ensure_halls()
    app.extensions["hall"] = hall
    app.extensions["hall_auth"] = Auth(engine, settings.token_hours, clock=clock)
    app.extensions["hall_settings"] = settings

    from hall_server import api, pages
    api.register_errors(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    for name in ("kiosk", "display_board", "counter_client"):
        try:
            module = __import__(f"{name}.web", fromlist=["bp"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.web" and exc.name != name:
                raise
            continue
        app.register_blueprint(module.bp)

    socketio.init_app(app, async_mode=settings.async_mode, message_queue=settings.message_queue,
                      cors_allowed_origins=[settings.public_url], **socketio_kwargs)
    notifier.subscribe(Broadcaster(hall, socketio))
    return app
