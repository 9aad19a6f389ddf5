"""The `hall-server` command: init, run, demo, user add, device add, check-config."""
from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("hall_server")

DEMO_PASSWORD = "demo-pass-2026"
DEMO_DEVICES = (("kiosk-1", "kiosk"), ("board-1", "board"), ("announcer-1", "announcer"),
                ("printer-1", "printer"))


def _early_async_mode(argv: Sequence[str]) -> str | None:
    """The async mode a `run`/`demo` will use, read before anything imports sockets or threads."""
    if not argv or argv[0] not in ("run", "demo"):
        return None
    mode = os.environ.get("HALL_ASYNC_MODE", "gevent")
    for i, arg in enumerate(argv):
        if arg == "--async-mode" and i + 1 < len(argv):
            mode = argv[i + 1]
        elif arg.startswith("--async-mode="):
            mode = arg.split("=", 1)[1]
    return mode


def _patch(mode: str | None) -> None:
    """Monkey-patch the standard library for gevent/eventlet before the app is imported."""
    if mode == "gevent":
        from gevent import monkey
        monkey.patch_all()
    elif mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
    from hall_server import memory  # run/demo: allocator, gevent and engineio tuning, the reclaimer
    memory.setup(mode)  # may re-execute the process once (PYTHONMALLOC=malloc): before any work


def _settings(args: argparse.Namespace, **extra: Any):
    from config import load_settings
    overrides = {k: v for k, v in {
        "database_url": getattr(args, "database_url", None), "port": getattr(args, "port", None),
        "host": getattr(args, "host", None), "async_mode": getattr(args, "async_mode", None),
        "data_dir": getattr(args, "data_dir", None), **extra}.items() if v is not None}
    return load_settings(**overrides)


def _engine(settings):
    from hall_server.application import audit
    from hall_server.migrate import upgrade
    from hall_server.storage import make_engine
    engine = make_engine(settings.database_url)
    upgrade(engine)
    audit.use_key(engine, audit.load_key(settings))  # what the CLI does (accounts, devices) is audited
    return engine


def _operator() -> str:
    """Who runs the CLI, for the audit trail: the OS user (sudo's caller when run through sudo)."""
    import getpass
    return "cli:" + (os.environ.get("SUDO_USER") or getpass.getuser())[:40]


def cmd_init(args: argparse.Namespace) -> int:
    """Create or upgrade the database and the configured halls' rows."""
    from hall_server.application import HallApp
    settings = _settings(args)
    engine = _engine(settings)
    HallApp(settings, engine).ensure_halls()
    print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    print(f"halls: {', '.join(h.code for h in settings.halls)}")
    return 0


def _serve(settings, banner: str | None = None, background: Any = None) -> int:
    """Serve until stopped; `background`, if given, runs as a Socket.IO background task (a greenlet under
    gevent, so that Ctrl-C reaches the server whichever task it interrupts)."""
    from hall_server.factory import create_app
    from hall_server.realtime import socketio
    app = create_app(settings)
    if background is not None:
        socketio.start_background_task(background)
    from hall_server.application.audit import HeadExporter
    from hall_server.current import EXTENSION
    # the audit chains' signed heads, written off the database every audit_export_hours
    socketio.start_background_task(HeadExporter(app.extensions[EXTENSION].engine, settings).run, socketio.sleep)
    # What start-up made (modules, tables, settings, the catalog: about 140,000 objects) lives as long as
    # the process: left out of every later full collection, which otherwise walks them all and holds
    # the loop meanwhile (one took 88 ms during a run of issues; 7,000 objects are left to walk).
    gc.collect()
    gc.freeze()
    warning = _public_url_warning(settings.host, settings.public_url)
    if warning:
        log.warning("%s", warning)
    if banner:
        print(banner, flush=True)
    print(f"hall-server listening on http://{settings.host}:{settings.port} "
          f"(async_mode={settings.async_mode})", flush=True)
    if settings.async_mode == "gevent":
        _serve_gevent(app, settings.host, settings.port)
        return 0
    kwargs: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_output": False}
    if settings.async_mode == "threading":
        kwargs["allow_unsafe_werkzeug"] = True
    socketio.run(app, **kwargs)
    return 0


def _serve_gevent(app: Any, host: str, port: int) -> None:
    """gevent's WSGI server on a listener with TCP_NODELAY (accepted sockets inherit it).

    Without it, a response written in two segments waits for the client's delayed ACK:
    every request took 40 ms more (measured with bench/bench_issue.py).
    """
    import socket as pysocket

    from gevent import pywsgi, socket

    from hall_server.memory import LeanWebSocketHandler as WebSocketHandler
    family = pysocket.AF_INET6 if ":" in host else pysocket.AF_INET
    listener = socket.socket(family, pysocket.SOCK_STREAM)
    listener.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
    listener.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
    listener.bind((host, port))
    listener.listen(2048)
    pywsgi.WSGIServer(listener, app, handler_class=WebSocketHandler, log=None).serve_forever()


def cmd_run(args: argparse.Namespace) -> int:
    """Serve the API, pages and Socket.IO (--workers N: N processes behind a proxy)."""
    settings = _settings(args)
    workers = getattr(args, "workers", 1)
    if workers != 1:
        return _serve_workers(settings, workers)
    return _serve(settings)


def _workers_problem(settings, workers: int) -> str | None:
    """Why `workers` server processes cannot run with these settings (None: they can)."""
    if workers < 1:
        return "--workers must be at least 1"
    if not settings.message_queue:
        return (f"--workers {workers} needs a message queue: set HALL_MESSAGE_QUEUE=redis://host:6379/0 "
                "(an event raised in one process must reach the boards and counters connected to the others)")
    if not settings.database_url.startswith("postgresql"):
        return (f"--workers {workers} needs PostgreSQL: set HALL_DATABASE_URL=postgresql://user:pw@host/db "
                "(SQLite puts every write of every process behind one file lock)")
    if not os.environ.get("HALL_PUBLIC_URL"):
        return (f"--workers {workers} needs HALL_PUBLIC_URL, the address of the proxy in front of the workers "
                "(e.g. http://hall.example: browsers connect there, and Socket.IO accepts only that origin)")
    if settings.message_queue.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
        except ImportError:
            return "HALL_MESSAGE_QUEUE is Redis but the redis package is missing: pip install 'hall-queue[redis]'"
        try:
            redis.Redis.from_url(settings.message_queue, socket_connect_timeout=5, socket_timeout=5).ping()
        except Exception as exc:  # noqa: BLE001 - any failure means the queue is not usable
            return f"HALL_MESSAGE_QUEUE {settings.message_queue}: Redis does not answer ({exc})"
    import socket
    for port in range(settings.port, settings.port + workers):
        with socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((settings.host, port))
            except OSError as exc:
                return f"worker port {settings.host}:{port} is not free ({exc.strerror}); choose another --port"
    return None


def _die_with_parent() -> None:
    """In a worker (after fork): get SIGTERM if the supervising process dies, even by SIGKILL (Linux)."""
    import signal
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the worker only outlives a killed supervisor
        pass


def _serve_workers(settings, workers: int) -> int:
    """N single-process servers on ports port..port+N-1 (each gevent with TCP_NODELAY), supervised.

    Flask-SocketIO's route for several processes: each its own port, a proxy on the public port
    in front (config/nginx-hall.conf: sticky for long-polling, any process for websockets and the
    API), events shared through the message queue, state in PostgreSQL. A worker that dies is
    started again; one that exits while starting stops them all.
    """
    import signal
    import subprocess
    import time
    problem = _workers_problem(settings, workers)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from hall_server.application import HallApp
    engine = _engine(settings)  # migrate once here, not in N processes at the same time
    try:
        HallApp(settings, engine).ensure_halls()
    finally:
        engine.dispose()
    ports = list(range(settings.port, settings.port + workers))
    env = {**os.environ, "HALL_DATABASE_URL": settings.database_url, "HALL_DATA_DIR": str(settings.data_dir),
           "HALL_MESSAGE_QUEUE": settings.message_queue, "HALL_ASYNC_MODE": settings.async_mode,
           "HALL_HOST": settings.host, "HALL_PUBLIC_URL": settings.public_url}

    def start(port: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "hall_server", "run", "--port", str(port), "--workers", "1"],
                                env=env, start_new_session=True, preexec_fn=_die_with_parent)

    stopping: list[int | None] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    procs = {port: start(port) for port in ports}
    started = dict.fromkeys(ports, time.monotonic())
    print(f"hall-server: {workers} workers on {settings.host} ports {ports[0]}..{ports[-1]} "
          f"(async_mode={settings.async_mode}), public address {settings.public_url}; proxy upstream:\n"
          + "\n".join(f"    server {settings.host}:{p};" for p in ports), flush=True)
    rc = 0
    while not stopping:
        for port, proc in procs.items():
            if proc.poll() is None:
                continue
            if time.monotonic() - started[port] < 10:
                log.error("worker on port %d exited with code %s while starting; stopping all", port, proc.returncode)
                rc = 1
                stopping.append(None)
                break
            log.warning("worker on port %d exited with code %s; starting it again", port, proc.returncode)
            procs[port], started[port] = start(port), time.monotonic()
        time.sleep(0.5)
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return rc


DEMO_BACK_OFFICE = "backoffice"
DEMO_SIM_KIOSK = "kiosk-sim"  # the simulated citizens' kiosk (--live): prints nothing
DEMO_SPEED = 10.0
DEMO_TICKETS = "tickets"  # the demo kiosk's printer folder, inside the data dir
# Sample request files for the back office and /inquiry: (name, national ID, mobile); a service of
# its own sector each.
DEMO_FILES = (("أحمد محمد السيد", "28507151301235", "01001234567"),
              ("منى عبد الله إبراهيم", "29203021301842", "01112345678"),
              ("محمود حسن علي", "27811201302716", None))


def _is_loopback_host(host: str | None) -> bool:
    """Whether an address or host name names only this machine (127/8, ::1, localhost)."""
    import ipaddress
    name = (host or "").strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_wildcard_host(host: str | None) -> bool:
    """Whether a listening address means every interface (0.0.0.0, ::, empty)."""
    import ipaddress
    name = (host or "").strip("[]")
    if not name:
        return True
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _lan_address() -> str | None:
    """This machine's IPv4 address on its network (what phones on the same network open), or None.

    Found without sending anything: connect() on a UDP socket only picks the route and the source
    address; `ip -4 addr` is the fallback. Loopback, link-local and unspecified addresses do not count.
    """
    import ipaddress
    import socket
    import subprocess

    def usable(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)

    for probe in ("10.254.254.254", "192.168.254.254", "172.31.254.254"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))
                addr = s.getsockname()[0]
        except OSError:
            continue
        if usable(addr):
            return addr
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                             text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts and parts.index("inet") + 1 < len(parts):
            addr = parts[parts.index("inet") + 1].split("/")[0]
            if usable(addr):
                return addr
    return None


def _public_url_warning(host: str, public_url: str) -> str | None:
    """A warning when ticket QR codes and links (public_url) name this machine itself while the server
    listens on an interface other machines reach: phones would open their own localhost."""
    from urllib.parse import urlsplit
    link_host = urlsplit(public_url).hostname or ""
    if _is_loopback_host(host) or not (_is_loopback_host(link_host) or _is_wildcard_host(link_host)):
        return None
    lan = _lan_address()
    port = urlsplit(public_url).port
    example = f"http://{lan}{f':{port}' if port else ''}" if lan else "http://<this machine's address>:<port>"
    return (f"HALL_PUBLIC_URL is {public_url}: every ticket's QR code and link points there, which a phone "
            f"cannot open, while the server listens on {host or 'every interface'}; set HALL_PUBLIC_URL to "
            f"the address phones reach, e.g. {example}")


def _demo_address(settings, host_given: bool) -> tuple[str, str, str | None]:
    """(listening host, public URL, a note) for the demo.

    HALL_PUBLIC_URL set by the user wins. Otherwise the public URL is this machine's LAN address when
    it has one and the server listens beyond loopback; a demo with no --host/HALL_HOST then listens
    on every interface, so phones on the same network can open the tickets' QR codes.
    """
    from urllib.parse import urlsplit
    host, port = settings.host, settings.port
    if os.environ.get("HALL_PUBLIC_URL"):
        if not host_given and not _is_loopback_host(urlsplit(settings.public_url).hostname):
            host = "0.0.0.0"  # the address phones open must reach the server
        return host, settings.public_url, None
    if host_given and _is_loopback_host(host):
        return host, f"http://{_url_host(host)}:{port}", (
            "phones cannot open these links: the demo listens on this machine only "
            "(run it with --host 0.0.0.0, or set HALL_PUBLIC_URL)")
    if host_given and not _is_wildcard_host(host):
        return host, f"http://{_url_host(host)}:{port}", None
    lan = _lan_address()
    if lan is None:
        return (host if host_given else "127.0.0.1"), f"http://127.0.0.1:{port}", (
            "this machine has no network address: phones cannot open these links")
    return (host if host_given else "0.0.0.0"), f"http://{lan}:{port}", None


def _demo_settings(settings, data_dir: Path):
    """The demo's hall: kiosk-1 without a printer prints to files (PNG + ESC/POS .bin) in the data dir."""
    from dataclasses import replace

    from config.loader import DeviceDef
    hall = settings.halls[0]
    kiosk = next((d for d in hall.devices if d.name == "kiosk-1"), None)
    if kiosk is not None and dict(kiosk.printer).get("mode", "none") != "none":
        return settings, None  # the hall file gives the demo kiosk a printer: keep it
    file_printer = {"mode": "server", "backend": "file", "folder": DEMO_TICKETS}
    devices = [d for d in hall.devices if d.name != "kiosk-1"]
    devices.insert(0, DeviceDef("kiosk-1", "kiosk", file_printer))
    halls = (replace(hall, devices=tuple(devices)),) + tuple(settings.halls[1:])
    return replace(settings, halls=halls), data_dir / DEMO_TICKETS


def _demo_accounts(auth, hall, tokens_file: Path) -> dict[str, str]:
    """Staff (admin, supervisor, clerk1..N, backoffice) and device tokens; made once, checked each start."""
    staff = [("admin", "admin", "مدير النظام"), ("supervisor", "supervisor", "مشرف القاعة"),
             (DEMO_BACK_OFFICE, "back_office", "موظف المكتب الخلفي")]
    staff += [(f"clerk{w.number}", "clerk", f"موظف الشباك {w.number}") for w in hall.windows]
    for username, role, name in staff:
        if auth.user_id(username) is None:
            # the hall's own staff; only the admin is for every hall
            auth.add_user(username, DEMO_PASSWORD, role, name, halls=None if role == "admin" else [hall.code])
    tokens: dict[str, str] = {}
    if tokens_file.exists():
        tokens = dict(line.split(maxsplit=1) for line in tokens_file.read_text().splitlines() if line.strip())
    changed = False
    for name, role in DEMO_DEVICES + ((DEMO_SIM_KIOSK, "kiosk"),):
        actor = auth.resolve(tokens.get(name))
        if actor is None or actor.hall != hall.code or actor.role != role:  # new, or the database was reset
            tokens[name] = auth.add_device(hall.code, name, role)
            changed = True
    if changed:
        tokens_file.write_text("".join(f"{name} {token}\n" for name, token in tokens.items()))
    return tokens


def _demo_open_windows(app, auth, hall, live: bool) -> list[str]:
    """Sign clerkN in at window N, so every service is open and the kiosk's buttons work.

    With --live the simulated clerks take every window: a ticket still held at a window from an
    earlier run is completed and a window another account holds is closed first. Returns notes.
    """
    from hall_server.application import Actor
    from hall_server.domain.errors import DomainError
    sup_id = auth.user_id("supervisor")
    supervisor = Actor("user", "supervisor", "supervisor", user_id=sup_id)
    notes = []
    for w in hall.windows:
        uid = auth.user_id(f"clerk{w.number}")
        clerk = Actor("user", f"clerk{w.number}", "clerk", user_id=uid)
        try:
            view = app.window_view(hall.code, w.number)
            if live and view["current"] is not None:
                app.complete(hall.code, w.number, supervisor, "served")
            if live and view["state"] != "closed" and view["clerk_id"] != uid:
                app.set_window_state(hall.code, w.number, "close", supervisor)
            app.set_window_state(hall.code, w.number, "sign_in", clerk)
        except DomainError as exc:
            notes.append(f"window {w.number} stays as it is: {exc.message}")
    return notes


def _demo_files(app, hall, auth) -> dict[str, str] | None:
    """A few request files (the back office's work, /inquiry's answers), made once per hall; returns
    one to look up on /inquiry (its number and the national ID's last four digits), if still open."""
    from hall_server.application import Actor
    from hall_server.application.files import FileDesk
    desk = FileDesk(app)
    if not sum(v for k, v in desk.counts(hall.code).items() if k != "late"):
        served = {s for w in hall.windows for s in w.services}
        picked, sectors = [], set()
        for s in app.settings.catalog.services:
            if s.kind == "submit" and s.code in served and s.sector not in sectors:
                picked.append(s)
                sectors.add(s.sector)
        last = hall.windows[-1].number
        clerk = Actor("user", f"clerk{last}", "clerk", user_id=auth.user_id(f"clerk{last}"))
        for service, (name, nid, mobile) in zip(picked, DEMO_FILES):
            desk.create(hall.code, service.code, name, nid, mobile, [0], clerk)
    mine = {name for name, _, _ in DEMO_FILES}
    for f in desk.list(hall.code):
        if f["citizen_name"] in mine:
            return {"file": f["number"], "last4": f["national_id"][-4:]}
    return None


def _demo_live(settings, hall, kiosk_token: str, url: str, speed: float) -> Callable[[], None]:
    """The simulated hall day, again and again, against the demo server (the returned function, run as the
    server's background task): citizens take tickets at a kiosk of their own, clerk1..N call and serve them."""
    import time
    from datetime import datetime, timedelta
    from datetime import time as dtime

    import requests

    from hall_server import simulate
    from hall_server.domain import numbering
    lead = timedelta(minutes=10)  # the simulated day starts 10 minutes before opening: skip them

    class DemoDriver(simulate.HttpDriver):
        def advance(self, to: datetime) -> None:
            if self._anchor is None:  # the first instant of a day: simulated time runs from the opening
                self._anchor = (time.monotonic(), to + lead)
                return
            super().advance(to)

    # A short morning: clerks are at their windows at once; after 14:00 the waiting are served and the next
    # day begins (the hall is never closed for long).
    behaviour = simulate.Behaviour(sign_in_spread_min=1.0, hard_stop=dtime(14, 15))

    def run() -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/api/v1/halls", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                log.error("demo --live: the server did not answer at %s; no simulation", url)
                return
            time.sleep(0.2)
        driver = DemoDriver(url, hall.code, kiosk_token, speed, DEMO_PASSWORD)
        sim = simulate.Simulation(settings, hall.code, simulate.LOADS["normal"], 1, driver, behaviour)
        failures = 0
        try:
            while failures < 5:
                today = numbering.local_day(datetime.now().astimezone(), hall.tz)
                try:
                    r = sim.run_day(simulate.working_days(today, 1, hall)[0]).summary(
                        hall.queue.wait_target_minutes * 60)
                    failures = 0
                    log.info("demo --live: a simulated day is over: %s issued, %s served; the next begins",
                             r["issued"], r["served"])
                except simulate.SimActionFailed as exc:
                    failures += 1
                    log.warning("demo --live: %s; trying again", exc)
                    time.sleep(5)
            log.error("demo --live: the simulation stopped after %d failures in a row", failures)
        except Exception:  # logged: the demo server goes on without the simulation
            log.exception("demo --live: the simulation stopped")
        finally:
            driver.close()

    return run


def cmd_demo(args: argparse.Namespace) -> int:
    """One hall on SQLite with the seeded catalog, demo staff and devices, windows open; prints the URLs."""
    from hall_server.application import HallApp
    from hall_server.application.auth import Auth
    data_dir = Path(args.data_dir or "var/demo").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # device tokens, national IDs and the audit key: the owner's only
    live = args.live or args.speed is not None
    speed = DEMO_SPEED if args.speed is None else args.speed
    if speed <= 0:
        print("error: --speed must be above 0 (times real time)", file=sys.stderr)
        return 2
    settings = _settings(args, data_dir=data_dir,
                         database_url=args.database_url or f"sqlite:///{data_dir / 'demo.db'}")
    from dataclasses import replace
    host, public_url, address_note = _demo_address(settings, bool(args.host or os.environ.get("HALL_HOST")))
    settings = replace(settings, host=host, public_url=public_url)
    os.environ.setdefault("HALL_PUBLIC_URL", public_url)
    settings, tickets_dir = _demo_settings(settings, data_dir)
    engine = _engine(settings)
    try:
        app = HallApp(settings, engine)
        app.ensure_halls()
        auth = Auth(engine)
        hall = settings.halls[0]
        tokens_file = data_dir / "devices.txt"
        tokens = _demo_accounts(auth, hall, tokens_file)
        notes = _demo_open_windows(app, auth, hall, live)
        sample = _demo_files(app, hall, auth)
        for secret in (tokens_file, data_dir / "demo.db"):
            if secret.exists():
                secret.chmod(0o600)
    finally:
        engine.dispose()
    base = settings.public_url
    n = len(hall.windows)
    lines = [
        f"Demo hall: {hall.name_en} ({hall.code}), {n} windows open (clerk1..clerk{n} signed in), "
        f"{len(settings.catalog.services)} services",
        f"  index:       {base}/",
        f"  kiosk:       {base}/kiosk/{hall.code}?device={tokens['kiosk-1']}",
        f"  board:       {base}/board/{hall.code}?device={tokens['board-1']}",
        f"  counter:     {base}/counter/{hall.code}   (clerk1..clerk{n} / {DEMO_PASSWORD})",
        f"  supervisor:  {base}/supervisor/{hall.code}   (supervisor / {DEMO_PASSWORD})",
        f"  back office: {base}/backoffice/{hall.code}   ({DEMO_BACK_OFFICE} / {DEMO_PASSWORD})",
        f"  inquiry:     {base}/inquiry" + (f"   (file {sample['file']}, last four digits {sample['last4']})"
                                            if sample else ""),
        f"  API:         {base}/api/v1/openapi.json",
        f"  phones:      ticket QR codes and links open {base} (HALL_PUBLIC_URL)",
    ]
    if address_note:
        lines.append(f"               {address_note}")
    if tickets_dir is not None:
        lines.append(f"  kiosk-1 prints each ticket to {tickets_dir} (PNG + ESC/POS .bin)")
    lines.append(f"  device tokens are in {tokens_file}")
    lines += [f"  note: {note}" for note in notes]
    simulation = None
    if live:
        local = ("::1" if ":" in host else "127.0.0.1") if _is_wildcard_host(host) else host
        simulation = _demo_live(settings, hall, tokens[DEMO_SIM_KIOSK], f"http://{_url_host(local)}:{settings.port}",
                                speed)
        lines.append(f"  live: simulated citizens and clerks at {speed:g}x real time (kiosk {DEMO_SIM_KIOSK}, "
                     f"clerk1..clerk{n}); Ctrl-C stops the demo")
    try:
        return _serve(settings, "\n".join(lines), simulation)
    except KeyboardInterrupt:
        print("demo stopped", flush=True)
        return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a staff account."""
    from hall_server.application.auth import Auth
    settings = _settings(args)
    windows = [int(w) for w in args.windows.split(",")] if args.windows else None
    departments = [d.strip() for d in args.departments.split(",") if d.strip()] if args.departments else None
    if departments is not None:
        sectors = [s.code for s in settings.catalog.sectors]
        unknown = [d for d in departments if d not in sectors]
        if unknown or not departments:
            from hall_server.domain.errors import InvalidInput
            raise InvalidInput(f"unknown department(s) {', '.join(unknown) or '(none given)'}; "
                               f"sector codes of the catalog: {', '.join(sectors)}", "invalid_department")
    halls = [h.strip() for h in args.halls.split(",") if h.strip()] if args.halls else None
    if halls is not None:
        unknown_halls = [h for h in halls if h not in {x.code for x in settings.halls}]
        if unknown_halls or not halls:
            from hall_server.domain.errors import InvalidInput
            raise InvalidInput(f"unknown hall(s) {', '.join(unknown_halls) or '(none given)'}; halls of this "
                               f"server: {', '.join(h.code for h in settings.halls)}", "invalid_hall")
    uid = Auth(_engine(settings)).add_user(args.username, args.password, args.role, args.full_name or "",
                                           halls=halls, windows=windows, departments=departments, by=_operator())
    print(f"user {args.username} ({args.role}) created with id {uid}")
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    """Create a device token; it is printed once and stored only as a hash."""
    from hall_server.application.auth import Auth
    settings = _settings(args)
    settings.hall(args.hall)
    token = Auth(_engine(settings)).add_device(args.hall, args.name, args.role, by=_operator())
    print(token)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Load and check every config file, every table of it (what `run` would refuse), and report it."""
    settings = _settings(args)  # the loader checks every table: a wrong value is a ConfigError (exit 2)
    for h in settings.halls:
        print(f"hall {h.code}: {h.name_en} — {len(h.windows)} windows, tz {h.timezone}, "
              f"strategy {h.queue.strategy} ({h.source})")
        print(f"  devices: {', '.join(f'{d.name} ({d.kind})' for d in h.devices) or 'none'}; "
              f"sms: {h.sms.get('backend', 'log')}; voice: {h.audio.get('lang', 'ar')}")
    print(f"catalog: {len(settings.catalog.sectors)} sectors, {len(settings.catalog.services)} services")
    print(f"database: {settings.database_url.split('@')[-1]}")
    print(f"async_mode: {settings.async_mode}; message_queue: {settings.message_queue or 'none'}; "
          f"tts: {settings.tts_engine}{'' if settings.voice_pack is None else f' + voice pack {settings.voice_pack}'}")
    print("config OK")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Check every audit chain with the audit key and against the exported heads (exit 1 if anything is off)."""
    from hall_server.application import audit
    settings = _settings(args)
    key = audit.load_key(settings, create=False)  # never a new key here: it could not check anything
    folder = Path(args.exports) if args.exports else audit.heads_dir(settings)
    engine = _engine(settings)
    try:
        report = audit.check(engine, key, folder)
    finally:
        engine.dispose()
    print(f"audit key {key.id} ({key.source}); exported heads from {folder}")
    for chain, n in sorted(report.entries.items()):
        print(f"chain {chain!r}: {n} entries checked, {report.exports.get(chain, 0)} exported heads")
    for note in report.notes:
        print(f"note: {note}")
    if report.breaks:
        for b in report.breaks:
            print(f"BROKEN: {b}")
        return 1
    print("audit trail intact")
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    """Sign every chain's head and export it now (the data dir's audit-heads/, and the governorate server)."""
    from hall_server.application import audit
    settings = _settings(args)
    key = audit.load_key(settings, create=False)
    engine = _engine(settings)
    try:
        result = audit.HeadExporter(engine, settings, key).export()
    finally:
        engine.dispose()
    assert result is not None  # a blocking export always runs
    for rec in result.records:
        print(f"chain {rec['chain']!r}: head {rec['count']} {rec['hash'][:16]}… -> "
              f"{audit.heads_dir(settings) / audit.export_file_name(rec['chain'])}")
    if result.posted is None:
        print("governorate server: not configured (HALL_GOVERNORATE_URL)")
    elif result.posted:
        print(f"governorate server: delivered to {settings.governorate_url}")
    else:
        print(f"governorate server: NOT delivered to {settings.governorate_url} ({result.error}); "
              f"{result.unsent} head(s) kept for the next export")
        return 1
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate hall days: fill the database with history, or drive a running server live."""
    from datetime import date, datetime
    from datetime import time as dtime

    from hall_server import simulate
    from hall_server.domain import numbering
    settings = _settings(args)
    hall = settings.hall(args.hall) if args.hall else settings.halls[0]
    load = simulate.LOADS[args.load]
    today = numbering.local_day(datetime.now().astimezone(), hall.tz)
    if args.speed > 0:
        if not args.token:
            print("--speed needs --token: a kiosk device token of the running server", file=sys.stderr)
            return 2
        url = args.url or settings.public_url
        driver = simulate.HttpDriver(url, hall.code, args.token, args.speed, args.password)
        sim = simulate.Simulation(settings, hall.code, load, args.seed, driver)
        days = [today] * args.days  # a live server keeps its own date: each day runs from now
        print(f"driving {url} hall {hall.code}: {args.days} day(s), load {load.name}, x{args.speed:g} real time")
    else:
        start = date.fromisoformat(args.start_date) if args.start_date else None
        days = (simulate.working_days(start, args.days, hall) if start
                else simulate.days_before(today, args.days, hall))
        engine = _engine(settings)
        sim = simulate.in_process(settings, engine, hall.code, load, args.seed,
                                  datetime.combine(days[0], dtime(0), tzinfo=hall.tz))
        print(f"simulating {len(days)} day(s) {days[0]}..{days[-1]} in {engine.url.render_as_string(True)}, "
              f"hall {hall.code}, load {load.name}, seed {args.seed}")
    target = hall.queue.wait_target_minutes * 60

    def report(r: simulate.DayResult) -> None:
        s = r.summary(target)
        mean = "-" if s["mean_wait_min"] is None else f"{s['mean_wait_min']:.1f}"
        share = "-" if s["within_target"] is None else f"{s['within_target']:.0%}"
        mae = "-" if s["eta_mae_min"] is None else f"{s['eta_mae_min']:.1f}"
        print(f"{s['day']}: {s['issued']} issued, {s['served']} served, {s['no_show']} no-show, "
              f"{s['transferred']} transferred, {s['sent_home']} sent home; mean wait {mean} min, "
              f"{share} within {hall.queue.wait_target_minutes} min; estimate shown: MAE {mae} min", flush=True)

    try:
        simulate.run_days(sim, days, report)
    except simulate.SimActionFailed as exc:
        print(f"error: the server refused the simulation: {exc}", file=sys.stderr)
        return 2
    finally:
        if isinstance(sim.driver, simulate.HttpDriver):
            sim.driver.close()
        else:
            sim.driver.app.engine.dispose()
    return 0


def cmd_staffing(args: argparse.Namespace) -> int:
    """Windows needed per hour for a day (default tomorrow), from the hall's history."""
    from datetime import date

    from hall_server.application import HallApp
    settings = _settings(args)
    hall = settings.hall(args.hall) if args.hall else settings.halls[0]
    engine = _engine(settings)
    try:
        plan = HallApp(settings, engine).staffing_plan(
            hall.code, date.fromisoformat(args.day) if args.day else None, args.goal)
    finally:
        engine.dispose()
    print(f"hall {plan['hall']}, {plan['day']}: {plan['goal']:.0%} called within {plan['wait_target_minutes']} min; "
          f"history: {len(plan['basis_days'])} day(s) {', '.join(plan['basis_days']) or '(none)'}")
    print("hour  arrivals  minutes  load  windows  as assigned  within target")
    for h in plan["hours"]:
        print(f"{h['hour']:02d}:00 {h['expected_arrivals']:9.1f} {h['mean_service_minutes']:8.1f} "
              f"{h['offered_load']:5.1f} {h['windows_needed']:8d} {h['windows_needed_as_assigned']:12d} "
              f"{h['service_level']:14.0%}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="hall-server", description="Queue and kiosk server for service halls.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--database-url", help="overrides HALL_DATABASE_URL")
        sp.add_argument("--data-dir", help="overrides HALL_DATA_DIR")
        return sp

    common(sub.add_parser("init", help=cmd_init.__doc__)).set_defaults(fn=cmd_init)
    for name, fn in (("run", cmd_run), ("demo", cmd_demo)):
        sp = common(sub.add_parser(name, help=fn.__doc__))
        sp.add_argument("--host")
        sp.add_argument("--port", type=int)
        sp.add_argument("--async-mode", choices=("gevent", "eventlet", "threading"))
        if name == "demo":
            sp.add_argument("--live", action="store_true",
                            help="simulated citizens and clerks work the hall (hall_server/simulate.py over "
                                 "HTTP): tickets issued, called and served on every page")
            sp.add_argument("--speed", type=float,
                            help=f"with --live: times real time (default {DEMO_SPEED:g}); implies --live")
        if name == "run":
            sp.add_argument("--workers", type=int, default=1,
                            help="server processes on ports --port.. --port+N-1, behind a proxy "
                                 "(config/nginx-hall.conf); N > 1 needs HALL_MESSAGE_QUEUE, PostgreSQL "
                                 "and HALL_PUBLIC_URL (default 1)")
        sp.set_defaults(fn=fn)
    user = sub.add_parser("user", help="staff accounts").add_subparsers(dest="user_cmd", required=True)
    ua = common(user.add_parser("add", help=cmd_user_add.__doc__))
    ua.add_argument("username")
    ua.add_argument("--password", required=True)
    ua.add_argument("--role", required=True, choices=("clerk", "supervisor", "admin", "back_office"))
    ua.add_argument("--full-name")
    ua.add_argument("--halls", help="comma-separated hall codes the account works in (least privilege); "
                                    "without it: every hall of this server (a governorate account)")
    ua.add_argument("--windows", help="comma-separated window numbers a clerk may use")
    ua.add_argument("--departments", help="comma-separated sector codes a back_office user works on "
                                          "(e.g. buildings,housing); without it: all departments")
    ua.set_defaults(fn=cmd_user_add)
    device = sub.add_parser("device", help="device tokens").add_subparsers(dest="device_cmd", required=True)
    da = common(device.add_parser("add", help=cmd_device_add.__doc__))
    da.add_argument("name")
    da.add_argument("--hall", required=True)
    da.add_argument("--role", required=True, choices=("kiosk", "board", "announcer", "printer"))
    da.set_defaults(fn=cmd_device_add)
    common(sub.add_parser("check-config", help=cmd_check_config.__doc__)).set_defaults(fn=cmd_check_config)
    audit = sub.add_parser("audit", help="the tamper-evident audit trail").add_subparsers(dest="audit_cmd",
                                                                                          required=True)
    av = common(audit.add_parser("verify", help=cmd_audit_verify.__doc__))
    av.add_argument("--exports", help="folder of exported heads (default: <data dir>/audit-heads), e.g. a copy "
                                      "from the governorate server")
    av.set_defaults(fn=cmd_audit_verify)
    common(audit.add_parser("export", help=cmd_audit_export.__doc__)).set_defaults(fn=cmd_audit_export)
    sim = common(sub.add_parser("simulate", help=cmd_simulate.__doc__, description=(
        "A seeded simulation of hall days through the application. --speed 0 (default): as fast as "
        "possible, in process, on the configured database, ending yesterday unless --start-date is given "
        "(run it before the server uses the database). --speed N > 0: N x real time against a running "
        "server (--url, --token of a kiosk device; clerk1..N and supervisor log in with --password).")))
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--days", type=int, default=1)
    sim.add_argument("--start-date", help="first day, YYYY-MM-DD (weekends and holidays are skipped)")
    sim.add_argument("--load", choices=("light", "normal", "overloaded", "closing"), default="normal")
    sim.add_argument("--speed", type=float, default=0.0)
    sim.add_argument("--url", help="the running server (default: HALL_PUBLIC_URL)")
    sim.add_argument("--token", help="a kiosk device token of the running server")
    sim.add_argument("--password", default=DEMO_PASSWORD, help="password of clerk1..N and supervisor")
    sim.add_argument("--hall", help="hall code (default: the first configured hall)")
    sim.set_defaults(fn=cmd_simulate)
    st = common(sub.add_parser("staffing", help=cmd_staffing.__doc__))
    st.add_argument("--day", help="YYYY-MM-DD (default: tomorrow)")
    st.add_argument("--goal", type=float, default=0.8, help="share to call within the wait target")
    st.add_argument("--hall", help="hall code (default: the first configured hall)")
    st.set_defaults(fn=cmd_staffing)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _patch(_early_async_mode(argv))
    logging.basicConfig(level=os.environ.get("HALL_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from config import ConfigError
    from hall_server.domain.errors import DomainError
    try:
        return args.fn(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"error: unknown {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
