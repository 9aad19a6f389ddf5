"""ESC/POS over TCP: the exact job a printer receives on port 9100, and how failures surface."""

from __future__ import annotations

import socket
import struct
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageOps

from printer.backends import DLE_EOT_PAPER, FilePrinter, NetworkPrinter, PrinterError, escpos_bytes, make_printer
from printer.layout import TicketPrint, render_ticket

GS_V0 = b"\x1dv0"
CUT = b"\x1dV"


@pytest.fixture(scope="module")
def ticket() -> TicketPrint:
    """A ticket as the kiosk prints it."""
    return TicketPrint(
        hall_name_ar="المركز التكنولوجي بكفر صقر",
        hall_name_en="Kafr Saqr Technology Center",
        service_name_ar="طلب ترخيص أعمال بناء",
        service_name_en="Building works permit application",
        number="A-023",
        people_ahead=3,
        eta_minutes=9,
        issued_at=datetime(2025, 11, 23, 10, 5, tzinfo=ZoneInfo("Africa/Cairo")),
        track_url="http://127.0.0.1:8080/t/Zx9kQ2mP7vLr4TbW8nYc3HdF",
    )


class PrinterPeer:
    """A TCP listener on loopback that plays a printer: records bytes, answers status queries."""

    def __init__(self, mode: str = "record", status_byte: int | None = None) -> None:
        """Listen on 127.0.0.1, port chosen by the system; mode says how to treat connections."""
        self.mode = mode
        self.status_byte = status_byte
        self.server = socket.socket()
        if mode == "stall":
            # A small receive window, inherited by accepted sockets: the job cannot hide in it.
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.05)  # poll, so close() stops the thread promptly
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.port: int = self.server.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        """Accept connections until closed."""
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.mode == "stall" and not self.held:
                # First connection: the job. Never read it, like a printer out of paper.
                self.held.append(conn)
                continue
            try:
                with conn:
                    self._handle(conn)
            except OSError as exc:  # a test client may reset us; keep serving
                self.errors.append(exc)

    def _handle(self, conn: socket.socket) -> None:
        """Read a job or answer a status query, the way this peer's mode says."""
        if self.mode == "reset":
            # SO_LINGER 0: close with a reset, like a printer interface that refuses the job.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if self.mode == "close":
            return  # accept, then close at once without reading
        conn.settimeout(10)
        while chunk := conn.recv(65536):
            if chunk == DLE_EOT_PAPER and self.status_byte is not None:
                conn.sendall(bytes([self.status_byte]))
                continue
            self.received += chunk
        if self.mode == "keep_open":
            # Some printer interfaces never close after a job: the client has to.
            self._stop.wait(3)

    def close(self) -> None:
        """Stop listening and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def peer() -> PrinterPeer:
    """A recording printer peer, closed after the test."""
    p = PrinterPeer()
    yield p
    p.close()


def parse_raster_job(job: bytes) -> tuple[list[tuple[int, int]], bytes, bytes]:
    """Walk the job: ESC @, then GS v 0 blocks; give their (bytes wide, rows), raster, tail."""
    assert job.startswith(b"\x1b@"), "job should start by resetting the printer (ESC @)"
    pos = 2
    blocks: list[tuple[int, int]] = []
    raster = bytearray()
    while job.startswith(GS_V0, pos):
        mode = job[pos + 3]
        assert mode == 0, "normal density"
        xbytes, rows = struct.unpack_from("<HH", job, pos + 4)
        start = pos + 8
        raster += job[start:start + xbytes * rows]
        assert len(job) >= start + xbytes * rows, "raster payload cut short"
        blocks.append((xbytes, rows))
        pos = start + xbytes * rows
    return blocks, bytes(raster), job[pos:]


@pytest.mark.parametrize("profile", ["TM-T20II", "TM-T88V", "POS-5890"])
def test_network_printer_sends_raster_and_cut(
    ticket: TicketPrint, peer: PrinterPeer, profile: str
) -> None:
    """The printer receives GS v 0 rasters of the whole ticket at its dot width, then a cut."""
    printer = NetworkPrinter("127.0.0.1", peer.port, timeout=5, profile=profile)
    img = render_ticket(ticket, width=printer.width)
    printer.print_image(img)
    peer.close()
    job = bytes(peer.received)

    assert job == escpos_bytes(img, profile), "the wire carries exactly escpos_bytes()"
    assert GS_V0 + b"\x00" + struct.pack("<H", printer.width // 8) in job
    blocks, raster, tail = parse_raster_job(job)
    assert blocks and all(x == printer.width // 8 for x, _ in blocks)
    assert sum(rows for _, rows in blocks) == img.height
    assert len(raster) == printer.width // 8 * img.height
    # The raster is the ticket itself: 1 bits are black dots.
    printed = ImageOps.invert(Image.frombytes("1", img.size, raster).convert("L")).convert("1")
    assert printed.tobytes() == img.tobytes()
    if profile == "POS-5890":
        assert CUT not in tail, "a 58 mm printer without a cutter gets no cut command"
    else:
        assert tail.endswith(CUT + b"\x00"), "a full cut ends the job"


def test_job_for_a_too_wide_image_is_refused(ticket: TicketPrint) -> None:
    """A 576-dot ticket on a 512-dot TM-T88 would be clipped: refuse it before sending."""
    printer = NetworkPrinter("127.0.0.1", 9, profile="TM-T88V")
    with pytest.raises(PrinterError) as err:
        printer.print_image(render_ticket(ticket, width=576))
    assert err.value.kind == "error" and "512" in err.value.message


def _free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_offline(ticket: TicketPrint) -> None:
    """Connection refused means the printer is off or unplugged."""
    printer = NetworkPrinter("127.0.0.1", _free_port(), timeout=2, profile="TM-T20II")
    with pytest.raises(PrinterError) as err:
        printer.print_image(render_ticket(ticket, width=576))
    assert err.value.kind == "offline"
    assert printer.status() == "offline"


@pytest.mark.parametrize("mode", ["close", "reset"])
def test_peer_that_drops_the_job_is_an_error(ticket: TicketPrint, mode: str) -> None:
    """A peer that accepts and hangs up (or resets) does not print: the kiosk must know."""
    peer = PrinterPeer(mode=mode)
    try:
        printer = NetworkPrinter("127.0.0.1", peer.port, timeout=3, profile="TM-T20II")
        with pytest.raises(PrinterError) as err:
            printer.print_image(render_ticket(ticket, width=576))
        assert err.value.kind == "offline"
    finally:
        peer.close()


@pytest.mark.parametrize(("status_byte", "kind"), [(0x72, "paper_out"), (None, "offline")])
def test_printer_that_stops_reading_is_reported(
    ticket: TicketPrint, status_byte: int | None, kind: str
) -> None:
    """A printer that stops taking data fails the job; its paper sensor says whether it is paper."""
    peer = PrinterPeer(mode="stall", status_byte=status_byte)
    try:
        printer = NetworkPrinter(
            "127.0.0.1", peer.port, timeout=1, status_timeout=0.3, profile="TM-T20II"
        )
        started = time.monotonic()
        with pytest.raises(PrinterError) as err:
            printer.print_image(render_ticket(ticket, width=576))
        assert err.value.kind == kind
        assert time.monotonic() - started < 5
    finally:
        peer.close()


def test_printer_that_keeps_the_connection_open(ticket: TicketPrint) -> None:
    """A printer that takes the job but never hangs up still counts as printed, quickly."""
    peer = PrinterPeer(mode="keep_open")
    try:
        printer = NetworkPrinter("127.0.0.1", peer.port, timeout=2, profile="TM-T20II")
        img = render_ticket(ticket, width=576)
        started = time.monotonic()
        printer.print_image(img)
        assert time.monotonic() - started < 2.5
    finally:
        peer.close()
    assert bytes(peer.received) == escpos_bytes(img, "TM-T20II")


@pytest.mark.parametrize(
    ("status_byte", "expected"),
    [(0x12, "online"), (0x1E, "online"), (0x72, "paper_out"), (None, "online")],
)
def test_status_reads_the_paper_sensor(status_byte: int | None, expected: str) -> None:
    """DLE EOT 4 answers decode to paper status; a silent but open printer is online."""
    peer = PrinterPeer(status_byte=status_byte)
    try:
        printer = NetworkPrinter("127.0.0.1", peer.port, timeout=2, status_timeout=0.3)
        assert printer.status() == expected
    finally:
        peer.close()


def test_file_printer_writes_the_job_and_a_png(ticket: TicketPrint, tmp_path: Path) -> None:
    """The file backend's .bin is byte for byte the network job; the .png is the ticket."""
    printer = make_printer({"backend": "file", "folder": str(tmp_path / "out")})
    assert isinstance(printer, FilePrinter) and printer.status() == "online"
    img = render_ticket(ticket, width=printer.width)
    printer.print_image(img)
    bins = sorted((tmp_path / "out").glob("*.bin"))
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(bins) == 1 and len(pngs) == 1 and bins[0].stem == pngs[0].stem
    assert bins[0].read_bytes() == escpos_bytes(img, printer.profile)
    with Image.open(pngs[0]) as saved:
        assert saved.convert("1").tobytes() == img.tobytes()
    assert not list((tmp_path / "out").glob(".*")), "no half-written files left behind"
