"""The running app's `Runtime` (built by hall_server.bootstrap), for blueprints and socket handlers."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from hall_server.bootstrap import Runtime

EXTENSION = "hall_runtime"


def runtime() -> Runtime:
    """The runtime of the app handling the current request or socket event."""
    rt: Runtime = current_app.extensions[EXTENSION]
    return rt
