"""The app factory: a thin create_app over the composition root (hall_server.bootstrap)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from flask.sessions import SessionInterface, SessionMixin

from config import Settings, load_settings
from hall_server.application import Clock, utc_now
from hall_server.bootstrap import bootstrap
from hall_server.current import EXTENSION
from hall_server.realtime import client_manager, socketio


def create_app(settings: Settings | None = None, clock: Clock = utc_now, **socketio_kwargs: Any) -> Flask:
    """Assemble the server for the given settings (defaults: config files + HALL_* environment)."""
    settings = settings or load_settings()
    app = Flask(__name__, static_folder=None)
    app.session_interface = NoSessions()
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = bootstrap(settings, socketio, clock)

    from hall_server import api, pages, web_guard
    web_guard.init_app(app, settings.public_url)  # body limit, URL check, security headers
    api.register_errors(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    for init_app in _feature_modules():
        init_app(app)
    # client_manager always given: Redis with a local fallback, or None (one process) so a queue of an
    # earlier app in this interpreter is never reused
    socketio.init_app(app, async_mode=settings.async_mode, message_queue=settings.message_queue,
                      client_manager=client_manager(settings.message_queue),
                      cors_allowed_origins=[settings.public_url], **socketio_kwargs)
    return app


class NoSessions(SessionInterface):
    """No cookie session: API callers carry a bearer token and pages keep theirs in the browser. Flask's
    default opened one on every request, signer included (3% of the server's time issuing tickets)."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None  # Flask's null session: reading it is empty, writing to it is an error

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        return None


def _feature_modules() -> list[Callable[[Flask], None]]:
    """The init_app of each feature package: each registers its blueprints."""
    from audio import web as audio_web
    from counter_client import web as counter_web
    from display_board import web as board_web
    from hall_server import backoffice, supervisor
    from kiosk import web as kiosk_web
    return [kiosk_web.init_app, board_web.init_app, counter_web.init_app, audio_web.init_app,
            supervisor.init_app, backoffice.init_app]
