"""The `hall-server` command: init, run, demo, user add, device add, check-config."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
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


def _settings(args: argparse.Namespace, **extra: Any):
    from config import load_settings
    overrides = {k: v for k, v in {
        "database_url": getattr(args, "database_url", None), "port": getattr(args, "port", None),
        "host": getattr(args, "host", None), "async_mode": getattr(args, "async_mode", None),
        "data_dir": getattr(args, "data_dir", None), **extra}.items() if v is not None}
    return load_settings(**overrides)


def _engine(settings):
    from hall_server.migrate import upgrade
    from hall_server.storage import make_engine
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def cmd_init(args: argparse.Namespace) -> int:
    """Create or upgrade the database and the configured halls' rows."""
    from hall_server.application import HallApp
    settings = _settings(args)
    engine = _engine(settings)
    HallApp(settings, engine).ensure_halls()
    print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    print(f"halls: {', '.join(h.code for h in settings.halls)}")
    return 0


def _serve(settings, banner: str | None = None) -> int:
    from hall_server.factory import create_app
    from hall_server.realtime import socketio
    app = create_app(settings)
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
    from geventwebsocket.handler import WebSocketHandler
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


def cmd_demo(args: argparse.Namespace) -> int:
    """One hall on SQLite with the seeded catalog, demo staff and devices; prints the URLs."""
    from hall_server.application import HallApp
    from hall_server.auth import Auth
    data_dir = Path(args.data_dir or "var/demo").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(args, data_dir=data_dir,
                         database_url=args.database_url or f"sqlite:///{data_dir / 'demo.db'}")
    engine = _engine(settings)
    HallApp(settings, engine).ensure_halls()
    auth = Auth(engine)
    hall = settings.halls[0]
    tokens_file = data_dir / "devices.txt"
    if not tokens_file.exists():
        for username, role, name in [("admin", "admin", "مدير النظام"), ("supervisor", "supervisor", "مشرف القاعة")] + \
                [(f"clerk{i}", "clerk", f"موظف الشباك {i}") for i in range(1, len(hall.windows) + 1)]:
            auth.add_user(username, DEMO_PASSWORD, role, name)
        lines = [f"{name} {auth.add_device(hall.code, name, role)}" for name, role in DEMO_DEVICES]
        tokens_file.write_text("\n".join(lines) + "\n")
    tokens = dict(line.split() for line in tokens_file.read_text().splitlines() if line.strip())
    base = settings.public_url
    banner = "\n".join([
        f"Demo hall: {hall.name_en} ({hall.code}), {len(hall.windows)} windows, "
        f"{len(settings.catalog.services)} services",
        f"  kiosk:       {base}/kiosk/{hall.code}?device={tokens['kiosk-1']}",
        f"  board:       {base}/board/{hall.code}?device={tokens['board-1']}",
        f"  counter:     {base}/counter/{hall.code}   (clerk1..clerk{len(hall.windows)} / {DEMO_PASSWORD})",
        f"  supervisor:  {base}/supervisor/{hall.code}   (supervisor / {DEMO_PASSWORD})",
        f"  API:         {base}/api/v1/openapi.json",
        f"  device tokens are in {tokens_file}",
    ])
    return _serve(settings, banner)


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a staff account."""
    from hall_server.auth import Auth
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
    uid = Auth(_engine(settings)).add_user(args.username, args.password, args.role, args.full_name or "",
                                           windows=windows, departments=departments)
    print(f"user {args.username} ({args.role}) created with id {uid}")
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    """Create a device token; it is printed once and stored only as a hash."""
    from hall_server.auth import Auth
    settings = _settings(args)
    settings.hall(args.hall)
    token = Auth(_engine(settings)).add_device(args.hall, args.name, args.role)
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
    """Check every audit chain; report the first broken link of each (exit 1 if any)."""
    from hall_server import audit
    settings = _settings(args)
    checked, breaks = audit.verify(_engine(settings))
    for chain, n in sorted(checked.items()):
        print(f"chain {chain!r}: {n} entries checked")
    if breaks:
        for b in breaks:
            print(f"BROKEN: {b}")
        return 1
    print("audit trail intact")
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
    common(audit.add_parser("verify", help=cmd_audit_verify.__doc__)).set_defaults(fn=cmd_audit_verify)
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
