"""The simulator driving a running server over HTTP (kiosk API + CounterClient), faster than real time."""
from __future__ import annotations

from datetime import datetime, time

import pytest

from config import load_settings
from hall_server import simulate
from hall_server.domain import numbering
from tests.support import PASSWORD

pytestmark = pytest.mark.slow  # a real `hall-server run` and a simulated morning: ~15 s

# one hour of arrivals; 600 x real time: the simulated 07:50-09:30 takes about 10 s plus the requests
SHORT = simulate.Behaviour(hours=(8,), peak=(1.0,), hard_stop=time(9, 30),
                           break_start=(time(8, 20), time(8, 40)), break_min=(5.0, 10.0))


def test_drives_a_running_server(live_server):
    settings = load_settings(env={})
    hall = settings.halls[0]
    driver = simulate.HttpDriver(live_server.url, hall.code, live_server.devices["kiosk-1"], speed=600,
                                 password=PASSWORD)
    sim = simulate.Simulation(settings, hall.code, simulate.LOADS["light"], 3, driver, SHORT)
    today = numbering.local_day(datetime.now().astimezone(), hall.tz)
    try:
        result = simulate.run_days(sim, [today])[0]
    finally:
        driver.close()
    assert len(result.tickets) > 10 and len(result.calls) >= len(result.tickets) - 5
    # the server saw the same day: each ticket ended as simulated, the windows are closed again
    status = {"done": "done", "no_show": "no_show", "sent_home": "cancelled"}
    for t in result.tickets:
        view = live_server.api("GET", f"/tickets/{t.token}").json()
        assert (view["number"], view["status"]) == (t.number, status[t.status])
    board = live_server.api("GET", "/halls/kfs/board").json()
    assert all(w["state"] == "closed" for w in board["windows"])
    assert sum(live_server.api("GET", "/halls/kfs/queue").json()["waiting"].values()) == 0
