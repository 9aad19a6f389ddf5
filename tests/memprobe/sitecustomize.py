"""Test/bench-only memory probe for a hall server subprocess (never on a production path).

A test or bench puts this folder on the server's PYTHONPATH and sets HALL_MEMPROBE_OUT to a file
path; Python then imports this module at startup. Signals trigger a JSON dump to that path:

- SIGUSR1: dump the server's per-connection state (engineio sockets, socketio environs, rooms,
  manager maps, our DeviceRegistry), greenlets, glibc mallinfo2, gc object counts by type and,
  when PYTHONTRACEMALLOC is set, the tracemalloc growth since the first dump;
- SIGUSR2: gc.collect() and malloc_trim(0) first, then the same dump (diagnosis only).

The dump is written to a temporary name and renamed, so the reader sees it complete. Object
counts come from gc.get_objects(), which leaves out what hall_server.memory's gc.freeze() froze
at startup (the DeviceRegistry is found from the Flask app instead).
"""
from __future__ import annotations

import os

_OUT = os.environ.get("HALL_MEMPROBE_OUT")

if _OUT:
    import collections
    import ctypes
    import gc
    import json
    import signal
    import sys
    import time
    import tracemalloc

    _first: dict = {}

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost")]

    def _libc():
        try:
            return ctypes.CDLL("libc.so.6")
        except OSError:
            return None

    def _mallinfo() -> dict:
        libc = _libc()
        if libc is None or not hasattr(libc, "mallinfo2"):
            return {}
        libc.mallinfo2.restype = _Mallinfo2
        m = libc.mallinfo2()
        return {"heap_total_kib": (m.arena + m.hblkhd) // 1024, "in_use_kib": (m.uordblks + m.hblkhd) // 1024,
                "free_kib": m.fordblks // 1024, "mmapped_kib": m.hblkhd // 1024, "free_chunks": m.ordblks}

    def _proc(path: str, keys: tuple[str, ...]) -> dict:
        out = {}
        try:
            with open(path) as fh:
                for line in fh:
                    k, _, v = line.partition(":")
                    if k in keys:
                        out[k] = int(v.split()[0])
        except OSError:
            pass
        return out

    def _pymalloc() -> dict:
        """The summary lines of sys._debugmallocstats() (it writes to fd 2, so fd 2 is borrowed)."""
        import tempfile
        with tempfile.TemporaryFile("w+") as tmp:
            sys.stderr.flush()
            saved = os.dup(2)
            try:
                os.dup2(tmp.fileno(), 2)
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            tmp.seek(0)
            text = tmp.read()
        out = {}
        for line in text.splitlines():
            for key in ("arenas allocated current", "arenas highwater mark", "bytes in allocated blocks",
                        "bytes in available blocks", "unused pools", "bytes lost to pool headers",
                        "bytes lost to quantization", "Total"):
                if line.startswith(("# " + key, key)) or (key == "unused pools" and key in line):
                    if key in out:
                        continue
                    out[key] = int(line.rsplit("=", 1)[1].replace(",", "").strip())
        return out

    def _smaps() -> dict:
        """Resident KiB by kind of mapping: the brk heap, anonymous mmaps, files."""
        out = {"heap": 0, "anon": 0, "file": 0, "stack": 0}
        sizes = collections.Counter()
        kind = "anon"
        try:
            with open("/proc/self/smaps") as fh:
                for line in fh:
                    head = line.split()
                    if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                        name = head[5] if len(head) > 5 else ""
                        kind = ("heap" if name == "[heap]" else "stack" if name.startswith("[stack") else
                                "file" if name.startswith("/") else "anon")
                        if kind == "anon":
                            lo, hi = (int(x, 16) for x in head[0].split("-"))
                            sizes[(hi - lo) // 1024] += 1
                    elif head[0] == "Rss:":
                        out[kind] += int(head[1])
            out["anon_vma_kib_sizes"] = sizes.most_common(4)
        except OSError:
            pass
        return out

    def _server_state() -> dict:
        rt = sys.modules.get("hall_server.realtime")
        if rt is None or getattr(rt.socketio, "server", None) is None:
            return {}
        sio = rt.socketio.server
        mgr = sio.manager
        rooms = {}
        for ns, ns_rooms in getattr(mgr, "rooms", {}).items():
            rooms[ns] = {str(room): len(members) for room, members in ns_rooms.items()}
        state = {
            "eio_sockets": len(sio.eio.sockets),
            "sio_environ": len(sio.environ),
            "manager": {k: len(v) for k, v in vars(mgr).items() if isinstance(v, (dict, set, list))},
            "rooms": rooms,
        }
        # the app's DeviceRegistry, found from the Flask app (gc.get_objects() misses what gc.freeze() froze)
        app = getattr(getattr(rt.socketio, "sockio_mw", None), "flask_app", None)
        regs = []
        for ext in getattr(app, "extensions", {}).values():
            for o in [ext, *getattr(ext, "__dict__", {}).values()]:
                if type(o).__name__ == "DeviceRegistry" and all(o is not r for r in regs):
                    regs.append(o)
        state["device_registry"] = [{"by_sid": len(r._by_sid),
                                     "status": sum(len(v) for v in r.status.values())} for r in regs]
        return state

    def _greenlets() -> dict:
        try:
            import greenlet
        except ImportError:
            return {}
        gs = [o for o in gc.get_objects() if isinstance(o, greenlet.greenlet)]
        return {"total": len(gs), "alive": sum(1 for g in gs if g), "dead": sum(1 for g in gs if not g)}

    def _describe(o) -> str:
        t = type(o).__name__
        if t == "frame":
            return f"frame {o.f_code.co_name} {o.f_code.co_filename.rsplit('/', 2)[-1]}:{o.f_lineno}"
        if isinstance(o, dict):
            return f"dict keys={list(o)[:6]}"
        if isinstance(o, (list, tuple, set)):
            return f"{t} len={len(o)}"
        if t == "cell":
            return "cell"
        return f"{type(o).__module__}.{t}"

    def _who_holds(names: list[str]) -> dict:
        """For a few instances of each named type: its size hint and who refers to it (2 levels)."""
        out = {}
        objs = gc.get_objects()
        for name in names:
            found = [o for o in objs if type(o).__name__ == name][:3]
            rows = []
            for o in found:
                hint = {k: (len(v) if isinstance(v, (str, bytes)) else type(v).__name__)
                        for k, v in getattr(o, "__dict__", {}).items()}
                refs = []
                for r in gc.get_referrers(o):
                    if r is objs or r is found:
                        continue
                    refs.append(_describe(r) + " <- " + "; ".join(
                        _describe(r2) for r2 in gc.get_referrers(r)[:4] if r2 is not objs and r2 is not refs))
                rows.append({"attrs": hint, "held_by": refs[:6]})
            out[name] = rows
        del objs
        return out

    def _dump(trim: bool) -> None:
        t0 = time.monotonic()
        collected = None
        if trim:
            def rss() -> int:
                return _proc("/proc/self/status", ("VmRSS",)).get("VmRSS", 0)
            collected = {"blocks_before": sys.getallocatedblocks(), "malloc_in_use_kib_before": _mallinfo().get(
                "in_use_kib"), "rss_kib_before": rss(), "unreachable": gc.collect(), "rss_kib_after_gc": rss()}
            libc = _libc()
            if libc is not None:
                libc.malloc_trim(0)
            collected.update(rss_kib_after_trim=rss(), blocks_after=sys.getallocatedblocks(),
                             malloc_in_use_kib_after=_mallinfo().get("in_use_kib"))
        counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
        out = {
            "pid": os.getpid(),
            "status": _proc("/proc/self/status", ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")),
            "smaps_rollup": _proc("/proc/self/smaps_rollup", ("Rss", "Anonymous", "Private_Dirty")),
            "mallinfo": _mallinfo(),
            "gc_counts": list(gc.get_count()),
            "gc_collect": collected,
            "gc_stats": gc.get_stats(),
            "gc_frozen": gc.get_freeze_count(),
            "pymalloc_blocks": sys.getallocatedblocks(),
            "pymalloc": _pymalloc(),
            "smaps_kib": _smaps(),
            "server": _server_state(),
            "greenlets": _greenlets(),
        }
        if "counts" in _first:
            diff = {k: counts[k] - _first["counts"].get(k, 0) for k in counts}
            out["types_growth"] = sorted(((k, v) for k, v in diff.items() if v), key=lambda kv: -abs(kv[1]))[:30]
        else:
            _first["counts"] = counts
        out["types_top"] = counts.most_common(20)
        if os.environ.get("HALL_MEMPROBE_HOLDERS"):
            out["holders"] = _who_holds(os.environ["HALL_MEMPROBE_HOLDERS"].split(","))
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            out["tracemalloc_traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
            if "snap" in _first:
                out["tracemalloc_growth"] = [
                    {"where": str(s.traceback[0]), "kib": s.size_diff // 1024, "count": s.count_diff}
                    for s in snap.compare_to(_first["snap"], "lineno")[:25]]
                out["tracemalloc_growth_tb"] = [
                    {"where": [str(f) for f in s.traceback[-6:]], "kib": s.size_diff // 1024}
                    for s in snap.compare_to(_first["snap"], "traceback")[:6]]
            else:
                _first["snap"] = snap
            out["tracemalloc_top"] = [{"where": str(s.traceback[0]), "kib": s.size // 1024, "count": s.count}
                                      for s in snap.statistics("lineno")[:15]]
        out["probe_ms"] = round((time.monotonic() - t0) * 1000)
        tmp = _OUT + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
        os.replace(tmp, _OUT)

    signal.signal(signal.SIGUSR1, lambda *_: _dump(False))
    signal.signal(signal.SIGUSR2, lambda *_: _dump(True))
