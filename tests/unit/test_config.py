"""The settings loader: defaults, environment overrides, and errors that name file and key."""
from pathlib import Path

import pytest

from config import ConfigError, load_catalog, load_settings
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
