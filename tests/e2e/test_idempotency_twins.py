"""A kiosk that sends the same ticket twice at once (a retry racing its first try) gets one ticket.

Against a real `hall-server run`: threading (one transaction per write) and gevent, where writes
share a COMMIT (group commit, `storage._Group`), so the twin usually lands in the same batch as
the first, before it is committed: it must find the first's ticket there, not issue a second.
"""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from hall_server.storage import make_engine, read_tx, tickets
from tests.support import launch

ROUNDS, TWINS = 20, 4


@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_twins_with_one_idempotency_key_get_one_ticket(tmp_path, mode):
    server = launch(tmp_path, async_mode=mode)
    try:
        server.open_windows([1])
        url = f"{server.url}/api/v1/halls/kfs/tickets"
        headers = {"Authorization": f"Bearer {server.devices['kiosk-1']}"}
        answers: dict[int, list[tuple[int, int | None]]] = {r: [] for r in range(ROUNDS)}
        for r in range(ROUNDS):
            start = threading.Barrier(TWINS)

            def twin(r=r, start=start):
                s = requests.Session()
                start.wait()
                resp = s.post(url, json={"service": "building_permit"}, timeout=30,
                              headers={**headers, "Idempotency-Key": f"twin-{r}"})
                answers[r].append((resp.status_code, resp.json().get("id") if resp.ok else None))

            threads = [threading.Thread(target=twin) for _ in range(TWINS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        engine = make_engine(server.database_url)
        with read_tx(engine) as c:
            per_key = dict(c.execute(select(tickets.c.idempotency_key, func.count())
                                     .group_by(tickets.c.idempotency_key)).all())
        engine.dispose()
    finally:
        server.stop()
    for r, got in answers.items():
        codes, ids = {code for code, _ in got}, {i for _, i in got}
        assert codes <= {200, 201} and 201 in codes and len(ids) == 1, (r, got)  # one issued, the rest replayed
        assert per_key[f"twin-{r}"] == 1, r
    assert len({next(iter({i for _, i in got})) for got in answers.values()}) == ROUNDS
