"""Windows and the board: sign in and out, pause, open, close, services served, the board's message."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from hall_server import events as ev
from hall_server.application.calling import check_clerk
from hall_server.application.common import Forbidden
from hall_server.domain.commands import SetBoardMessage, SetWindowServices, SetWindowState
from hall_server.domain.errors import DomainError, InvalidInput, InvalidTransition
from hall_server.domain.events import EventKind, window_event
from hall_server.domain.windows import WINDOW_ACTIONS, WindowState
from hall_server.storage import halls, windows

if TYPE_CHECKING:
    from hall_server.application.context import Core
    from hall_server.application.views import Views


def set_window_state(cmd: SetWindowState, core: Core, views: Views) -> dict[str, Any]:
    """Sign in, sign out, pause, resume, open or close a window."""
    hall = core.hall(cmd.hall)
    if cmd.action not in WINDOW_ACTIONS:
        raise InvalidInput(f"unknown window action {cmd.action!r}")
    actor, number = cmd.actor, cmd.window
    with core.uow(hall) as uow:
        win = uow.window(number)
        values: dict[str, Any]
        if cmd.action == "sign_in":
            if actor.user_id is None:
                raise Forbidden("only staff sign in to windows")
            if actor.windows is not None and number not in actor.windows:
                raise Forbidden(f"you are not allowed to use window {number}", "window_not_allowed")
            if win.state != WindowState.CLOSED and win.clerk_id not in (None, actor.user_id):
                raise DomainError(f"window {number} is in use by another clerk", "window_taken")
            other = uow.c.execute(select(windows.c.hall, windows.c.number).where(
                windows.c.clerk_id == actor.user_id, windows.c.state != WindowState.CLOSED.value,
                or_(windows.c.hall != hall.code, windows.c.number != number))).first()
            if other is not None:
                raise DomainError(f"you are signed in at window {other.number}; sign out there first",
                                  "already_signed_in")
            values = {"state": WindowState.OPEN.value, "clerk_id": actor.user_id}
        elif cmd.action in ("sign_out", "close"):
            if cmd.action == "sign_out":
                check_clerk(win, actor)
            if uow.active_at(number) is not None:
                raise DomainError("finish the current ticket first", "window_busy")
            values = {"state": WindowState.CLOSED.value, "clerk_id": None, "priority_streak": 0}
        elif cmd.action == "pause":
            check_clerk(win, actor)
            if win.state == WindowState.CLOSED:
                raise InvalidTransition("a closed window cannot pause")
            values = {"state": WindowState.PAUSED.value}
        else:  # resume, open
            if cmd.action == "resume":
                check_clerk(win, actor)
                if win.state == WindowState.CLOSED:
                    raise InvalidTransition("sign in to open a closed window")
            values = {"state": WindowState.OPEN.value}
        uow.c.execute(update(windows).where(windows.c.id == win.id).values(changed_at=uow.now, **values))
        uow.event(window_event(cmd.action), actor, window=number, data={"from": win.state, "to": values["state"]})
        uow.emit(ev.WINDOW_CHANGED, {"number": number, "state": values["state"]})
    return views.window_view(hall.code, number)


def set_window_services(cmd: SetWindowServices, core: Core, views: Views) -> dict[str, Any]:
    """Change what a window serves, live (supervisor)."""
    hall = core.hall(cmd.hall)
    codes = list(cmd.services)
    if not codes or len(set(codes)) != len(codes):
        raise InvalidInput("services must be a non-empty list without repeats")
    for code in codes:
        core.service(code)
    with core.uow(hall) as uow:
        win = uow.window(cmd.window)
        uow.c.execute(update(windows).where(windows.c.id == win.id).values(services=codes, changed_at=uow.now))
        uow.event(EventKind.WINDOW_SERVICES, cmd.actor, window=cmd.window,
                  data={"from": list(win.services), "to": codes})
        uow.emit(ev.WINDOW_CHANGED, {"number": cmd.window, "services": codes})
    return views.window_view(hall.code, cmd.window)


def set_board_message(cmd: SetBoardMessage, core: Core, views: Views) -> None:
    """A line of text every board of the hall shows (supervisor)."""
    hall = core.hall(cmd.hall)
    if cmd.message is not None and len(cmd.message) > 200:
        raise InvalidInput("message is at most 200 characters")
    with core.uow(hall) as uow:
        uow.c.execute(update(halls).where(halls.c.code == hall.code).values(board_message=cmd.message or None))
        uow.event(EventKind.BOARD_MESSAGE, cmd.actor, data={"message": cmd.message})
        uow.outcome.touched_services = False
        uow.emit(ev.BOARD_MESSAGE, {"message": cmd.message or None})
