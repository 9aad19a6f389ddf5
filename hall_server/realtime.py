"""Socket.IO: `join` with a snapshot first, and the one broadcaster that turns outcomes into pushes."""
from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request
from flask_socketio import SocketIO, join_room

from hall_server import events as ev
from hall_server.application import HallApp, Outcome
from hall_server.auth import Auth
from hall_server.domain.errors import DomainError

log = logging.getLogger(__name__)
socketio = SocketIO()

_NEEDS_TOKEN = {"counter": ("clerk", "supervisor", "admin"), "supervisor": ("supervisor", "admin"),
                "announcer": ("announcer", "supervisor", "admin"), "printer": ("printer", "kiosk", "admin")}


def _fail(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


@socketio.on(ev.JOIN)
def on_join(data: Any) -> dict[str, Any]:
    """Any client joins a hall in a role; it gets a `snapshot` first, then the hall's events."""
    app: HallApp = current_app.extensions["hall"]
    if not isinstance(data, dict):
        return _fail("invalid_join", "join needs an object {hall, role}")
    hall, role = data.get("hall"), data.get("role")
    if role not in ev.ROLES:
        return _fail("invalid_role", f"role must be one of {', '.join(ev.ROLES)}")
    try:
        app.hall(hall if isinstance(hall, str) else "")
    except DomainError as exc:
        return _fail(exc.code, exc.message)
    device = None
    if role in _NEEDS_TOKEN:
        auth: Auth = current_app.extensions["hall_auth"]
        who = auth.resolve(data.get("auth") if isinstance(data.get("auth"), str) else None)
        if who is None or who.role not in _NEEDS_TOKEN[role] or (who.hall and who.hall != hall):
            return _fail("unauthorized", f"role {role} needs a valid token")
        device = who.name
    if role == "ticket":
        token = data.get("token")
        if not isinstance(token, str):
            return _fail("invalid_join", "role ticket needs the ticket's token")
        try:
            ticket = app.ticket_by_token(token)
        except DomainError as exc:
            return _fail(exc.code, exc.message)
        if ticket["hall"] != hall:
            return _fail("not_found", "no such ticket in this hall")
        join_room(ev.ticket_room(token))
    if role == "printer":
        join_room(ev.printer_room(hall, data.get("device") or device))
    join_room(ev.hall_room(hall))
    # Joined first, snapshot second: anything committed after the snapshot reaches us as an event.
    snap = {"role": role, "board": app.board(hall), "queue": app.queue_state(hall)}
    snap["seq"] = snap["board"]["seq"]
    if role == "ticket":
        snap["ticket"] = app.ticket_by_token(data["token"])
    socketio.emit(ev.SNAPSHOT, snap, to=request.sid)
    return {"ok": True, "seq": snap["seq"]}


class Broadcaster:
    """Turns a committed Outcome into Socket.IO events, each stamped with the hall's seq."""

    def __init__(self, app: HallApp, sio: SocketIO) -> None:
        self.app, self.sio = app, sio

    def __call__(self, outcome: Outcome) -> None:
        if outcome.hall is None or outcome.seq is None:
            return
        for e in outcome.emits:
            self.sio.emit(e.event, {**e.payload, "seq": outcome.seq, "hall": outcome.hall}, to=e.room)
        if outcome.touched_services:
            state = self.app.queue_state(outcome.hall)
            state["seq"] = outcome.seq  # the change this state follows
            self.sio.emit(ev.QUEUE_CHANGED, state, to=ev.hall_room(outcome.hall))
