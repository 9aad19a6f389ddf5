"""The board's zones and the hall's [audio] settings: good values read, wrong ones named clearly."""
from __future__ import annotations

from dataclasses import replace

import pytest

from audio.announcer import HallVoice, hall_voice
from audio.phrases import Wording
from config import ConfigError, load_settings
from display_board.web import Zone, hall_zones


@pytest.fixture(scope="module")
def settings():
    return load_settings(env={})


def test_the_default_hall_speaks_arabic_through_aplay(settings):
    voice = hall_voice(settings.halls[0])
    assert voice == HallVoice(lang="ar", wording=Wording(), sink="aplay", keep_call_wavs_hours=24)


def test_wording_can_be_changed_per_hall(settings):
    hall = replace(settings.halls[0], audio={"lang": "en", "wording": {"en_ticket": "Customer number"}})
    voice = hall_voice(hall)
    assert voice.lang == "en" and voice.wording.en_ticket == "Customer number"
    assert voice.wording.ar_window == Wording().ar_window


@pytest.mark.parametrize("audio,key", [
    ({"lang": "fr"}, "audio.lang"),
    ({"sink": "speaker"}, "audio.sink"),
    ({"keep_call_wavs_hours": 0}, "audio.keep_call_wavs_hours"),
    ({"keep_call_wavs_hours": True}, "audio.keep_call_wavs_hours"),
    ({"wording": "hello"}, "audio.wording"),
    ({"wording": {"ar_tiket": "x"}}, "audio.wording.ar_tiket"),
    ({"wording": {"ar_ticket": " "}}, "audio.wording.ar_ticket"),
])
def test_a_wrong_audio_value_names_file_and_key(settings, audio, key):
    hall = replace(settings.halls[0], audio=audio)
    with pytest.raises(ConfigError) as err:
        hall_voice(hall)
    assert key in str(err.value) and "kafr_saqr.toml" in str(err.value)


def test_zones_are_read_from_the_board_table(settings):
    hall = replace(settings.halls[0], board={"zones": {
        "ground": {"windows": [1, 2, 3]},
        "upstairs": {"windows": [7, 8], "services": ["shop_licence_issue"]},
        "shops": {"services": ["shop_licence_issue", "shop_licence_renew"]},
    }})
    zones = hall_zones(hall, settings)
    assert zones["ground"] == Zone(windows=(1, 2, 3))
    assert zones["upstairs"] == Zone((7, 8), ("shop_licence_issue",))
    assert zones["shops"].windows is None
    assert hall_zones(settings.halls[0], settings) == {}


@pytest.mark.parametrize("zones,words", [
    ({"a": {"windows": [1, 42]}}, "board.zones.a.windows"),
    ({"a": {"windows": ["1"]}}, "board.zones.a.windows"),
    ({"a": {"services": ["no_such_service"]}}, "board.zones.a.services"),
    ({"a": {"rooms": [1]}}, "board.zones.a"),
    ({"a": [1, 2]}, "board.zones.a"),
    ([1, 2], "board.zones"),
])
def test_a_wrong_zone_names_file_and_key(settings, zones, words):
    hall = replace(settings.halls[0], board={"zones": zones})
    with pytest.raises(ConfigError) as err:
        hall_zones(hall, settings)
    assert words in str(err.value)
