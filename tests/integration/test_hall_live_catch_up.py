"""hall-live.js: on a gap in seq or a reconnect, a board fetches the calls it missed and gets them as
`ticket_called` (in seq order, before the fresh snapshot). Runs the real file under node with a fake socket."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.support import ROOT

SCRIPT = r"""
const fs = require("fs");
const handlers = {}; const emitted = []; const log = []; const fetched = [];
let fetchReply = null;
const socket = {on: (n, f) => { handlers[n] = f; },
                emit: (n, d, ack) => { emitted.push([n, d]); if (ack) ack({ok: true}); }};
global.window = {io: () => socket, fetch: (url) => {
  fetched.push(url);
  const body = fetchReply;
  return Promise.resolve({ok: true, json: () => Promise.resolve(body)});
}};
eval(fs.readFileSync(process.argv[2], "utf8"));
const live = new window.HallLive({hall: "kfs", role: "board",
  onSnapshot: (s) => log.push(["snapshot", s.seq]),
  onEvent: (n, d) => log.push([n, d.seq, d.call_id || null, !!d.missed])}).connect();
const call = (seq, id) => ({seq: seq, call_id: id, number: "A-" + id, window: 1});
const tick = () => new Promise((r) => setTimeout(r, 10));
(async () => {
  handlers.connect();
  handlers.snapshot({seq: 5});                                 // first snapshot: nothing to catch up
  handlers.ticket_called(call(6, 60));
  handlers.ticket_called(call(9, 90));                         // 7 and 8 never came: gap -> rejoin
  fetchReply = {calls: [call(6, 60), call(7, 70), call(9, 90), call(11, 110)]};
  handlers.snapshot({seq: 9});
  handlers.queue_changed({seq: 10});                           // arrives while the fetch is out
  await tick();
  handlers.disconnect(); handlers.connect();                   // reconnect: catch up since seq 10
  fetchReply = {calls: [call(12, 120)]};
  handlers.snapshot({seq: 12});
  await tick();
  // the server read seq 13 (another process's call; the message queue is down) and says so: the
  // number looks next, yet the call itself never came here, so it is fetched
  handlers.queue_changed({seq: 13, resync: true});
  fetchReply = {calls: [call(13, 130)]};
  handlers.snapshot({seq: 13});
  await tick();
  handlers.queue_changed({seq: 13, resync: true});             // nothing newer: no resync
  await tick();
  // a snapshot older than what was applied (a race with the message queue) never moves the catch-up
  // back, and a call that came live and again in a fetch reaches the page once
  handlers.ticket_called(call(14, 140));
  handlers.queue_changed({seq: 16, resync: true});
  fetchReply = {calls: [call(14, 140), call(15, 150)]};
  handlers.snapshot({seq: 13});
  await tick();
  handlers.queue_changed({seq: 17, resync: true});
  fetchReply = {calls: [call(14, 140), call(15, 150)]};
  handlers.snapshot({seq: 17});
  await tick();
  console.log(JSON.stringify({log, fetched, joins: emitted.filter((e) => e[0] === "join").length}));
})();
"""


def _run(tmp_path, script: str) -> dict:
    """The script under node, with the real hall-live.js; what it printed (JSON)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    path = tmp_path / "run.js"
    path.write_text(script)
    out = subprocess.run([node, str(path), str(ROOT / "hall_server/static/hall-live.js")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def test_a_board_gets_its_missed_calls_in_order_before_the_snapshot(tmp_path):
    got = _run(tmp_path, SCRIPT)
    assert got["fetched"] == ["/api/v1/halls/kfs/calls?since_seq=6", "/api/v1/halls/kfs/calls?since_seq=10",
                              "/api/v1/halls/kfs/calls?since_seq=12", "/api/v1/halls/kfs/calls?since_seq=14"]
    assert got["joins"] == 6
    assert got["log"] == [
        ["snapshot", 5],
        ["ticket_called", 6, 60, False],
        ["ticket_called", 7, 70, True],     # missed: fetched; 6 was seen, 11 is after the snapshot
        ["ticket_called", 9, 90, True],
        ["snapshot", 9],
        ["queue_changed", 10, None, False],  # buffered during the fetch, applied after the snapshot
        ["ticket_called", 12, 120, True],
        ["snapshot", 12],
        ["ticket_called", 13, 130, True],
        ["snapshot", 13],
        ["queue_changed", 13, None, False],  # nothing newer than what was applied: applied, no resync
        ["ticket_called", 14, 140, False],
        ["snapshot", 13],                    # older than what was seen: the catch-up stays at 14
        ["ticket_called", 15, 150, True],    # 14 again in the fetch: not handed on twice
        ["snapshot", 17],
    ]


TWICE = r"""
const fs = require("fs");
const handlers = {}; const emitted = []; const log = [];
const socket = {on: (n, f) => { handlers[n] = f; },
                emit: (n, d, ack) => { emitted.push([n, d]); if (ack) ack({ok: true}); }};
global.window = {io: () => socket};
eval(fs.readFileSync(process.argv[2], "utf8"));
const live = new window.HallLive({hall: "kfs", role: "board",
  onSnapshot: (s) => log.push(["snapshot", s.seq]),
  onEvent: (n, d) => log.push([n, d.seq, d.eta ? d.eta.a : null])}).connect();
handlers.connect();
handlers.snapshot({seq: 5});
handlers.queue_changed({seq: 6, eta: {a: 600}});   // a cancel: sent at once from the shared live state
handlers.queue_changed({seq: 6, eta: {a: 540}});   // the coalesced recomputation: same seq, fresh figures
handlers.queue_changed({seq: 7, eta: {a: 500}});
console.log(JSON.stringify({log, joins: emitted.filter((e) => e[0] === "join").length}));
"""


def test_a_queue_changed_sent_again_with_the_same_seq_is_applied_without_a_resync(tmp_path):
    # the server sends a change no other event announces at once, then refreshed (hall_server/realtime.py)
    got = _run(tmp_path, TWICE)
    assert got["joins"] == 1
    assert got["log"] == [["snapshot", 5], ["queue_changed", 6, 600], ["queue_changed", 6, 540],
                          ["queue_changed", 7, 500]]
