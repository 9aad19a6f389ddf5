"""The hall's display board: a full-screen page for a TV, opened with a board device token.

    /board/<hall>?device=<token>[&zone=<name>][&services=a,b][&windows=1,2,3]
                 [&digits=eastern|western][&lang=ar|en][&autoplay=1]

Everything live comes from the Socket.IO stream through hall-live.js (snapshot, events, resync);
the page itself only carries settings. Every wrong parameter is a 4xx page that says what is wrong,
because the person reading it is setting up a TV, not debugging a server.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, render_template, request

from config import ConfigError, HallDef, Settings
from hall_server.current import runtime
from hall_server.web_guard import parse_int

bp = Blueprint("display_board", __name__, url_prefix="/board", template_folder="templates")
# The page's own CSS and JS, next to /static/hall (hall-live.js) and /static/vendor.
assets = Blueprint("display_board_assets", __name__, static_folder="static",
                   static_url_path="/static/board")

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class BadBoardRequest(Exception):
    """A board URL that cannot work; shown to the installer as a page with the status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Zone:
    """The part of a hall a board shows: some windows and/or some services (None = all)."""

    windows: tuple[int, ...] | None = None
    services: tuple[str, ...] | None = None


def hall_zones(hall: HallDef, settings: Settings) -> dict[str, Zone]:
    """Read and check [board.zones.<name>] of a hall file; a ConfigError names file and key."""
    raw = hall.board.get("zones", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{hall.source}: board.zones: expected tables [board.zones.<name>], got {raw!r}")
    numbers = {w.number for w in hall.windows}
    zones = {}
    for name, table in raw.items():
        where = f"{hall.source}: board.zones.{name}"
        if not isinstance(table, dict) or set(table) - {"windows", "services"}:
            raise ConfigError(f"{where}: expected a table with windows = [...] and/or services = [...]")
        wins = table.get("windows")
        if wins is not None and (not isinstance(wins, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n in numbers for n in wins)):
            raise ConfigError(f"{where}.windows: expected window numbers of this hall, got {wins!r}")
        codes = table.get("services")
        if codes is not None and (not isinstance(codes, list) or not all(
                isinstance(c, str) and c in settings.catalog.codes for c in codes)):
            raise ConfigError(f"{where}.services: expected service codes from the catalog, got {codes!r}")
        zones[name] = Zone(tuple(wins) if wins else None, tuple(codes) if codes else None)
    return zones


def _list(raw: str | None, what: str, parse: Any, allowed: Any) -> tuple | None:
    """A comma-separated filter parameter, every item checked; None when absent or empty."""
    if raw is None or not raw.strip():
        return None
    items = []
    for part in raw.split(","):
        part = part.strip()
        try:
            value = parse(part)
        except ValueError:
            value = None
        if value is None or value not in allowed:
            raise BadBoardRequest(400, f"{what}: {part!r} is not one of this hall's {what}")
        if value not in items:
            items.append(value)
    return tuple(items)


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = args.get(name, default).strip().lower() or default
    if value not in choices:
        raise BadBoardRequest(400, f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def board_settings(hall_code: str, args: Mapping[str, str]) -> dict[str, Any]:
    """Check the URL of a board and return what the page needs to run (no secrets in it)."""
    settings: Settings = runtime().settings
    try:
        hall = settings.hall(hall_code)
    except KeyError:
        raise BadBoardRequest(404, f"there is no hall with code {hall_code!r}") from None
    token = args.get("device", "").strip()
    if not token:
        raise BadBoardRequest(401, "this page is for a board device: add ?device=<token> to the address "
                                   "(make a token with: hall-server device add board-1 --hall "
                                   f"{hall.code} --role board)")
    who = runtime().auth.resolve(token)
    if who is None or who.kind != "device" or who.role != "board" or who.hall != hall.code:
        raise BadBoardRequest(403, f"the device token is not a board token of hall {hall.code} "
                                   "(revoked, mistyped, or for another device)")
    zones = runtime().board_zones[hall.code]
    zone_name = args.get("zone", "").strip() or None
    zone = Zone()
    if zone_name is not None:
        if zone_name not in zones:
            known = ", ".join(sorted(zones)) or "none are configured"
            raise BadBoardRequest(400, f"zone {zone_name!r} is not in [board.zones] of this hall ({known})")
        zone = zones[zone_name]
    numbers = [w.number for w in hall.windows]
    windows = _list(args.get("windows"), "windows", lambda s: parse_int(s, 1, 999), numbers) or zone.windows
    services = _list(args.get("services"), "services", str, settings.catalog.codes) or zone.services
    digits = _choice(args, "digits", ("eastern", "western"), hall.board.get("digits", "eastern"))
    lang = _choice(args, "lang", ("ar", "en"), "ar")
    autoplay = args.get("autoplay", "0").strip().lower()
    if autoplay not in TRUE + FALSE:
        raise BadBoardRequest(400, f"autoplay must be 1 or 0, not {autoplay!r}")
    return {
        "hall": hall.code,
        "hall_name": {"ar": hall.name_ar, "en": hall.name_en},
        "timezone": hall.timezone,
        "device": who.name,
        "zone": zone_name,
        "windows": list(windows) if windows else None,
        "services": list(services) if services else None,
        "hall_windows": [{"number": w.number, "services": list(w.services)} for w in hall.windows],
        "service_names": {s.code: {"ar": s.name_ar, "en": s.name_en} for s in settings.catalog.services},
        "digits": digits,
        "lang": lang,
        "autoplay": autoplay in TRUE,
        "news": {"ar": hall.board.get("news_ar", ""), "en": hall.board.get("news_en", "")},
        "server_now": int(time.time() * 1000),  # the TV's clock may be off: the page corrects by this
    }


@bp.get("/<hall>")
def board_page(hall: str) -> Response | tuple[str, int]:
    """The board page of a hall (full screen on a TV)."""
    try:
        cfg = board_settings(hall, request.args)
    except BadBoardRequest as exc:
        return render_template("board_error.html", status=exc.status, message=exc.message), exc.status
    resp = Response(render_template("board.html", cfg=cfg))
    resp.headers["Cache-Control"] = "no-store"  # the page carries the server's time and settings
    return resp


def init_app(app: Flask) -> None:
    """Register the board page and its assets (zones are checked by the composition root at start)."""
    app.register_blueprint(bp)
    app.register_blueprint(assets)
