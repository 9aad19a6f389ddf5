"""Server memory with N Socket.IO boards joined, and after they leave (1,000 then 5,000 by default).

Starts a gevent server on a temporary SQLite file (as bench_calls does), reads its VmRSS idle,
then for each N: N clients in several client processes connect (websocket), `join` the hall as
boards and wait for their snapshot; RSS is read while they hold, then all disconnect; once the
server has closed every connection (/proc/net/tcp), RSS is read after --settle (5 s) and again
after --late (30 s). Prints KB per client and the RSS after leaving against idle (same run).
HALL_MEMORY_TUNING=0 in the server (--server-env) measures without hall_server/memory.py.

    .venv/bin/python bench/bench_memory.py                      # 1,000 and 5,000 clients
    .venv/bin/python bench/bench_memory.py --clients 1000 --server-env MALLOC_ARENA_MAX=2
    .venv/bin/python bench/bench_memory.py --debug              # + state/tracemalloc dumps

--debug (diagnosis only, never production): the server gets tests/memprobe on its PYTHONPATH
(a sitecustomize that dumps per-connection state, gc counts, mallinfo and, with --tracemalloc,
tracemalloc growth on a signal) and each phase's dump is summarised.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT

PROBE_DIR = ROOT / "tests" / "memprobe"


# ---------------------------------------------------------------- client process
async def _worker(url: str, n: int, token: str | None) -> None:
    import socketio

    from hall_server import events as ev
    clients: list[socketio.AsyncClient] = []
    sem = asyncio.Semaphore(25)
    snap_bytes: list[int] = []

    async def one(i: int) -> None:
        async with sem:
            c = socketio.AsyncClient(reconnection=False)
            got = asyncio.get_running_loop().create_future()

            @c.on(ev.SNAPSHOT)
            async def _snap(data, _got=got):
                if not _got.done():
                    _got.set_result(data)

            for attempt in range(5):
                try:
                    await c.connect(url, transports=["websocket"], wait_timeout=60)
                    break
                except Exception:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.5 + attempt)
            join = {"hall": "kfs", "role": "board"}
            if token and i == 0:
                join["auth"] = token  # one tracked board per process exercises the DeviceRegistry
            ack = await c.call(ev.JOIN, join, timeout=120)
            assert ack["ok"], ack
            snap = await asyncio.wait_for(got, 120)
            if i == 0:
                snap_bytes.append(len(json.dumps(snap, ensure_ascii=False).encode()))
            clients.append(c)

    await asyncio.gather(*(one(i) for i in range(n)))
    print(f"ready {len(clients)} {snap_bytes[0] if snap_bytes else 0}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.gather(*(c.disconnect() for c in clients))
    print("left", flush=True)


# ---------------------------------------------------------------- measuring side
def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS from /proc/<pid>/status and Anonymous/Private_Dirty from smaps_rollup, in KiB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            k = line.split(":")[0]
            if k in ("Anonymous", "Private_Dirty"):
                out[k] = int(line.split()[1])
    return out


def server_connections(port: int) -> int:
    """TCP connections the server still has open on its port (ESTABLISHED or CLOSE_WAIT), from /proc/net."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as fh:
                next(fh)
                for line in fh:
                    f = line.split()
                    if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] in ("01", "08"):
                        n += 1
        except OSError:
            pass
    return n


def wait_closed(port: int, timeout: float = 300.0) -> float:
    """Wait until the server has closed every client connection; the seconds it took."""
    t0 = time.monotonic()
    while server_connections(port) and time.monotonic() - t0 < timeout:
        time.sleep(0.2)
    return time.monotonic() - t0


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


class Probe:
    """Asks the server's memprobe (debug mode) for a dump and prints the interesting parts."""

    def __init__(self, path: Path | None, pid: int) -> None:
        self.path, self.pid = path, pid

    def dump(self, label: str, trim: bool = False, verbose: bool = True) -> dict | None:
        if self.path is None:
            return None
        if self.path.exists():
            self.path.unlink()
        os.kill(self.pid, signal.SIGUSR2 if trim else signal.SIGUSR1)
        deadline = time.monotonic() + 900  # tracemalloc snapshots of a big heap take minutes
        while not self.path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("memprobe did not answer")
            time.sleep(0.1)
        d = json.loads(self.path.read_text())
        srv = d.get("server", {})
        rooms = {ns: {"rooms": len(rs), "members": sum(rs.values()),
                      "shared": {r: n for r, n in rs.items() if n > 1 or r == "None" or ":" in r}}
                 for ns, rs in srv.get("rooms", {}).items()}
        print(f"  [probe {label}{' after gc+malloc_trim' if trim else ''}] rss={mib(d['status'].get('VmRSS', 0))} "
              f"mallinfo={d['mallinfo']} eio_sockets={srv.get('eio_sockets')} environ={srv.get('sio_environ')} "
              f"manager={srv.get('manager')} rooms={rooms} devices={srv.get('device_registry')} "
              f"greenlets={d['greenlets']} ({d['probe_ms']} ms)")
        pm = d.get("pymalloc", {})
        print(f"    resident by mapping: {d.get('smaps_kib')} KiB; pymalloc: "
              f"{pm.get('arenas allocated current')} arenas now (highwater {pm.get('arenas highwater mark')}), "
              f"{pm.get('bytes in allocated blocks', 0) // 1024} KiB in blocks, "
              f"{pm.get('bytes in available blocks', 0) // 1024} KiB free in used pools, "
              f"{pm.get('unused pools', 0) // 1024} KiB in unused pools; threads={d['status'].get('Threads')}")
        if d.get("gc_collect"):
            print(f"    gc.collect(): {d['gc_collect']}; gc stats {d['gc_stats']}")
        if verbose:
            for name, rows in d.get("holders", {}).items():
                for row in rows:
                    print(f"    {name} {row['attrs']}")
                    for h in row["held_by"]:
                        print(f"        held by {h}")
            if d.get("types_growth"):
                print("    types growth:", ", ".join(f"{k}{v:+d}" for k, v in d["types_growth"][:15]))
            if d.get("tracemalloc_growth"):
                print(f"    tracemalloc traced {d['tracemalloc_traced_kib']} KiB; growth by line:")
                for g in d["tracemalloc_growth"][:15]:
                    print(f"      {g['kib']:>8} KiB {g['count']:>+8} blocks  {g['where']}")
                for g in d.get("tracemalloc_growth_tb", [])[:4]:
                    print(f"      {g['kib']:>8} KiB via " + " <- ".join(reversed(g["where"])))
        return d


_PROCS: list[subprocess.Popen] = []


def _start_server(env: dict[str, str]):
    """As common.start_server (gevent, temporary SQLite), with a longer start timeout (tracemalloc, busy CPUs)."""
    import tempfile

    from tests.support import LiveServer, prepare_database
    tmp = Path(tempfile.mkdtemp(prefix="hall-bench-"))
    url = f"sqlite:///{tmp / 'hall.db'}"
    devices = prepare_database(url, tmp)
    server = LiveServer(data_dir=tmp, database_url=url, async_mode="gevent", env=env, devices=devices)
    try:
        return server.start(timeout=180)
    except BaseException:
        server.stop()
        raise


def connect_round(url: str, n: int, per_proc: int, token: str | None) -> tuple[list[subprocess.Popen], int]:
    procs = []
    left = n
    while left > 0:
        k = min(per_proc, left)
        left -= k
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", url, str(k)] + (["--token", token] if token else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT)}))
        _PROCS.append(procs[-1])
    joined, snap = 0, 0
    for p in procs:
        line = p.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError(f"a client process failed (exit {p.wait()})")
        joined += int(line[1])
        snap = max(snap, int(line[2]))
    assert joined == n, (joined, n)
    return procs, snap


def leave_round(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.stdin.write("leave\n")
        p.stdin.flush()
    for p in procs:
        assert p.stdout.readline().strip() == "left"
        p.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1000,5000", help="comma-separated rounds (default 1000,5000)")
    ap.add_argument("--per-proc", type=int, default=500, help="clients per client process")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds to wait, once the server has closed every connection, before reading RSS")
    ap.add_argument("--late", type=float, default=30.0,
                    help="also read RSS this many seconds after the server closed them (default 30: engineio's "
                         "service task holds closed sockets for up to ping_timeout, 20 s; 0: no)")
    ap.add_argument("--server-env", action="append", default=[], metavar="K=V", help="extra server environment")
    ap.add_argument("--tracked", action="store_true", help="one board per client process joins with its token")
    ap.add_argument("--debug", action="store_true", help="memprobe dumps (diagnosis only)")
    ap.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                    help="with --debug: PYTHONTRACEMALLOC=FRAMES in the server (slow)")
    ap.add_argument("--worker", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--token", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        asyncio.run(_worker(args.worker[0], int(args.worker[1]), args.token))
        return

    env = dict(kv.split("=", 1) for kv in args.server_env)
    probe_path = None
    if args.debug:
        import tempfile
        probe_path = Path(tempfile.mkdtemp(prefix="hall-memprobe-")) / "dump.json"
        env.update(PYTHONPATH=f"{PROBE_DIR}{os.pathsep}{ROOT}", HALL_MEMPROBE_OUT=str(probe_path))
        if args.tracemalloc:
            env["PYTHONTRACEMALLOC"] = str(args.tracemalloc)
    server = _start_server(env)
    pid = server.pid()
    probe = Probe(probe_path, pid)
    token = server.devices["board-1"] if args.tracked else None
    rounds = [int(x) for x in args.clients.split(",") if x]
    try:
        time.sleep(2)
        idle = rss_kib(pid)
        print(f"# server memory, gevent, {', '.join(map(str, rounds))} board clients "
              f"({args.per_proc} per client process); server env: {args.server_env or 'default'}")
        print(f"idle: rss={mib(idle['VmRSS'])} anon={mib(idle['Anonymous'])}")
        probe.dump("idle", verbose=False)
        for n in rounds:
            before = rss_kib(pid)
            t0 = time.monotonic()
            procs, snap = connect_round(server.url, n, args.per_proc, token)
            took = time.monotonic() - t0
            time.sleep(2)
            held = rss_kib(pid)
            per = (held["VmRSS"] - before["VmRSS"]) * 1024 / n / 1000
            per_idle = (held["VmRSS"] - idle["VmRSS"]) * 1024 / n / 1000
            print(f"{n:>5} joined ({took:.0f} s; board snapshot {snap / 1000:.1f} KB): rss={mib(held['VmRSS'])} "
                  f"-> {per:.1f} KB/client over the round's start, {per_idle:.1f} KB/client over idle")
            probe.dump(f"{n} held")
            if args.debug:
                probe.dump(f"{n} held", trim=True, verbose=False)
                print(f"      after the probe's gc+malloc_trim: rss={mib(rss_kib(pid)['VmRSS'])}")
            t_leave = time.monotonic()
            leave_round(procs)
            closed = wait_closed(server.port) + (time.monotonic() - t_leave)
            time.sleep(args.settle)
            after = rss_kib(pid)
            print(f"{n:>5} left (server closed them all in {closed:.0f} s), +{args.settle:.0f} s: "
                  f"rss={mib(after['VmRSS'])} -> {(after['VmRSS'] - idle['VmRSS']) / 1024:+.1f} MiB vs idle "
                  f"(x{after['VmRSS'] / idle['VmRSS']:.2f}); peak {mib(after['VmHWM'])}")
            probe.dump(f"{n} left")
            if args.late > args.settle:
                time.sleep(args.late - args.settle)  # seconds after the server closed the last one
                late = rss_kib(pid)
                print(f"{n:>5} left, +{args.late:.0f} s: rss={mib(late['VmRSS'])} "
                      f"-> {(late['VmRSS'] - idle['VmRSS']) / 1024:+.1f} MiB vs idle")
                probe.dump(f"{n} left +{args.late:.0f}s", trim=True, verbose=False)
                if args.debug:
                    print(f"      after the probe's gc+malloc_trim: rss={mib(rss_kib(pid)['VmRSS'])}")
        if args.debug:
            probe.dump("end", trim=True, verbose=False)
    finally:
        for p in _PROCS:
            if p.poll() is None:
                p.kill()
        server.stop()


if __name__ == "__main__":
    main()
