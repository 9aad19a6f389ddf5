"""The settings loader: defaults, environment overrides, and errors that name file and key."""
import copy
import json
import os
import re
import tomllib
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from config import ConfigError, DeviceDef, load_catalog, load_settings, loader
from config.loader import DEFAULT_CATALOG, DEFAULT_HALLS


def test_default_hall_and_catalog():
    s = load_settings(env={})
    hall = s.halls[0]
    assert hall.code == "kfs" and len(hall.windows) == 9 and hall.timezone == "Africa/Cairo"
    assert len(s.catalog.services) >= 40
    sectors = {svc.sector for svc in s.catalog.services}
    assert {"buildings", "occupancy", "housing", "revenues", "elevators_roads_property",
            "occupants_unions"} <= sectors
    served = {code for w in hall.windows for code in w.services}
    assert served == set(s.catalog.codes), "every service has a window"
    assert all(svc.name_ar and svc.name_en for svc in s.catalog.services)


def test_environment_overrides(tmp_path):
    s = load_settings(env={"HALL_DATABASE_URL": "postgresql://x/y", "HALL_MESSAGE_QUEUE": "redis://h:1",
                           "HALL_SECRET_KEY": "k", "HALL_PORT": "9000", "HALL_ASYNC_MODE": "eventlet"})
    assert (s.database_url, s.message_queue, s.secret_key, s.port, s.async_mode) == (
        "postgresql://x/y", "redis://h:1", "k", 9000, "eventlet")


@pytest.mark.parametrize("env,needle", [
    ({"HALL_PORT": "eighty"}, "HALL_PORT"),
    ({"HALL_ASYNC_MODE": "asyncio"}, "HALL_ASYNC_MODE"),
])
def test_bad_environment(env, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings(env=env)


def _hall_with(tmp_path: Path, old: str, new: str) -> Path:
    text = Path(DEFAULT_HALLS[0]).read_text(encoding="utf-8")
    assert old in text
    p = tmp_path / "hall.toml"
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


@pytest.mark.parametrize("old,new,key,expect", [
    ('strategy = "longest_wait"', 'strategy = "fastest"', "queue.strategy", "one of longest_wait"),
    ('timezone = "Africa/Cairo"', 'timezone = "Mars/Olympus"', "hall.timezone", "IANA time zone"),
    ("priority_ratio = 3", "priority_ratio = 0", "queue.priority_ratio", "from 1 to 100"),
    ('services = ["building_permit"', 'services = ["no_such_service"', "windows[0].services", "service codes"),
    ('code = "kfs"', 'code = 7', "hall.code", "lowercase code"),
])
def test_wrong_hall_file_names_file_key_and_expectation(tmp_path, old, new, key, expect):
    p = _hall_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, halls=[p])
    msg = str(err.value)
    assert str(p) in msg and key in msg and expect in msg


def test_broken_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[hall\ncode=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, halls=[bad])
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(env={}, halls=[tmp_path / "none.toml"])


def test_catalog_errors(tmp_path):
    text = DEFAULT_CATALOG.read_text(encoding="utf-8")
    p = tmp_path / "cat.toml"
    p.write_text(text.replace('prefix = "A"', 'prefix = "AA"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"services\[\d+\]\.prefix: expected one uppercase"):
        load_catalog(p)


# ----- every sub-table is checked at load time ------------------------------------------------------
# A hall file is built from the default one: parsed, edited as data, written back as TOML, so each case
# changes exactly one value. DELETE removes a key.
DELETE = object()
HALL_RAW = tomllib.loads(Path(DEFAULT_HALLS[0]).read_text(encoding="utf-8"))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def hall_raw(*edits) -> dict:
    """The default hall file as data with edits ((key, path, ...), value) applied."""
    raw = copy.deepcopy(HALL_RAW)
    for path, value in edits:
        table = raw
        for key in path[:-1]:
            table = table.setdefault(key, {})
        if value is DELETE:
            table.pop(path[-1], None)
        else:
            table[path[-1]] = value
    return raw


def write_hall(folder: Path, raw: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "hall.toml"
    p.write_text("".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in raw.items()), encoding="utf-8")
    return p


def kiosk(printer=DELETE, **extra) -> list[dict]:
    """[[devices]] with one kiosk-1 and the given printer table."""
    dev = {"name": "kiosk-1", "kind": "kiosk", **extra}
    if printer is not DELETE:
        dev["printer"] = printer
    return [dev]


def test_the_hall_file_writer_round_trips(tmp_path):
    p = write_hall(tmp_path, hall_raw())
    assert load_settings(env={}, halls=[p]).halls[0] == replace(load_settings(env={}).halls[0], source=str(p))


BAD_HALL = [
    # top level and [hall]
    ((("quque",), {"strategy": "strict_order"}), "quque", "one of the keys hall, queue"),
    ((("hall", "nmae_en"), "x"), "hall.nmae_en", "unknown key 'nmae_en'"),
    ((("hall", "governorate_ar"), 5), "hall.governorate_ar", "a string"),
    ((("hall", "kind"), "huge"), "hall.kind", "one of main, mini, mobile"),
    # [queue] and [[windows]]
    ((("queue", "stratgy"), "strict_order"), "queue.stratgy", "unknown key"),
    ((("queue", "priority_classes"), ["elderly", "elderly"]), "queue.priority_classes", "each class once"),
    ((("windows",), [{"number": 1, "servics": ["building_permit"]}]), "windows[0].servics", "unknown key"),
    ((("windows",), []), "windows", "at least one"),
    # [board]
    ((("board", "digit"), "western"), "board.digit", "one of the keys digits, news_ar, news_en, zones"),
    ((("board", "digits"), "roman"), "board.digits", "one of eastern, western"),
    ((("board", "news_ar"), 5), "board.news_ar", "a string"),
    ((("board", "zones"), [1, 2]), "board.zones", "tables [board.zones.<name>]"),
    ((("board", "zones"), {"a": [1, 2]}), "board.zones.a", "a table with windows"),
    ((("board", "zones"), {"a": {"windows": [1, 42]}}), "board.zones.a.windows", "window numbers of this hall"),
    ((("board", "zones"), {"a": {"windows": [True]}}), "board.zones.a.windows", "window numbers of this hall"),
    ((("board", "zones"), {"a": {"services": ["no_such"]}}), "board.zones.a.services", "service codes"),
    ((("board", "zones"), {"a": {"rooms": [1]}}), "board.zones.a.rooms", "one of the keys windows, services"),
    # the hall's [printer]
    ((("printer", "backend"), "cloud"), "printer.backend", "one of network, usb, serial, file, none"),
    ((("printer", "colour"), "red"), "printer.colour", "unknown key"),
    ((("printer", "host"), "10.0.0.1"), "printer.host", "with backend 'none'"),
    ((("printer", "width"), 1000), "printer.width", "from 384 to 576"),
    # [audio]
    ((("audio", "lang"), "fr"), "audio.lang", "one of ar, en"),
    ((("audio", "sink"), "speaker"), "audio.sink", "one of aplay, paplay, file, null"),
    ((("audio", "keep_call_wavs_hours"), 0), "audio.keep_call_wavs_hours", "from 1 to 720"),
    ((("audio", "keep_call_wavs_hours"), True), "audio.keep_call_wavs_hours", "from 1 to 720"),
    ((("audio", "volume"), 11), "audio.volume", "unknown key"),
    ((("audio", "wording"), "hello"), "audio.wording", "a table"),
    ((("audio", "wording"), {"ar_tiket": "x"}), "audio.wording.ar_tiket", "one of the keys ar_ticket"),
    ((("audio", "wording"), {"ar_ticket": " "}), "audio.wording.ar_ticket", "a non-empty string"),
    # [[devices]]
    ((("devices",), kiosk(colour="red")), "devices[0].colour", "one of the keys name, kind, printer"),
    ((("devices",), kiosk(kind="tv")), "devices[0].kind", "one of kiosk, board"),
    ((("devices",), kiosk() + kiosk()), "devices[1].name", "not used by another device"),
    ((("devices",), kiosk("usb")), "devices[0].printer", "a table"),
    ((("devices",), kiosk({"mode": "cloud"})), "devices[kiosk-1].printer.mode", "one of server, agent, none"),
    ((("devices",), kiosk({"mode": "agent", "lang": "fr"})), "devices[kiosk-1].printer.lang", "one of ar, en"),
    ((("devices",), kiosk({"mode": "agent", "digits": "roman"})), "devices[kiosk-1].printer.digits", "eastern"),
    ((("devices",), kiosk({"mode": "agent", "host": "x"})), "devices[kiosk-1].printer.host",
     "one of the keys mode, lang, digits"),
    ((("devices",), kiosk({"mode": "server"})), "devices[kiosk-1].printer.backend", "missing"),
    ((("devices",), kiosk({"mode": "server", "backend": "network"})), "devices[kiosk-1].printer.host",
     "missing host"),
    ((("devices",), kiosk({"mode": "server", "backend": "usb", "vendor_id": "0x04b8"})),
     "devices[kiosk-1].printer.product_id", "missing product_id"),
    ((("devices",), kiosk({"mode": "server", "backend": "network", "host": "10.0.0.9", "width": 576})),
     "devices[kiosk-1].printer.width", "wider than the profile's 512"),
    ((("devices",), kiosk({"mode": "server", "backend": "file", "folder": "t", "profile": "TM-T88V", "width": 576})),
     "devices[kiosk-1].printer.width", "576 is wider than the profile's 512"),
    ((("devices",), kiosk({"mode": "server", "backend": "network", "host": "h", "profile": "TM-NOPE"})),
     "devices[kiosk-1].printer.profile", "printer profile"),
    ((("devices",), kiosk({"mode": "server", "backend": "network", "host": "h", "port": 70000})),
     "devices[kiosk-1].printer.port", "from 1 to 65535"),
    ((("devices",), kiosk({"mode": "server", "backend": "network", "host": "h", "timeout": 0})),
     "devices[kiosk-1].printer.timeout", "a positive number of seconds"),
    ((("devices",), kiosk({"mode": "server", "backend": "usb", "vendor_id": "0xzz", "product_id": 1})),
     "devices[kiosk-1].printer.vendor_id", "a USB id"),
    ((("devices",), kiosk({"mode": "server", "backend": "file", "folder": "t", "width": 100})),
     "devices[kiosk-1].printer.width", "a multiple of 8"),
    ((("devices",), kiosk({"mode": "server", "backend": "file", "folder": "t", "host": "h"})),
     "devices[kiosk-1].printer.host", "(with backend 'file')"),
    ((("devices",), kiosk({"mode": "server", "backend": "serial", "devfile": ""})),
     "devices[kiosk-1].printer.devfile", "a non-empty string"),
    # [calendar]
    ((("calendar", "holiday"), []), "calendar.holiday", "one of the keys holidays"),
    ((("calendar", "holidays"), [datetime(2026, 1, 7, 9, 0)]), "calendar.holidays[0]", "a date like"),
    ((("calendar", "holidays"), ["2026-13-01"]), "calendar.holidays[0]", "a date like"),
    # [sms]
    ((("sms", "backend"), "pigeon"), "sms.backend", "one of log, file, http, none"),
    ((("sms", "backend"), "http"), "sms.url", "missing"),
    ((("sms", "url"), "ftp://sms.example/send"), "sms.url", "http:// or https://"),
    ((("sms", "attempts"), 0), "sms.attempts", "from 1 to 10"),
    ((("sms", "path"), ""), "sms.path", "a non-empty string"),
    ((("sms", "user"), "x"), "sms.user", "one of the keys backend"),
    ((("sms", "near_ahead"), 99), "sms.near_ahead", "from 0 to 50"),
    ((("sms", "templates", "nearr"), "x"), "sms.templates.nearr", "one of the keys near, called"),
    ((("sms", "templates", "near"), "{numbr} is near"), "sms.templates.near", "unknown numbr"),
    ((("sms", "templates", "near"), "{window}"), "sms.templates.near", "among hall, number, ahead"),
    ((("sms", "templates", "called"), "{window"), "sms.templates.called", "placeholders"),
    ((("sms", "templates", "ready"), "{0}"), "sms.templates.ready", "placeholders"),
    ((("sms", "templates", "ready"), "{file:%}"), "sms.templates.ready", "placeholders"),
    ((("sms", "templates", "ready"), 5), "sms.templates.ready", "a message text"),
]


@pytest.mark.parametrize("edit,key,expect", BAD_HALL, ids=[f"{c[1]}:{c[2][:20]}" for c in BAD_HALL])
def test_a_wrong_sub_table_value_names_file_key_and_expectation(tmp_path, edit, key, expect):
    p = write_hall(tmp_path, hall_raw(edit))
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, halls=[p])
    msg = str(err.value)
    assert msg.startswith(f"{p}: {key}: expected "), msg
    assert expect in msg


GOOD_HALL = [
    (("devices",), kiosk({"mode": "server", "backend": "usb", "vendor_id": "0x04b8", "product_id": "0x0e15"})),
    (("devices",), kiosk({"mode": "server", "backend": "file", "folder": "tickets", "width": 384,
                          "lang": "en", "digits": "eastern"})),
    (("devices",), kiosk({"mode": "server", "backend": "network", "host": "10.0.0.9", "port": 9100,
                          "profile": "TM-T20II", "width": 576, "timeout": 2.5})),
    (("devices",), kiosk({"mode": "server", "backend": "serial", "devfile": "/dev/ttyS0", "baudrate": 19200})),
    (("devices",), kiosk({"mode": "agent"}) + [{"name": "board-1", "kind": "board"}]),
    (("devices",), kiosk({"backend": "none"})),
    (("devices",), kiosk()),
    (("board", "zones"), {"ground": {"windows": [1, 2]}, "shops": {"services": ["shop_licence_issue"]}}),
    (("audio", "wording"), {"ar_ticket": "العَمِيلُ رَقْم", "en_window": "go to window"}),
    (("sms", "backend"), "http"),
    (("sms", "backend"), "file"),
    (("sms", "templates", "near"), "{number}: {ahead} ahead at {hall}"),
    (("calendar", "holidays"), ["2026-01-07", date(2026, 1, 25)]),
]


@pytest.mark.parametrize("path,value", GOOD_HALL)
def test_good_sub_table_values_load(tmp_path, path, value):
    extra = [(("sms", "url"), "https://sms.example.gov.eg/send")] if value == "http" else []
    p = write_hall(tmp_path, hall_raw((path, value), *extra))
    hall = load_settings(env={}, halls=[p]).halls[0]
    table = getattr(hall, path[0]) if path[0] != "calendar" else {"holidays": hall.holidays}
    assert table, "the table is kept for the modules that read it"


def test_the_device_printer_table_is_kept_as_written(tmp_path):
    cfg = {"mode": "server", "backend": "usb", "vendor_id": "0x04b8", "product_id": "0x0e15"}
    p = write_hall(tmp_path, hall_raw((("devices",), kiosk(cfg))))
    assert load_settings(env={}, halls=[p]).halls[0].devices[0].printer == cfg


@pytest.mark.parametrize("table,key", [("sectors", "name_fr"), ("services", "fees")])
def test_catalog_unknown_keys(tmp_path, table, key):
    raw = tomllib.loads(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    raw[table][2][key] = "x"
    p = tmp_path / "cat.toml"
    p.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in raw.items()), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(p))}: {table}\[2\]\.{key}: expected one of the keys"):
        load_catalog(p)


BAD_ENV = [
    ({"HALL_DATABASE_URL": "mysql://u@h/db"}, "HALL_DATABASE_URL", "sqlite:///"),
    ({"HALL_DATABASE_URL": "hall.db"}, "HALL_DATABASE_URL", "sqlite:///"),
    ({"HALL_DATABASE_URL": "sqlite://"}, "HALL_DATABASE_URL", "sqlite:///"),
    ({"HALL_DATABASE_URL": "sqlite:///:memory:"}, "HALL_DATABASE_URL", "a file"),
    ({"HALL_MESSAGE_QUEUE": "kafka://k:9092"}, "HALL_MESSAGE_QUEUE", "redis://"),
    ({"HALL_MESSAGE_QUEUE": "unix:///run/redis.sock"}, "HALL_MESSAGE_QUEUE", "redis://"),
    ({"HALL_PUBLIC_URL": "hall.local"}, "HALL_PUBLIC_URL", "https://"),
    ({"HALL_TTS_ENGINE": "festival"}, "HALL_TTS_ENGINE", "one of pyttsx3, espeak"),
    ({"HALL_TOKEN_HOURS": "0"}, "HALL_TOKEN_HOURS", "from 1 to 720"),
    ({"HALL_TOKEN_HOURS": "1000"}, "HALL_TOKEN_HOURS", "from 1 to 720"),
    ({"HALL_PORT": "70000"}, "HALL_PORT", "from 1 to 65535"),
    ({"HALL_HALLS": "/no/such/hall.toml"}, "/no/such/hall.toml", "file not found"),
]


@pytest.mark.parametrize("env,key,expect", BAD_ENV)
def test_a_wrong_environment_value_names_the_variable(env, key, expect):
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert key in str(err.value) and expect in str(err.value)


def test_voice_pack_and_data_dir_must_be_folders(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="environment: HALL_VOICE_PACK: expected a folder"):
        load_settings(env={"HALL_VOICE_PACK": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="environment: HALL_DATA_DIR: expected a folder"):
        load_settings(env={"HALL_DATA_DIR": str(a_file)})
    s = load_settings(env={"HALL_VOICE_PACK": str(tmp_path), "HALL_TTS_ENGINE": " ESPEAK "})
    assert s.voice_pack == tmp_path and s.tts_engine == "espeak"


# ----- the loader's copies of the modules' rules stay in step with them ------------------------------
def test_printer_rules_match_make_printer():
    import inspect

    from printer import backends, dispatch
    assert {b: (set(r), set(o)) for b, (r, o) in loader.PRINTER_BACKEND_KEYS.items()} == backends._BACKEND_KEYS
    classes = {"network": backends.NetworkPrinter, "usb": backends.UsbPrinter, "serial": backends.SerialPrinter,
               "file": backends.FilePrinter}
    defaults = {b: inspect.signature(c).parameters["profile"].default for b, c in classes.items()}
    assert defaults == loader.PRINTER_DEFAULT_PROFILES
    assert loader.PRINTER_MODES == dispatch.MODES and loader.PRINTER_LAYOUT_KEYS == dispatch._LAYOUT_KEYS
    assert set(loader._PRINTER_INT_KEYS) == backends._INT_KEYS
    assert set(loader._PRINTER_SECONDS_KEYS) == backends._FLOAT_KEYS


def test_audio_and_sms_rules_match_their_modules(tmp_path):
    from audio import announcer, phrases, synth
    from hall_server import sms
    assert loader.AUDIO_SINKS == announcer.SINKS and loader.LANGS == phrases.LANGS
    wording = tuple(phrases.Wording.__dataclass_fields__)
    assert wording == loader.WORDING_KEYS
    for name in loader.TTS_ENGINES:
        synth.make_engine(name)  # accepted by the factory (raises ValueError otherwise)
    for backend in loader.SMS_BACKENDS:
        sms.make_gateway({"backend": backend, "url": "http://127.0.0.1:9/send"}, tmp_path)


@pytest.mark.parametrize("cfg", [
    {"backend": "network", "host": "h"}, {"backend": "network", "host": "h", "profile": "POS-5890"},
    {"backend": "usb", "vendor_id": 1, "product_id": 2}, {"backend": "serial", "devfile": "/dev/ttyS0"},
    {"backend": "file", "folder": "t", "profile": "TM-T88V"}, {"backend": "file", "folder": "t", "width": 384},
    {"backend": "none"},
])
def test_the_loader_knows_the_width_each_backend_renders_at(cfg):
    from printer.backends import make_printer, profile_width
    profile = cfg.get("profile", loader.PRINTER_DEFAULT_PROFILES.get(cfg["backend"], "default"))
    expected = loader.printer_width(cfg["backend"], cfg.get("width"), profile_width(profile))
    assert make_printer(cfg).width == expected


@pytest.mark.parametrize("cfg", [
    {"backend": "network", "host": "h"}, {"backend": "network", "host": "h", "port": 0},
    {"backend": "network", "host": "h", "port": "9100"}, {"backend": "network", "host": "h", "timeout": True},
    {"backend": "usb", "vendor_id": "0x04b8", "product_id": 3585}, {"backend": "usb", "vendor_id": 1},
    {"backend": "usb", "vendor_id": 1.5, "product_id": 2}, {"backend": "serial", "devfile": "/dev/ttyS0"},
    {"backend": "serial", "devfile": 5}, {"backend": "file", "folder": "t", "profile": "POS-5890"},
    {"backend": "file", "folder": "t", "profile": "nope"}, {"backend": "file", "folder": "t", "width": 500},
    {"backend": "none"}, {"backend": "none", "width": -8}, {"backend": "none", "host": "h"},
])
def test_the_loader_accepts_a_printer_backend_exactly_when_make_printer_does(tmp_path, cfg):
    from printer.backends import make_printer
    try:
        make_printer(cfg)
        built = True
    except ValueError:
        built = False
    p = write_hall(tmp_path, hall_raw((("devices",), kiosk({"mode": "agent", **cfg}))))
    try:
        load_settings(env={}, halls=[p])
        loaded = True
    except ConfigError:
        loaded = False
    assert loaded == built


# ----- check-config refuses exactly what create_app refuses -------------------------------------------
# Each case is one value in a table that the server reads while it starts (the kiosks' printers, the
# board's zones, [audio], [sms], the database and message queue). check-config runs on the hall file
# written with the value; create_app gets the same raw value in settings built without the loader's
# checks, so it judges the value with its own (late) checks only.
STARTUP_CASES = [
    ("default hall", [], {}, True),
    ("kiosk printer mode cloud", [(("devices",), kiosk({"mode": "cloud"}))], {}, False),
    ("network printer without host", [(("devices",), kiosk({"mode": "server", "backend": "network"}))], {}, False),
    ("too wide for the profile", [(("devices",), kiosk(
        {"mode": "server", "backend": "network", "host": "10.0.0.9", "width": 576}))], {}, False),
    ("unknown profile", [(("devices",), kiosk(
        {"mode": "server", "backend": "network", "host": "10.0.0.9", "profile": "TM-NOPE"}))], {}, False),
    ("serial baudrate 0", [(("devices",), kiosk(
        {"mode": "server", "backend": "serial", "devfile": "/dev/ttyS0", "baudrate": 0}))], {}, False),
    ("host on a file printer", [(("devices",), kiosk(
        {"mode": "server", "backend": "file", "folder": "t", "host": "h"}))], {}, False),
    ("file printer whose profile prints 512 dots", [(("devices",), kiosk(
        {"mode": "server", "backend": "file", "folder": "t", "profile": "TM-T88V"}))], {}, True),
    ("file printer wider than its profile", [(("devices",), kiosk(
        {"mode": "server", "backend": "file", "folder": "t", "profile": "TM-T88V", "width": 576}))], {}, False),
    ("file printer at the profile's width", [(("devices",), kiosk(
        {"mode": "server", "backend": "file", "folder": "t", "profile": "TM-T88V", "width": 512}))], {}, True),
    ("network printer at the profile's width", [(("devices",), kiosk(
        {"mode": "server", "backend": "network", "host": "10.0.0.9", "profile": "TM-T20II"}))], {}, True),
    ("printer digits roman", [(("devices",), kiosk({"mode": "agent", "digits": "roman"}))], {}, False),
    ("printer lang fr", [(("devices",), kiosk({"mode": "server", "backend": "none", "lang": "fr"}))], {}, False),
    ("board digits roman (the kiosk's printer default)", [(("board", "digits"), "roman")], {}, False),
    ("usb printer", [(("devices",), kiosk(
        {"mode": "server", "backend": "usb", "vendor_id": "0x04b8", "product_id": "0x0e15"}))], {}, True),
    ("file printer", [(("devices",), kiosk({"mode": "server", "backend": "file", "folder": "t", "width": 384}))],
     {}, True),
    ("agent printer", [(("devices",), kiosk({"mode": "agent", "lang": "en"}))], {}, True),
    ("zone with window 42", [(("board", "zones"), {"a": {"windows": [1, 42]}})], {}, False),
    ("zone with unknown service", [(("board", "zones"), {"a": {"services": ["no_such"]}})], {}, False),
    ("zone with rooms", [(("board", "zones"), {"a": {"rooms": [1]}})], {}, False),
    ("zones", [(("board", "zones"), {"ground": {"windows": [1, 2]}, "b": {"services": ["debris_removal"]}})],
     {}, True),
    ("audio lang fr", [(("audio", "lang"), "fr")], {}, False),
    ("audio sink speaker", [(("audio", "sink"), "speaker")], {}, False),
    ("audio keep 0 hours", [(("audio", "keep_call_wavs_hours"), 0)], {}, False),
    ("audio wording typo", [(("audio", "wording"), {"ar_tiket": "x"})], {}, False),
    ("audio in English", [(("audio", "lang"), "en"), (("audio", "sink"), "null")], {}, True),
    ("sms http without url", [(("sms", "backend"), "http")], {}, False),
    ("sms pigeon", [(("sms", "backend"), "pigeon")], {}, False),
    ("sms http", [(("sms", "backend"), "http"), (("sms", "url"), "http://127.0.0.1:9/send")], {}, True),
    ("sms file", [(("sms", "backend"), "file")], {}, True),
    ("database mysql", [], {"HALL_DATABASE_URL": "mysql://u@h/db"}, False),
    ("database junk", [], {"HALL_DATABASE_URL": "junk"}, False),
    ("message queue kafka", [], {"HALL_MESSAGE_QUEUE": "kafka://k:9092"}, False),
    ("message queue http", [], {"HALL_MESSAGE_QUEUE": "http://mq.local"}, False),
]


@pytest.fixture(scope="module")
def startup_base(tmp_path_factory):
    """Good settings on one migrated SQLite file, shared by the cases (create_app re-migrates in no time)."""
    folder = tmp_path_factory.mktemp("startup")
    return load_settings(env={}, data_dir=folder, async_mode="threading",
                         database_url=f"sqlite:///{folder / 'hall.db'}")


def _create_app_starts(settings) -> bool:
    from hall_server.factory import create_app
    try:
        app = create_app(settings)
    except Exception:  # noqa: BLE001 - any exception is "the server does not start"
        return False
    app.extensions["hall_runtime"].hall.engine.dispose()
    return True


@pytest.mark.parametrize("name,edits,env,starts", STARTUP_CASES, ids=[c[0] for c in STARTUP_CASES])
def test_check_config_fails_exactly_when_create_app_fails(tmp_path, monkeypatch, capsys, startup_base,
                                                          name, edits, env, starts):
    from hall_server import cli
    raw = hall_raw(*edits)
    hall_file = write_hall(tmp_path / "cfg", raw)
    for key in [k for k in os.environ if k.startswith("HALL_") and k != "HALL_TEST_PG_URL"]:
        monkeypatch.delenv(key)
    for key, value in {"HALL_HALLS": str(hall_file), "HALL_DATA_DIR": str(startup_base.data_dir),
                       "HALL_DATABASE_URL": startup_base.database_url, "HALL_ASYNC_MODE": "threading",
                       **env}.items():
        monkeypatch.setenv(key, value)
    rc = cli.main(["check-config"])
    out = capsys.readouterr()
    assert rc in (0, 2), out
    assert ("config OK" in out.out) == (rc == 0)
    if rc:
        assert out.err.startswith("config error: ") and ": expected " in out.err

    hall = startup_base.halls[0]
    devices = tuple(DeviceDef(d["name"], d["kind"], d.get("printer", {})) for d in raw.get("devices", []))
    unchecked = replace(startup_base, halls=(replace(
        hall, board=raw.get("board", {}), audio=raw.get("audio", {}), sms=raw.get("sms", {}),
        printer=raw.get("printer", {}), devices=devices),),
        database_url=env.get("HALL_DATABASE_URL", startup_base.database_url),
        message_queue=env.get("HALL_MESSAGE_QUEUE"))
    assert _create_app_starts(unchecked) == starts, "the case's expectation of create_app is wrong"
    assert (rc == 0) == starts, out.err


# Values create_app lets through (it ignores them, or they fail later: at the first call, SMS or
# announcer start) are refused by check-config on purpose: a typo must not pass silently.
STRICTER_CASES = [
    ("typo in [board]", [(("board", "digit"), "western")], {}),
    ("typo in [audio]", [(("audio", "volume"), 11)], {}),
    ("typo in a printer table", [(("devices",), kiosk({"mode": "agent", "colour": "red"}))], {}),
    ("unknown sms placeholder (fails at the first SMS)", [(("sms", "templates", "near"), "{numbr}")], {}),
    ("sms near_ahead text (fails at the first call)", [(("sms", "near_ahead"), "three")], {}),
    ("unknown TTS engine (chime only; hall-announcer refuses it)", [], {"HALL_TTS_ENGINE": "festival"}),
]


@pytest.mark.parametrize("name,edits,env", STRICTER_CASES, ids=[c[0] for c in STRICTER_CASES])
def test_check_config_also_refuses_typos_and_late_failures(tmp_path, monkeypatch, capsys, name, edits, env):
    from hall_server import cli
    hall_file = write_hall(tmp_path / "cfg", hall_raw(*edits))
    for key in [k for k in os.environ if k.startswith("HALL_") and k != "HALL_TEST_PG_URL"]:
        monkeypatch.delenv(key)
    for key, value in {"HALL_HALLS": str(hall_file), "HALL_DATA_DIR": str(tmp_path), **env}.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["check-config"]) == 2
    assert "config error: " in capsys.readouterr().err
