"""The one settings loader: hall files, the service catalog and HALL_* environment overrides.

Nothing else in the project reads the environment. Every table is checked here, at load time, so
`hall-server check-config` refuses whatever would stop the server starting (or would only fail at
the first ticket, call or SMS): a wrong file gets a ConfigError that names the file, the key and
what was expected (`file: key.path: expected ..., got ...`). A key that no table knows is an error
too (a typo would otherwise be ignored silently); only [board.zones] and [sms.templates] have keys
chosen by the operator, and even those are checked.
"""
from __future__ import annotations

import importlib.util
import os
import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CATALOG = CONFIG_DIR / "catalog.toml"
DEFAULT_HALLS = (CONFIG_DIR / "halls" / "kafr_saqr.toml",)

STRATEGIES = ("longest_wait", "strict_order")
PRIORITY_CLASSES = ("elderly", "disabled", "pregnant", "appointment")
SERVICE_KINDS = ("submit", "followup", "collect", "pay", "inquiry")
HALL_KINDS = ("main", "mini", "mobile")
DEVICE_KINDS = ("kiosk", "board", "announcer", "printer")
ASYNC_MODES = ("gevent", "eventlet", "threading")
DIGITS = ("eastern", "western")
LANGS = ("ar", "en")
TTS_ENGINES = ("pyttsx3", "espeak", "espeak-ng", "none")  # audio.synth.make_engine
SMS_BACKENDS = ("log", "file", "http", "none")             # hall_server.sms.make_gateway

# Kiosk printing (printer.dispatch.kiosk_printer and printer.backends.make_printer). The key table
# is the same as make_printer's; tests/unit/test_config.py compares the two so they cannot drift.
PRINTER_MODES = ("server", "agent", "none")
PRINTER_LAYOUT_KEYS = ("mode", "lang", "digits")
PRINTER_BACKENDS = ("network", "usb", "serial", "file", "none")
PRINTER_BACKEND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # backend: (required keys, optional keys)
    "network": (("host",), ("port", "timeout", "profile", "width", "drain_timeout", "status_timeout")),
    "usb": (("vendor_id", "product_id"), ("profile", "width", "timeout_ms", "in_ep", "out_ep")),
    "serial": (("devfile",), ("baudrate", "profile", "width", "timeout")),
    "file": (("folder",), ("profile", "width")),
    "none": ((), ("width",)),
}
# The profile each backend class uses when none is given (its dot width limits the ticket's width).
PRINTER_DEFAULT_PROFILES = {"network": "TM-T88V", "usb": "TM-T20II", "serial": "TM-T20II", "file": "default"}
_PRINTER_INT_KEYS = ("port", "width", "timeout_ms", "baudrate", "vendor_id", "product_id", "in_ep", "out_ep")
_PRINTER_SECONDS_KEYS = ("timeout", "drain_timeout", "status_timeout")

# The hall's [audio] table (audio.announcer.hall_voice): sinks of hall-announcer, phrases of a call.
AUDIO_SINKS = ("aplay", "paplay", "file", "null")
WORDING_KEYS = ("ar_ticket", "ar_window", "en_ticket", "en_window",  # audio.phrases.Wording
                "ar_window_short", "en_window_short", "ar_second_call", "en_second_call",
                "ar_last_call", "en_last_call")

# [sms.templates]: the message kinds and the placeholders each is formatted with (hall_server.sms).
SMS_TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "near": ("hall", "number", "ahead"),
    "called": ("hall", "number", "window"),
    "needs_documents": ("hall", "file", "reason"),
    "ready": ("hall", "file", "reason"),
}
_SMS_SAMPLE = {"hall": "hall", "number": "A-001", "ahead": 3, "window": 1, "file": "2026-000001", "reason": "x"}

_HALL_FILE_KEYS = ("hall", "queue", "windows", "board", "printer", "audio", "calendar", "sms", "devices")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PREFIX_RE = re.compile(r"^[A-Z]$")
_NO_PROFILE_CHECK = object()


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names file, key and expectation."""


@dataclass(frozen=True)
class Sector:
    code: str
    name_ar: str
    name_en: str


@dataclass(frozen=True)
class ServiceDef:
    code: str
    sector: str
    prefix: str
    name_ar: str
    name_en: str
    documents_ar: tuple[str, ...]
    documents_en: tuple[str, ...]
    fee: float
    expected_minutes: int
    deadline_days: int
    kind: str


@dataclass(frozen=True)
class Catalog:
    sectors: tuple[Sector, ...]
    services: tuple[ServiceDef, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {s.code: s for s in self.services})

    def service(self, code: str) -> ServiceDef:
        """Return the service with this code (KeyError if unknown)."""
        return self._by_code[code]  # type: ignore[attr-defined]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self._by_code)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class QueueRules:
    strategy: str = "longest_wait"
    priority_ratio: int = 3
    recall_limit: int = 2
    wait_target_minutes: int = 15
    priority_classes: tuple[str, ...] = ("elderly", "disabled", "pregnant")


@dataclass(frozen=True)
class WindowDef:
    number: int
    services: tuple[str, ...]


@dataclass(frozen=True)
class DeviceDef:
    name: str
    kind: str
    printer: Mapping[str, Any] = field(default_factory=dict)
    kiosk: str | None = None  # a print agent's device: the kiosk whose tickets it prints (bound here)


@dataclass(frozen=True)
class HallDef:
    code: str
    name_ar: str
    name_en: str
    governorate_ar: str
    governorate_en: str
    kind: str
    timezone: str
    queue: QueueRules
    windows: tuple[WindowDef, ...]
    board: Mapping[str, Any]
    printer: Mapping[str, Any]
    audio: Mapping[str, Any]
    devices: tuple[DeviceDef, ...]
    holidays: tuple[date, ...] = ()
    sms: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Settings:
    halls: tuple[HallDef, ...]
    catalog: Catalog
    database_url: str
    message_queue: str | None
    secret_key: str
    async_mode: str
    host: str
    port: int
    public_url: str
    data_dir: Path
    tts_engine: str
    voice_pack: Path | None
    token_hours: int = 12
    token_idle_minutes: int = 120  # a staff token unused this long stops working; 0: no idle timeout
    # The audit trail's key (hall_server.application.audit): HALL_AUDIT_KEY, or the file
    # HALL_AUDIT_KEY_FILE names; neither: <data_dir>/audit.key, created on first use (mode 0600).
    audit_key: str | None = field(default=None, repr=False)
    audit_key_file: Path | None = None
    audit_export_hours: int = 24  # signed chain heads written off the database every N hours
    governorate_url: str | None = None  # where the signed heads are also POSTed (best effort)
    governorate_token: str | None = field(default=None, repr=False)
    # how long a claimed SMS is its sender's before another process may retry it: longer than one send
    # with the gateway's own retries and timeouts (HALL_SMS_LEASE_SECONDS)
    sms_lease_seconds: int = 120

    def hall(self, code: str) -> HallDef:
        """Return the hall with this code (KeyError if unknown)."""
        for h in self.halls:
            if h.code == code:
                return h
        raise KeyError(code)


class _Reader:
    """Typed access to one TOML table with errors that name file and key."""

    def __init__(self, source: str, table: Mapping[str, Any], path: str) -> None:
        self.source, self.table, self.path = source, table, path

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, expected: str, got: Any = None) -> ConfigError:
        shown = "" if got is None else f", got {got!r}"
        return ConfigError(f"{self.source}: {self._key(key)}: expected {expected}{shown}")

    def only(self, allowed: Iterable[str], what: str = "") -> None:
        """Refuse keys this table does not know: a typo must not be ignored silently."""
        allowed = tuple(allowed)
        for key in self.table:
            if key not in allowed:
                known = ", ".join(allowed) or "none"
                raise ConfigError(f"{self.source}: {self._key(key)}: expected one of the keys {known}"
                                  f"{what}, got unknown key {key!r}")

    def get(self, key: str, kind: type | tuple[type, ...], expected: str, default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(key, expected + " (missing)")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind in (int, float):
            raise self.fail(key, expected, value)
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            raise self.fail(key, expected, value)
        return value

    def text(self, key: str, default: Any = ...) -> str:
        value = self.get(key, str, "a non-empty string", default)
        if isinstance(value, str) and not value.strip():
            raise self.fail(key, "a non-empty string", value)
        return value

    def code(self, key: str) -> str:
        value = self.get(key, str, "a lowercase code like 'building_permit'")
        if not _CODE_RE.match(value):
            raise self.fail(key, "a lowercase code like 'building_permit'", value)
        return value

    def integer(self, key: str, lo: int, hi: int, default: Any = ...) -> int:
        value = self.get(key, int, f"a whole number from {lo} to {hi}", default)
        if not lo <= value <= hi:
            raise self.fail(key, f"a whole number from {lo} to {hi}", value)
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        expected = "one of " + ", ".join(choices)
        value = self.get(key, str, expected, default)
        if value not in choices:
            raise self.fail(key, expected, value)
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, "a list of strings", default)
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "a list of non-empty strings", value)
        return tuple(value)

    def table_(self, key: str) -> _Reader:
        value = self.get(key, dict, "a table", {})
        return _Reader(self.source, value, self._key(key))

    def tables(self, key: str) -> list[_Reader]:
        value = self.get(key, list, "an array of tables ([[...]])", [])
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", "a table", item)
            out.append(_Reader(self.source, item, self._key(f"{key}[{i}]")))
        return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: expected a TOML file, got a folder") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Read and check the service catalog."""
    root = _Reader(str(path), _read_toml(path), "")
    root.only(("sectors", "services"))
    sectors = []
    for r in root.tables("sectors"):
        r.only(("code", "name_ar", "name_en"))
        sectors.append(Sector(r.code("code"), r.text("name_ar"), r.text("name_en")))
    sector_codes = {s.code for s in sectors}
    if len(sector_codes) != len(sectors):
        raise root.fail("sectors", "unique sector codes")
    services = []
    seen: set[str] = set()
    for r in root.tables("services"):
        r.only(tuple(ServiceDef.__dataclass_fields__))
        code = r.code("code")
        if code in seen:
            raise r.fail("code", "a code not used by another service", code)
        seen.add(code)
        sector = r.text("sector")
        if sector not in sector_codes:
            raise r.fail("sector", "a sector code defined under [[sectors]]", sector)
        prefix = r.text("prefix")
        if not _PREFIX_RE.match(prefix):
            raise r.fail("prefix", "one uppercase Latin letter A-Z", prefix)
        docs_ar, docs_en = r.strings("documents_ar", ()), r.strings("documents_en", ())
        if len(docs_ar) != len(docs_en):
            raise r.fail("documents_en", f"as many entries as documents_ar ({len(docs_ar)})", len(docs_en))
        fee = r.get("fee", float, "a fee in EGP (a number >= 0)", 0.0)
        if fee < 0:
            raise r.fail("fee", "a fee in EGP (a number >= 0)", fee)
        services.append(ServiceDef(
            code=code, sector=sector, prefix=prefix, name_ar=r.text("name_ar"),
            name_en=r.text("name_en"), documents_ar=docs_ar, documents_en=docs_en, fee=fee,
            expected_minutes=r.integer("expected_minutes", 1, 240),
            deadline_days=r.integer("deadline_days", 0, 365),
            kind=r.choice("kind", SERVICE_KINDS, "submit"),
        ))
    if not services:
        raise root.fail("services", "at least one [[services]] table")
    return Catalog(tuple(sectors), tuple(services))


# ----- the sub-tables of a hall file ---------------------------------------------------------------
def _queue_rules(q: _Reader) -> QueueRules:
    """[queue]: how the next ticket is chosen."""
    q.only(tuple(QueueRules.__dataclass_fields__))
    classes = q.strings("priority_classes", QueueRules.priority_classes)
    for c in classes:
        if c not in PRIORITY_CLASSES:
            raise q.fail("priority_classes", "classes among " + ", ".join(PRIORITY_CLASSES), c)
    if len(set(classes)) != len(classes):
        raise q.fail("priority_classes", "each class once", list(classes))
    return QueueRules(
        strategy=q.choice("strategy", STRATEGIES, "longest_wait"),
        priority_ratio=q.integer("priority_ratio", 1, 100, 3),
        recall_limit=q.integer("recall_limit", 0, 10, 2),
        wait_target_minutes=q.integer("wait_target_minutes", 1, 600, 15),
        priority_classes=classes,
    )


def _windows(root: _Reader, catalog: Catalog) -> tuple[WindowDef, ...]:
    """[[windows]]: numbered windows, each serving catalog services in order."""
    windows = []
    for w in root.tables("windows"):
        w.only(("number", "services"))
        number = w.integer("number", 1, 999)
        codes = w.strings("services")
        for c in codes:
            if c not in catalog.codes:
                raise w.fail("services", "service codes from the catalog", c)
        if len(set(codes)) != len(codes):
            raise w.fail("services", "each service once", codes)
        windows.append(WindowDef(number, codes))
    if not windows:
        raise root.fail("windows", "at least one [[windows]] table")
    if len({w.number for w in windows}) != len(windows):
        raise root.fail("windows", "unique window numbers")
    return tuple(windows)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _board(b: _Reader, windows: tuple[WindowDef, ...], catalog: Catalog) -> None:
    """[board]: digits, the news ticker and the zones (display_board.web.hall_zones reads them)."""
    b.only(("digits", "news_ar", "news_en", "zones", "show_accuracy"))
    b.choice("digits", DIGITS, "eastern")
    b.get("show_accuracy", bool, "true or false (show today's estimate accuracy on the board)", False)
    b.get("news_ar", str, "a string", "")
    b.get("news_en", str, "a string", "")
    zones = b.get("zones", dict, "tables [board.zones.<name>]", {})
    numbers = {w.number for w in windows}
    for name, table in zones.items():
        if not isinstance(table, dict):
            raise b.fail(f"zones.{name}", "a table with windows = [...] and/or services = [...]", table)
        z = _Reader(b.source, table, b._key(f"zones.{name}"))
        z.only(("windows", "services"))
        wins = z.get("windows", list, "window numbers of this hall", [])
        if not all(_whole(n) and n in numbers for n in wins):
            raise z.fail("windows", "window numbers of this hall (" + ", ".join(map(str, sorted(numbers))) + ")",
                         wins)
        codes = z.get("services", list, "service codes from the catalog", [])
        if not all(isinstance(c, str) and c in catalog.codes for c in codes):
            raise z.fail("services", "service codes from the catalog", codes)


def _printer_value(r: _Reader, key: str) -> Any:
    """One backend key, checked the way printer.backends.make_printer checks it."""
    value = r.table[key]
    if key in _PRINTER_INT_KEYS:
        expected = {
            "port": "a TCP port from 1 to 65535",
            "width": "a dot width, a multiple of 8 (384, 512 or 576)",
            "vendor_id": "a USB id like 0x04b8", "product_id": "a USB id like 0x0e15",
            "in_ep": "a USB endpoint like 0x82", "out_ep": "a USB endpoint like 0x01",
        }.get(key, "a positive whole number")
        number = value
        if isinstance(value, str):
            try:
                number = int(value, 0)
            except ValueError:
                raise r.fail(key, expected, value) from None
        if not _whole(number) or number <= 0:
            raise r.fail(key, expected, value)
        if key == "port" and number > 65535:
            raise r.fail(key, expected, value)
        if key == "width" and number % 8:
            raise r.fail(key, expected, value)
        return number
    if key in _PRINTER_SECONDS_KEYS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise r.fail(key, "a positive number of seconds", value)
        return float(value)
    if not isinstance(value, str) or not value:
        raise r.fail(key, "a non-empty string", value)
    if key == "profile" and _profile_width(value) is _NO_PROFILE_CHECK:
        raise r.fail(key, "a python-escpos printer profile like 'TM-T88V', 'TM-T20II' or 'POS-5890'", value)
    return value


def _profile_width(profile: str) -> Any:
    """The profile's dot width (None: it states none); _NO_PROFILE_CHECK for an unknown profile."""
    from printer.backends import profile_width  # python-escpos' profile data, only when a backend is set
    try:
        return profile_width(profile)
    except ValueError:
        return _NO_PROFILE_CHECK


def printer_width(backend: str, width: int | None, profile_dots: int | None) -> int:
    """The dot width make_printer's backend renders at: the profile's for network, usb, serial and
    file; the none backend takes 576 unless told (it has no profile)."""
    if width:
        return width
    if backend in ("network", "usb", "serial", "file"):
        return profile_dots or 576
    return 576


def _printer_backend(r: _Reader, extra_keys: tuple[str, ...], check_width: bool) -> str:
    """A printer backend table (make_printer's keys): the backend's required and optional keys only."""
    backend = r.choice("backend", PRINTER_BACKENDS, "none")
    required, optional = PRINTER_BACKEND_KEYS[backend]
    r.only(extra_keys + ("backend",) + required + optional, f" (with backend {backend!r})")
    for key in required:
        if key not in r.table:
            kind = "a USB id" if key in ("vendor_id", "product_id") else "a non-empty string"
            raise r.fail(key, f"{kind} (missing {key}: backend {backend!r} needs {', '.join(required)})")
    values = {key: _printer_value(r, key) for key in required + optional if key in r.table}
    if check_width and backend != "none":
        profile = values.get("profile", PRINTER_DEFAULT_PROFILES[backend])
        limit = _profile_width(profile)
        width = printer_width(backend, values.get("width"), limit if isinstance(limit, int) else None)
        if isinstance(limit, int) and width > limit:
            raise r.fail("width", f"at most {limit} dots: {width} is wider than the profile's {limit} "
                                  f"({profile}) and every ticket would be refused", width)
    return backend


def _device_printer(r: _Reader) -> None:
    """A device's `printer = {mode, lang, digits, backend, ...}` (printer.dispatch.kiosk_printer)."""
    cfg = r.table
    default_mode = "none" if not cfg or cfg.get("backend", "none") == "none" else "server"
    mode = r.choice("mode", PRINTER_MODES, default_mode)
    r.choice("lang", LANGS, "ar")
    r.choice("digits", DIGITS, "western")
    if mode == "server" and "backend" not in cfg:
        raise r.fail("backend", "one of " + ", ".join(PRINTER_BACKENDS) + " (missing: mode 'server' prints "
                                "on a printer of the server's)")
    if "backend" in cfg:
        # In modes agent and none the backend is not used, but it is still checked: switching the
        # mode to "server" must not reveal a broken printer only then.
        _printer_backend(r, PRINTER_LAYOUT_KEYS, check_width=mode == "server")
    else:
        r.only(PRINTER_LAYOUT_KEYS, " (no backend: the print agent's command line names its printer)")


def _devices(root: _Reader) -> tuple[DeviceDef, ...]:
    """[[devices]]: named kiosks, boards, announcers and printers, each kiosk with its printing."""
    devices = []
    for d in root.tables("devices"):
        d.only(("name", "kind", "printer", "kiosk"))
        name = d.text("name")
        if len(name) > 60 or not name.isprintable():
            raise d.fail("name", "a printable device name of at most 60 characters", name)
        if any(dev.name == name for dev in devices):
            raise d.fail("name", "a name not used by another device of this hall", name)
        kind = d.choice("kind", DEVICE_KINDS)
        printer = d.get("printer", dict, "a table like {mode = \"none\"}", {})
        # The path names the device, like printer.dispatch does: devices[kiosk-1].printer.mode
        _device_printer(_Reader(root.source, printer, f"devices[{name}].printer"))
        kiosk = d.get("kiosk", str, "the name of the kiosk this print agent prints for", None)
        if kiosk is not None and kind != "printer":
            raise d.fail("kiosk", "no kiosk (only a printer device prints for a kiosk)", kiosk)
        devices.append(DeviceDef(name, kind, printer, kiosk))
    return tuple(devices)


def _hall_printer(p: _Reader) -> None:
    """The hall's [printer] table: a default backend and dot width."""
    p.integer("width", 384, 576, 576)
    _printer_backend(p, (), check_width=True)


def _audio(a: _Reader) -> None:
    """[audio]: the spoken language, wording, default sink and how long call WAVs are kept."""
    a.only(("lang", "sink", "keep_call_wavs_hours", "wording"))
    a.choice("lang", LANGS, "ar")
    a.choice("sink", AUDIO_SINKS, "aplay")
    keep = a.get("keep_call_wavs_hours", int, "a whole number of hours from 1 to 720", 24)
    if not 1 <= keep <= 720:
        raise a.fail("keep_call_wavs_hours", "a whole number of hours from 1 to 720", keep)
    words = a.table_("wording")
    words.only(WORDING_KEYS)
    for key in words.table:
        words.text(key)


def _holidays(cal: _Reader) -> tuple[date, ...]:
    """[calendar] holidays: dates that do not count as working days."""
    cal.only(("holidays",))
    holidays = []
    for i, day in enumerate(cal.get("holidays", list, "a list of dates like 2026-01-07", [])):
        if isinstance(day, str):
            try:
                day = date.fromisoformat(day)
            except ValueError:
                raise cal.fail(f"holidays[{i}]", "a date like 2026-01-07", day) from None
        if not isinstance(day, date) or isinstance(day, datetime):
            raise cal.fail(f"holidays[{i}]", "a date like 2026-01-07", day)
        holidays.append(day)
    return tuple(holidays)


def _sms(s: _Reader) -> None:
    """[sms]: the gateway (hall_server.sms.make_gateway) and the message templates."""
    s.only(("backend", "near_ahead", "templates", "path", "url", "username", "password", "sender", "attempts"))
    backend = s.choice("backend", SMS_BACKENDS, "log")
    s.integer("near_ahead", 0, 50, 3)
    if "path" in s.table:  # backend file: default <data dir>/sms.jsonl
        s.text("path")
    for key in ("username", "password", "sender"):
        s.get(key, str, "a string", "")
    s.integer("attempts", 1, 10, 3)
    url = s.get("url", str, "the gateway's http:// or https:// address", None)
    if url is not None or backend == "http":
        if url is None:
            raise s.fail("url", "the gateway's http:// or https:// address (missing: backend 'http' needs url)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise s.fail("url", "the gateway's http:// or https:// address", url)
    t = s.table_("templates")
    t.only(tuple(SMS_TEMPLATE_FIELDS), " (the messages the hall sends)")
    for name, fields in SMS_TEMPLATE_FIELDS.items():
        tpl = t.get(name, str, "a message text (empty: not sent)", "")
        expected = "a message text whose {placeholders} are among " + ", ".join(fields)
        try:
            used = [f for _, f, _, _ in string.Formatter().parse(tpl) if f is not None]
        except ValueError:  # an unmatched brace
            raise t.fail(name, expected, tpl) from None
        unknown = {re.split(r"[.\[]", f, maxsplit=1)[0] for f in used} - set(fields)
        if unknown:
            shown = ", ".join(sorted(u or "{}" for u in unknown))
            raise t.fail(name, expected + f" (unknown {shown})", tpl)
        try:
            tpl.format(**_SMS_SAMPLE)  # exactly as hall_server.sms fills it in
        except (ValueError, IndexError, KeyError, AttributeError, TypeError):
            raise t.fail(name, expected, tpl) from None


def load_hall(path: Path, catalog: Catalog) -> HallDef:
    """Read and check one hall file, every table of it, against the catalog."""
    root = _Reader(str(path), _read_toml(path), "")
    root.only(_HALL_FILE_KEYS)
    h = root.table_("hall")
    h.only(("code", "name_ar", "name_en", "governorate_ar", "governorate_en", "kind", "timezone"))
    tz = h.text("timezone", "Africa/Cairo")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise h.fail("timezone", "an IANA time zone like 'Africa/Cairo'", tz) from None
    rules = _queue_rules(root.table_("queue"))
    windows = _windows(root, catalog)
    board = root.table_("board")
    _board(board, windows, catalog)
    printer = root.table_("printer")
    _hall_printer(printer)
    audio = root.table_("audio")
    _audio(audio)
    devices = _devices(root)
    holidays = _holidays(root.table_("calendar"))
    sms = root.table_("sms")
    _sms(sms)
    return HallDef(
        code=h.code("code"), name_ar=h.text("name_ar"), name_en=h.text("name_en"),
        governorate_ar=h.get("governorate_ar", str, "a string", ""),
        governorate_en=h.get("governorate_en", str, "a string", ""),
        kind=h.choice("kind", HALL_KINDS, "main"), timezone=tz, queue=rules,
        windows=windows, board=dict(board.table), printer=dict(printer.table),
        audio=dict(audio.table), devices=devices, holidays=holidays,
        sms=dict(sms.table), source=str(path),
    )


# ----- the environment ------------------------------------------------------------------------------
def _env_fail(key: str, expected: str, got: Any = None) -> ConfigError:
    shown = "" if got is None else f", got {got!r}"
    return ConfigError(f"environment: {key}: expected {expected}{shown}")


def _env_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _env_fail(key, "a whole number", raw) from None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _check_database_url(url: str) -> None:
    """What hall_server.storage.make_engine can open: a SQLite file or PostgreSQL (psycopg)."""
    expected = "sqlite:///path/to/hall.db or postgresql://user:password@host/db"
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?", 1)[0]
        if not path or path == ":memory:":
            raise _env_fail("HALL_DATABASE_URL", expected + " (a file: every connection must see the same "
                                                           "database)", url)
        return
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        if not urlsplit(url).netloc and "host=" not in url:
            raise _env_fail("HALL_DATABASE_URL", expected, url)
        if not _installed("psycopg"):
            raise _env_fail("HALL_DATABASE_URL", "a database whose driver is installed (PostgreSQL needs "
                                                 "psycopg: pip install 'hall-queue[postgres]')", url)
        return
    raise _env_fail("HALL_DATABASE_URL", expected, url)


def _check_message_queue(url: str) -> None:
    """Flask-SocketIO's message queue: Redis (the redis package must be installed)."""
    expected = "redis://host:6379/0 (or rediss://)"
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.netloc:
        raise _env_fail("HALL_MESSAGE_QUEUE", expected, url)
    if not _installed("redis"):
        raise _env_fail("HALL_MESSAGE_QUEUE", "a queue whose client is installed (Redis needs the redis "
                                              "package: pip install 'hall-queue[redis]')", url)


AUDIT_KEY_MIN = 32  # characters of HALL_AUDIT_KEY / bytes of the key file


def _audit_key(env: Mapping[str, str], overrides: dict[str, Any]) -> tuple[str | None, Path | None]:
    """HALL_AUDIT_KEY or HALL_AUDIT_KEY_FILE (one of them; neither: the data dir's audit.key, made on use)."""
    key = overrides.pop("audit_key", None) or env.get("HALL_AUDIT_KEY") or None
    raw_file = overrides.pop("audit_key_file", None) or env.get("HALL_AUDIT_KEY_FILE") or None
    if key is not None and raw_file is not None:
        raise _env_fail("HALL_AUDIT_KEY_FILE", "either HALL_AUDIT_KEY or HALL_AUDIT_KEY_FILE, not both")
    if key is not None and len(key.strip()) < AUDIT_KEY_MIN:
        raise _env_fail("HALL_AUDIT_KEY", f"a secret of at least {AUDIT_KEY_MIN} characters (e.g. the output of "
                                          "python3 -c 'import secrets; print(secrets.token_hex(32))')")
    if raw_file is None:
        return key, None
    path = Path(raw_file)
    if not path.is_file():
        raise _env_fail("HALL_AUDIT_KEY_FILE", "a key file the server can read", str(path))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise _env_fail("HALL_AUDIT_KEY_FILE", f"a key file only the server can read (chmod 600 {path}), "
                                               f"got mode {mode:o}")
    return None, path


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings: defaults, then HALL_* environment variables, then explicit overrides."""
    env = os.environ if env is None else env
    data_dir = Path(overrides.pop("data_dir", None) or env.get("HALL_DATA_DIR") or Path.cwd() / "var")
    if data_dir.exists() and not data_dir.is_dir():
        raise _env_fail("HALL_DATA_DIR", "a folder for the server's files", str(data_dir))
    catalog_path = Path(overrides.pop("catalog", None) or env.get("HALL_CATALOG") or DEFAULT_CATALOG)
    hall_paths = overrides.pop("halls", None)
    if hall_paths is None:
        raw = env.get("HALL_HALLS", "")
        hall_paths = [Path(p) for p in raw.split(os.pathsep) if p] or list(DEFAULT_HALLS)
    catalog = load_catalog(catalog_path)
    halls = tuple(load_hall(Path(p), catalog) for p in hall_paths)
    if not halls:
        raise _env_fail("HALL_HALLS", "at least one hall file")
    if len({h.code for h in halls}) != len(halls):
        raise ConfigError("environment: HALL_HALLS: expected hall files with distinct hall codes")
    async_mode = overrides.pop("async_mode", None) or env.get("HALL_ASYNC_MODE", "gevent")
    if async_mode not in ASYNC_MODES:
        raise ConfigError(f"environment: HALL_ASYNC_MODE: expected one of {', '.join(ASYNC_MODES)}, got {async_mode!r}")
    if async_mode != "threading" and not _installed(async_mode):
        raise _env_fail("HALL_ASYNC_MODE", f"a mode whose library is installed ({async_mode} is not: "
                                           f"pip install {async_mode}, or use threading)", async_mode)
    port = overrides.pop("port", None) or _env_int(env, "HALL_PORT", 8080)
    if not _whole(port) or not 1 <= port <= 65535:
        raise _env_fail("HALL_PORT", "a TCP port from 1 to 65535", port)
    host = overrides.pop("host", None) or env.get("HALL_HOST", "127.0.0.1")
    database_url = (overrides.pop("database_url", None) or env.get("HALL_DATABASE_URL")
                    or f"sqlite:///{data_dir / 'hall.db'}")
    _check_database_url(database_url)
    message_queue = overrides.pop("message_queue", None) or env.get("HALL_MESSAGE_QUEUE") or None
    if message_queue is not None:
        _check_message_queue(message_queue)
    public_url = (overrides.pop("public_url", None) or env.get("HALL_PUBLIC_URL")
                  or f"http://{host}:{port}").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _env_fail("HALL_PUBLIC_URL", "the address citizens' phones open, like https://hall.example.gov.eg "
                                           "(ticket QR codes and the browsers' allowed origin)", public_url)
    tts_engine = str(overrides.pop("tts_engine", None) or env.get("HALL_TTS_ENGINE") or "pyttsx3").strip().lower()
    if tts_engine not in TTS_ENGINES:
        raise _env_fail("HALL_TTS_ENGINE", "one of " + ", ".join(TTS_ENGINES), tts_engine)
    raw_pack = env.get("HALL_VOICE_PACK")
    voice_pack = Path(raw_pack) if raw_pack else None
    if voice_pack is not None and not voice_pack.is_dir():
        raise _env_fail("HALL_VOICE_PACK", "a folder of recorded clips (<lang>/<kind>/<key>.wav)", raw_pack)
    token_hours = overrides.pop("token_hours", None) or _env_int(env, "HALL_TOKEN_HOURS", 12)
    if not _whole(token_hours) or not 1 <= token_hours <= 720:
        raise _env_fail("HALL_TOKEN_HOURS", "a whole number of hours from 1 to 720", token_hours)
    token_idle_minutes = overrides.pop("token_idle_minutes", None)
    if token_idle_minutes is None:
        token_idle_minutes = _env_int(env, "HALL_TOKEN_IDLE_MINUTES", 120)
    if not _whole(token_idle_minutes) or not (token_idle_minutes == 0 or 5 <= token_idle_minutes <= 1440):
        raise _env_fail("HALL_TOKEN_IDLE_MINUTES", "0 (no idle timeout) or a whole number of minutes from 5 to 1440",
                        token_idle_minutes)
    audit_key, audit_key_file = _audit_key(env, overrides)
    audit_export_hours = overrides.pop("audit_export_hours", None) or _env_int(env, "HALL_AUDIT_EXPORT_HOURS", 24)
    if not _whole(audit_export_hours) or not 1 <= audit_export_hours <= 168:
        raise _env_fail("HALL_AUDIT_EXPORT_HOURS", "a whole number of hours from 1 to 168", audit_export_hours)
    governorate_url = (overrides.pop("governorate_url", None) or env.get("HALL_GOVERNORATE_URL") or "").strip() or None
    if governorate_url is not None:
        parts = urlsplit(governorate_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _env_fail("HALL_GOVERNORATE_URL", "the governorate server's http:// or https:// address that "
                                                    "receives the signed audit heads", governorate_url)
    governorate_token = overrides.pop("governorate_token", None) or env.get("HALL_GOVERNORATE_TOKEN") or None
    sms_lease_seconds = overrides.pop("sms_lease_seconds", None) or _env_int(env, "HALL_SMS_LEASE_SECONDS", 120)
    if not _whole(sms_lease_seconds) or not 1 <= sms_lease_seconds <= 3600:
        raise _env_fail("HALL_SMS_LEASE_SECONDS", "a whole number of seconds from 1 to 3600", sms_lease_seconds)
    settings = Settings(
        halls=halls,
        catalog=catalog,
        database_url=database_url,
        message_queue=message_queue,
        secret_key=overrides.pop("secret_key", None) or env.get("HALL_SECRET_KEY") or "dev-only-change-me",
        async_mode=async_mode,
        host=host,
        port=int(port),
        public_url=public_url,
        data_dir=data_dir,
        tts_engine=tts_engine,
        voice_pack=voice_pack,
        token_hours=token_hours,
        token_idle_minutes=token_idle_minutes,
        audit_key=audit_key,
        audit_key_file=audit_key_file,
        audit_export_hours=audit_export_hours,
        governorate_url=governorate_url,
        governorate_token=governorate_token,
        sms_lease_seconds=sms_lease_seconds,
    )
    if overrides:
        raise ConfigError(f"load_settings: unknown settings {sorted(overrides)}")
    return settings
