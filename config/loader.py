"""The one settings loader: hall files, the service catalog and HALL_* environment overrides.

Nothing else in the project reads the environment. A wrong file gets a ConfigError that names
the file, the key and what was expected.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CATALOG = CONFIG_DIR / "catalog.toml"
DEFAULT_HALLS = (CONFIG_DIR / "halls" / "kafr_saqr.toml",)

STRATEGIES = ("longest_wait", "strict_order")
PRIORITY_CLASSES = ("elderly", "disabled", "pregnant", "appointment")
SERVICE_KINDS = ("submit", "followup", "collect", "pay", "inquiry")
ASYNC_MODES = ("gevent", "eventlet", "threading")
PRINTER_BACKENDS = ("network", "usb", "serial", "file", "none")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PREFIX_RE = re.compile(r"^[A-Z]$")


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

    def table_(self, key: str) -> "_Reader":
        value = self.get(key, dict, "a table", {})
        return _Reader(self.source, value, self._key(key))

    def tables(self, key: str) -> list["_Reader"]:
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
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Read and check the service catalog."""
    root = _Reader(str(path), _read_toml(path), "")
    sectors = []
    for r in root.tables("sectors"):
        sectors.append(Sector(r.code("code"), r.text("name_ar"), r.text("name_en")))
    sector_codes = {s.code for s in sectors}
    if len(sector_codes) != len(sectors):
        raise root.fail("sectors", "unique sector codes")
    services = []
    seen: set[str] = set()
    for r in root.tables("services"):
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


def load_hall(path: Path, catalog: Catalog) -> HallDef:
    """Read and check one hall file against the catalog."""
    root = _Reader(str(path), _read_toml(path), "")
    h = root.table_("hall")
    tz = h.text("timezone", "Africa/Cairo")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise h.fail("timezone", "an IANA time zone like 'Africa/Cairo'", tz) from None
    q = root.table_("queue")
    classes = q.strings("priority_classes", QueueRules.priority_classes)
    for c in classes:
        if c not in PRIORITY_CLASSES:
            raise q.fail("priority_classes", "classes among " + ", ".join(PRIORITY_CLASSES), c)
    rules = QueueRules(
        strategy=q.choice("strategy", STRATEGIES, "longest_wait"),
        priority_ratio=q.integer("priority_ratio", 1, 100, 3),
        recall_limit=q.integer("recall_limit", 0, 10, 2),
        wait_target_minutes=q.integer("wait_target_minutes", 1, 600, 15),
        priority_classes=classes,
    )
    windows = []
    for w in root.tables("windows"):
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
    devices = []
    for d in root.tables("devices"):
        devices.append(DeviceDef(d.text("name"), d.choice("kind", ("kiosk", "board", "announcer", "printer")),
                                 d.get("printer", dict, "a table", {})))
    printer = root.table_("printer")
    printer.choice("backend", PRINTER_BACKENDS, "none")
    printer.integer("width", 384, 576, 576)
    board = root.table_("board")
    board.choice("digits", ("eastern", "western"), "eastern")
    cal = root.table_("calendar")
    holidays = []
    for i, day in enumerate(cal.get("holidays", list, "a list of dates like 2026-01-07", [])):
        if isinstance(day, str):
            try:
                day = date.fromisoformat(day)
            except ValueError:
                raise cal.fail(f"holidays[{i}]", "a date like 2026-01-07", day) from None
        if not isinstance(day, date):
            raise cal.fail(f"holidays[{i}]", "a date like 2026-01-07", day)
        holidays.append(day)
    sms = root.table_("sms")
    sms.choice("backend", ("log", "file", "http", "none"), "log")
    sms.integer("near_ahead", 0, 50, 3)
    return HallDef(
        code=h.code("code"), name_ar=h.text("name_ar"), name_en=h.text("name_en"),
        governorate_ar=h.text("governorate_ar", ""), governorate_en=h.text("governorate_en", ""),
        kind=h.choice("kind", ("main", "mini", "mobile"), "main"), timezone=tz, queue=rules,
        windows=tuple(windows), board=dict(board.table), printer=dict(printer.table),
        audio=dict(root.table_("audio").table), devices=tuple(devices), holidays=tuple(holidays),
        sms=dict(sms.table), source=str(path),
    )


def _env_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment: {key}: expected a whole number, got {raw!r}") from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings: defaults, then HALL_* environment variables, then explicit overrides."""
    env = os.environ if env is None else env
    data_dir = Path(overrides.pop("data_dir", None) or env.get("HALL_DATA_DIR") or Path.cwd() / "var")
    catalog_path = Path(overrides.pop("catalog", None) or env.get("HALL_CATALOG") or DEFAULT_CATALOG)
    hall_paths = overrides.pop("halls", None)
    if hall_paths is None:
        raw = env.get("HALL_HALLS", "")
        hall_paths = [Path(p) for p in raw.split(os.pathsep) if p] or list(DEFAULT_HALLS)
    catalog = load_catalog(catalog_path)
    halls = tuple(load_hall(Path(p), catalog) for p in hall_paths)
    if len({h.code for h in halls}) != len(halls):
        raise ConfigError("environment: HALL_HALLS: expected hall files with distinct hall codes")
    async_mode = overrides.pop("async_mode", None) or env.get("HALL_ASYNC_MODE", "gevent")
    if async_mode not in ASYNC_MODES:
        raise ConfigError(f"environment: HALL_ASYNC_MODE: expected one of {', '.join(ASYNC_MODES)}, got {async_mode!r}")
    port = overrides.pop("port", None) or _env_int(env, "HALL_PORT", 8080)
    host = overrides.pop("host", None) or env.get("HALL_HOST", "127.0.0.1")
    voice_pack = env.get("HALL_VOICE_PACK")
    settings = Settings(
        halls=halls,
        catalog=catalog,
        database_url=overrides.pop("database_url", None) or env.get("HALL_DATABASE_URL")
        or f"sqlite:///{data_dir / 'hall.db'}",
        message_queue=overrides.pop("message_queue", None) or env.get("HALL_MESSAGE_QUEUE") or None,
        secret_key=overrides.pop("secret_key", None) or env.get("HALL_SECRET_KEY") or "dev-only-change-me",
        async_mode=async_mode,
        host=host,
        port=int(port),
        public_url=(overrides.pop("public_url", None) or env.get("HALL_PUBLIC_URL")
                    or f"http://{host}:{port}").rstrip("/"),
        data_dir=data_dir,
        tts_engine=overrides.pop("tts_engine", None) or env.get("HALL_TTS_ENGINE", "pyttsx3"),
        voice_pack=Path(voice_pack) if voice_pack else None,
        token_hours=overrides.pop("token_hours", None) or _env_int(env, "HALL_TOKEN_HOURS", 12),
    )
    if overrides:
        raise ConfigError(f"load_settings: unknown settings {sorted(overrides)}")
    return settings
