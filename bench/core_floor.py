"""The floor for bench_core.py: the least a durable ticket issue can cost on the hall server's stack.

A minimal Flask app on the same server stack as `hall-server run` (gevent monkey-patching, gevent's
pywsgi WSGIServer on a TCP_NODELAY listener, geventwebsocket's handler; see `_serve_gevent` in
hall_server/cli.py, copied here so the floor does not move when the CLI changes) doing the same
durable writes per ticket: one SQLite transaction (journal_mode=WAL, synchronous=FULL,
BEGIN IMMEDIATE) that upserts a counter row, inserts a ticket row and inserts an event row; the
answer is 201 with the ticket as JSON.

Run as a child process: `python bench/core_floor.py --port N --db PATH`; it prints
"floor listening on ..." once it accepts connections.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import sqlite3  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from flask import Flask, Response, request  # noqa: E402

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    hall TEXT NOT NULL, prefix TEXT NOT NULL, day TEXT NOT NULL, last INTEGER NOT NULL,
    PRIMARY KEY (hall, prefix, day));
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY, hall TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL,
    status TEXT NOT NULL, token TEXT NOT NULL UNIQUE, issued_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, hall TEXT NOT NULL, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    kind TEXT NOT NULL, at TEXT NOT NULL, data TEXT);
"""


class Pool:
    """SQLite connections reused across requests (one per concurrent request at most)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._free: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._free.pop() if self._free else None
        conn = conn or self._open()
        try:
            yield conn
        finally:
            with self._lock:
                self._free.append(conn)


def create_app(db_path: str) -> Flask:
    """The floor app: POST /tickets {service} -> 201 {id, number, service, token, issued_at}."""
    pool = Pool(db_path)
    with pool.connection() as conn:
        conn.executescript(SCHEMA)
    app = Flask(__name__)

    @app.post("/tickets")
    def issue() -> Response:
        data: dict[str, Any] = request.get_json(force=True, silent=True) or {}
        service = str(data.get("service") or "general")[:40]
        prefix = service[:1].upper()
        now = datetime.now(UTC)
        token = secrets.token_urlsafe(18)
        with pool.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                seq = conn.execute(
                    "INSERT INTO counters (hall, prefix, day, last) VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (hall, prefix, day) DO UPDATE SET last = last + 1 RETURNING last",
                    ("kfs", prefix, now.date().isoformat())).fetchone()[0]
                number = f"{prefix}{seq:03d}"
                tid = conn.execute(
                    "INSERT INTO tickets (hall, number, service, status, token, issued_at) "
                    "VALUES (?, ?, ?, 'waiting', ?, ?)",
                    ("kfs", number, service, token, now.isoformat())).lastrowid
                conn.execute("INSERT INTO events (hall, ticket_id, kind, at, data) VALUES (?, ?, 'issued', ?, ?)",
                             ("kfs", tid, now.isoformat(), json.dumps({"service": service})))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        body = json.dumps({"id": tid, "number": number, "service": service, "token": token,
                           "issued_at": now.isoformat()})
        return Response(body, status=201, mimetype="application/json")

    @app.get("/ping")
    def ping() -> Response:
        return Response("{}", mimetype="application/json")

    return app


def serve(app: Flask, host: str, port: int) -> None:
    """gevent's WSGI server on a TCP_NODELAY listener with the websocket handler (as `hall-server run`)."""
    import socket as pysocket

    from gevent import pywsgi, socket
    from geventwebsocket.handler import WebSocketHandler
    listener = socket.socket(pysocket.AF_INET, pysocket.SOCK_STREAM)
    listener.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_REUSEADDR, 1)
    listener.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
    listener.bind((host, port))
    listener.listen(2048)
    print(f"floor listening on http://{host}:{port}", flush=True)
    pywsgi.WSGIServer(listener, app, handler_class=WebSocketHandler, log=None).serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", required=True, help="SQLite file (created)")
    args = ap.parse_args()
    serve(create_app(args.db), "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
