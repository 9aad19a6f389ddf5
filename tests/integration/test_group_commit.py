"""Group commit (`storage._Group`): SQLite under gevent, the server's production mode.

Each check runs in a fresh process that patches the standard library for gevent first (as
`hall-server run` does), on a real SQLite file (WAL, synchronous=FULL), with many greenlets
writing at once through `write_tx`, and reports what each writer was told and what the database
kept. The promise: a writer that is told "done" has its write durable; one whose write failed left
nothing, and the others' writes in the same batch are kept; if the batch's COMMIT fails, or a
write breaks the transaction itself, nothing of the batch is kept and every writer of it gets
`BatchFailed` (a 503 to retry); the next batch works; a burst shares one COMMIT.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from hall_server.storage import BatchFailed, db_unavailable

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
from gevent import monkey
monkey.patch_all()
import json, sys
import gevent
from sqlalchemy import text
from hall_server import storage

engine = storage.make_engine("sqlite:///" + sys.argv[1], keep_connections=True)
with engine.connect() as c:
    storage.for_writes(c)
    with c.begin():
        c.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        c.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER, p INTEGER "
                          "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
        c.exec_driver_sql("INSERT INTO parent VALUES (1)")
group = storage._Group.of(engine)
assert group is not None, "no group commit under gevent"
told = {}

def write(key, p=1, fail=None):
    try:
        with storage.write_tx(engine) as c:
            c.execute(text("INSERT INTO t VALUES (:k, 1, :p)"), {"k": key, "p": p})
            if fail == "refuse":
                raise ValueError("refused")
            if fail == "rollback":
                c.exec_driver_sql("ROLLBACK")  # the transaction itself ends under the batch
        told[key] = "done"
    except ValueError:
        told[key] = "refused"
    except storage.BatchFailed as err:
        told[key] = "batch_failed" if storage.db_unavailable(err) else "batch_failed_not_503"
    except Exception as err:
        told[key] = f"{type(err).__name__}: {err}"

def kept():
    with storage.read_tx(engine) as c:
        return sorted(r[0] for r in c.exec_driver_sql("SELECT k FROM t"))

def burst(specs):
    gevent.joinall([gevent.spawn(write, *s) for s in specs])

def report(**extra):
    print(json.dumps({"told": told, "kept": kept(), "commits": group.commits, "writes_kept": group.kept,
                      **extra}))
"""


def _run(tmp_path: Path, body: str) -> dict:
    script = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "g.db")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_burst_of_writers_shares_one_commit_and_a_refused_write_leaves_only_itself_out(tmp_path):
    out = _run(tmp_path, """
        burst([(f"w{i:02}", 1, "refuse" if i % 5 == 0 else None) for i in range(50)])
        report()
    """)
    done = sorted(k for k, v in out["told"].items() if v == "done")
    refused = sorted(k for k, v in out["told"].items() if v == "refused")
    assert len(done) == 40 and len(refused) == 10, out["told"]
    assert out["kept"] == done  # every write told "done" is there, no refused one is
    assert out["writes_kept"] == 40
    assert out["commits"] < 10  # 50 writers at once: a few COMMITs, not 50 (one, as gevent schedules)


def test_a_failing_commit_keeps_nothing_of_its_batch_tells_every_writer_and_the_next_batch_works(tmp_path):
    out = _run(tmp_path, """
        # one write breaks a deferred foreign key: only the COMMIT finds it, and the batch's COMMIT fails
        burst([("a", 1), ("b", 99), ("c", 1)])
        first = dict(told)
        told.clear()
        burst([("d", 1), ("e", 1)])
        report(first=first)
    """)
    assert out["first"] == {"a": "batch_failed", "b": "batch_failed", "c": "batch_failed"}
    assert out["told"] == {"d": "done", "e": "done"}
    assert out["kept"] == ["d", "e"]


def test_a_write_that_ends_the_transaction_under_the_batch_fails_the_whole_batch_and_keeps_nothing(tmp_path):
    out = _run(tmp_path, """
        burst([("a", 1), ("b", 1, "rollback"), ("c", 1)])
        first = dict(told)
        told.clear()
        burst([("d", 1)])
        report(first=first)
    """)
    # b's ROLLBACK undid a's write too: nobody of that batch may be told "done"; c, whose turn came
    # after it, does not join a transaction that is over (its write would be committed outside any
    # batch): it waits for the next batch
    assert out["first"] == {"a": "batch_failed", "b": "batch_failed", "c": "done"}
    assert out["told"] == {"d": "done"}
    assert out["kept"] == ["c", "d"]


def test_a_writer_alone_is_committed_at_once_and_in_turn(tmp_path):
    out = _run(tmp_path, """
        for i in range(5):
            write(f"s{i}")
            assert kept() == [f"s{j}" for j in range(i + 1)]  # durable when write_tx returns
        report()
    """)
    assert out["commits"] == 5 and out["kept"] == ["s0", "s1", "s2", "s3", "s4"]


def test_batch_failed_is_a_503_to_retry():
    assert db_unavailable(BatchFailed("the commit this write shared failed"))
