"""The ticket printer port (TicketPrinter) and its ESC/POS backends: network, USB, serial, file."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from PIL import Image

log = logging.getLogger(__name__)

ESCPOS_CACHE_DIR = Path.home() / ".cache" / "hall-escpos"


@contextlib.contextmanager
def _tamed_escpos_import() -> Iterator[None]:
    """Keep python-escpos' import from writing to /tmp and from configuring the root logger."""
    if "escpos.capabilities" in sys.modules:
        yield
        return
    try:
        ESCPOS_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot create %s (%s): escpos uses the temp folder", ESCPOS_CACHE_DIR, exc)
        yield
        return
    # escpos.capabilities pickles its printer database into this folder instead of /tmp.
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(ESCPOS_CACHE_DIR))
    # a folder chosen by the operator must exist too, or escpos fails on import
    Path(os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"]).mkdir(parents=True, exist_ok=True)
    # It also calls mkdtemp() on import even when the variable is set (an eagerly evaluated
    # default): point the temp folder at our cache for the import, then remove that empty dir.
    before = {p.name for p in ESCPOS_CACHE_DIR.glob("tmp*")}
    # escpos writes its pickle in place, and a process importing meanwhile reads half of it
    # (EOFError: several server workers, or a server and a print agent, starting together on a fresh
    # machine): one import at a time per machine.
    lock = open(ESCPOS_CACHE_DIR / "import.lock", "a")  # noqa: SIM115 - held until the import is over
    fcntl.flock(lock, fcntl.LOCK_EX)
    saved_tempdir = tempfile.tempdir
    tempfile.tempdir = str(ESCPOS_CACHE_DIR)
    # And it calls logging.basicConfig(), which would silently disable the application's own
    # basicConfig later: give the root logger a handler for the import so that call is a no-op.
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard:
        root.addHandler(guard)
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        tempfile.tempdir = saved_tempdir
        if guard:
            root.removeHandler(guard)
        for leftover in ESCPOS_CACHE_DIR.glob("tmp*"):
            if leftover.name not in before and leftover.is_dir():
                with contextlib.suppress(OSError):
                    leftover.rmdir()


with _tamed_escpos_import():
    from escpos import capabilities as escpos_capabilities
    from escpos.exceptions import DeviceNotFoundError
    from escpos.printer import Dummy

PrinterErrorKind = Literal["offline", "paper_out", "error"]
ERROR_KINDS: frozenset[str] = frozenset({"offline", "paper_out", "error"})
STATUSES: frozenset[str] = frozenset({"online", "offline", "paper_out", "unknown"})

#: DLE EOT 4: real-time paper sensor status (answered even while the printer is busy).
DLE_EOT_PAPER = b"\x10\x04\x04"
_PAPER_END_BITS = 0x60
_PAPER_NEAR_END_BITS = 0x0C

DEFAULT_WIDTH = 576


class PrinterError(Exception):
    """A ticket could not be printed; kind says why: offline, paper_out or error."""

    def __init__(self, kind: PrinterErrorKind, message: str) -> None:
        """Keep the kind for callers (status on the kiosk, alerts) and the human message."""
        if kind not in ERROR_KINDS:
            raise ValueError(f"PrinterError kind must be in {sorted(ERROR_KINDS)}, got {kind!r}")
        super().__init__(f"{kind}: {message}")
        self.kind: PrinterErrorKind = kind
        self.message = message


@runtime_checkable
class TicketPrinter(Protocol):
    """Where a rendered ticket goes; `width` is the dot width to render at."""

    width: int

    def print_image(self, img: Image.Image) -> None:
        """Print a 1-bit ticket image and cut; raise PrinterError when it cannot."""
        ...

    def status(self) -> str:
        """Return "online", "offline", "paper_out" or "unknown"."""
        ...


# ---------------------------------------------------------------- ESC/POS bytes


def profile_width(profile: str) -> int | None:
    """Return the printable dot width of a python-escpos printer profile, if it states one."""
    try:
        data = escpos_capabilities.get_profile_class(profile).profile_data
    except KeyError:
        known = ", ".join(sorted(escpos_capabilities.CAPABILITIES["profiles"]))
        raise ValueError(f"unknown ESC/POS printer profile {profile!r}; known: {known}") from None
    pixels = data.get("media", {}).get("width", {}).get("pixels")
    return pixels if isinstance(pixels, int) else None


def escpos_bytes(img: Image.Image, profile: str = "TM-T88V") -> bytes:
    """Build the exact ESC/POS job for a ticket image: init, GS v 0 raster(s), feed, cut."""
    max_width = profile_width(profile)
    if max_width is not None and img.width > max_width:
        raise PrinterError(
            "error",
            f"ticket image is {img.width} dots wide but profile {profile} prints {max_width}: "
            f"render the ticket at width={max_width}",
        )
    d = Dummy(profile=profile)
    if max_width is None:
        # escpos print()s a warning to stdout for profiles without a width: give this
        # instance (not the shared profile class) the image's width instead.
        data = dict(d.profile.profile_data)
        data["media"] = {"width": {"mm": "Unknown", "pixels": img.width}}
        d.profile.profile_data = data
    d.hw("INIT")  # ESC @: drop anything a previous, interrupted job left in the buffer
    d.image(img, impl="bitImageRaster")
    d.cut()
    return d.output


def _unacked_bytes(sock: socket.socket) -> int | None:
    """Bytes sent but not yet acknowledged by the peer (Linux SIOCOUTQ); None where unknown."""
    try:
        import fcntl
        import termios

        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (ImportError, AttributeError, OSError):
        return None
    return int.from_bytes(raw, sys.byteorder, signed=True)


def _decode_paper_status(reply: bytes) -> str:
    """Turn a DLE EOT 4 answer into a status (the first byte is the paper sensor byte)."""
    if not reply:
        return "online"
    b = reply[0]
    if b & 0x93 != 0x12:
        # Not a status byte (fixed bits 1 and 4 set, 0 and 7 clear): something else answered.
        log.debug("printer answered %r to DLE EOT 4: not a status byte", reply)
        return "online"
    if b & _PAPER_END_BITS:
        return "paper_out"
    if b & _PAPER_NEAR_END_BITS:
        log.info("printer paper is near its end (status byte 0x%02x)", b)
    return "online"


# ---------------------------------------------------------------- backends


class NetworkPrinter:
    """ESC/POS printer on TCP (port 9100): one connection per ticket, the job's exact bytes."""

    def __init__(
        self,
        host: str,
        port: int = 9100,
        timeout: float = 5,
        profile: str = "TM-T88V",
        width: int | None = None,
        drain_timeout: float = 1.0,
        status_timeout: float = 0.5,
    ) -> None:
        """Remember the address; width defaults to the profile's dot width."""
        self.host = host
        self.port = port
        self.timeout = timeout
        self.profile = profile
        self.width = width or profile_width(profile) or DEFAULT_WIDTH
        self.drain_timeout = drain_timeout
        self.status_timeout = status_timeout
        # One job at a time per printer: the printer serves one connection anyway.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """Show where the printer is."""
        return f"NetworkPrinter({self.host}:{self.port}, profile={self.profile})"

    def print_image(self, img: Image.Image) -> None:
        """Send the ticket's ESC/POS bytes; connection refused, timeout or reset is "offline"."""
        data = escpos_bytes(img, self.profile)
        with self._lock:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            except OSError as exc:
                raise PrinterError("offline", f"cannot connect to {self!r}: {exc}") from exc
            stalled: TimeoutError | None = None
            with sock:
                try:
                    self._send(sock, data)
                except TimeoutError as exc:
                    stalled = exc
                except OSError as exc:
                    raise PrinterError("offline", f"{self!r} dropped the job: {exc}") from exc
            if stalled is not None:
                # A printer out of paper stops reading once its buffer is full: ask it why.
                kind: PrinterErrorKind = "paper_out" if self._status() == "paper_out" else "offline"
                raise PrinterError(kind, f"{self!r} stopped taking data: {stalled}") from stalled
        log.info("printed %d bytes on %r", len(data), self)

    def _send(self, sock: socket.socket, data: bytes) -> None:
        """Send everything, half-close, then wait until the printer has taken the whole job."""
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        # sendall() returns once the bytes are in our kernel's buffer, not in the printer. A peer
        # that hangs up unread answers with a reset, which only a read after the half-close
        # sees; a printer out of paper stops acknowledging, which the send queue shows.
        poll = min(self.drain_timeout, 0.1)
        sock.settimeout(poll)
        started = last_progress = time.monotonic()
        last_unacked: int | None = None
        while True:
            try:
                if not sock.recv(1024):
                    return  # the printer closed its side: it has everything
                continue  # automatic status bytes, if the printer sends any
            except TimeoutError:
                pass
            now = time.monotonic()
            unacked = _unacked_bytes(sock)
            if not unacked:  # 0, or unknown on this platform
                if now - started >= self.drain_timeout:
                    log.debug("%r took the whole job and kept the connection open", self)
                    return
                continue
            if last_unacked is None or unacked < last_unacked:
                last_unacked, last_progress = unacked, now
            elif now - last_progress >= self.timeout:
                raise TimeoutError(
                    f"{unacked} of {len(data)} bytes not taken for {self.timeout:g}s"
                )

    def status(self) -> str:
        """Ask the paper sensor (DLE EOT 4); no answer but a connection means "online"."""
        with self._lock:
            return self._status()

    def _status(self) -> str:
        """Status query without the job lock (used while handling a failed job too)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            log.debug("%r status: cannot connect: %s", self, exc)
            return "offline"
        with sock:
            try:
                sock.sendall(DLE_EOT_PAPER)
                sock.settimeout(self.status_timeout)
                reply = sock.recv(16)
            except TimeoutError:
                return "online"
            except OSError as exc:
                log.debug("%r status: connection dropped: %s", self, exc)
                return "offline"
        return _decode_paper_status(reply)


class _EscposDevicePrinter:
    """Shared code of the USB and serial backends: open the python-escpos device per job."""

    width: int
    profile: str
    _lock: threading.Lock

    def _device(self) -> Any:
        """Build an unopened python-escpos device (subclasses)."""
        raise NotImplementedError

    def print_image(self, img: Image.Image) -> None:
        """Open the device, write the ticket's ESC/POS bytes, close it."""
        data = escpos_bytes(img, self.profile)
        with self._lock:
            dev = self._device()
            try:
                dev.open()
                dev._raw(data)  # the driver's write: the exact bytes of escpos_bytes()
            except DeviceNotFoundError as exc:
                raise PrinterError("offline", f"{self!r}: {exc}") from exc
            except OSError as exc:
                # pyusb's USBError and pyserial's SerialException are OSErrors.
                raise PrinterError("error", f"{self!r}: {exc}") from exc
            finally:
                with contextlib.suppress(Exception):
                    dev.close()
        log.info("printed %d bytes on %r", len(data), self)

    def status(self) -> str:
        """Ask the paper sensor; a device that is absent is "offline"."""
        with self._lock:
            try:
                dev = self._device()
            except PrinterError:
                return "unknown"
            try:
                dev.open()
                dev._raw(DLE_EOT_PAPER)
                reply = bytes(dev._read())
            except DeviceNotFoundError:
                return "offline"
            except (OSError, NotImplementedError) as exc:
                log.debug("%r status: %s", self, exc)
                return "unknown"
            finally:
                with contextlib.suppress(Exception):
                    dev.close()
        return _decode_paper_status(reply)


class UsbPrinter(_EscposDevicePrinter):
    """ESC/POS printer on USB (needs pyusb and libusb on the kiosk PC)."""

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        profile: str = "TM-T20II",
        width: int | None = None,
        timeout_ms: int = 5000,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
    ) -> None:
        """Remember the USB ids and endpoints; width defaults to the profile's dot width."""
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.profile = profile
        self.width = width or profile_width(profile) or DEFAULT_WIDTH
        self.timeout_ms = timeout_ms
        self.in_ep = in_ep
        self.out_ep = out_ep
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """Show which USB device this is."""
        return f"UsbPrinter({self.vendor_id:04x}:{self.product_id:04x}, profile={self.profile})"

    def _device(self) -> Any:
        """Build the python-escpos Usb device, or say which library is missing."""
        from escpos.printer import usb as escpos_usb

        if not escpos_usb.is_usable():
            raise PrinterError(
                "error", "USB printing needs pyusb (pip install pyusb) and libusb-1.0-0"
            )
        return escpos_usb.Usb(
            self.vendor_id, self.product_id, timeout=self.timeout_ms,
            in_ep=self.in_ep, out_ep=self.out_ep, profile=self.profile,
        )


class SerialPrinter(_EscposDevicePrinter):
    """ESC/POS printer on a serial port (needs pyserial)."""

    def __init__(
        self,
        devfile: str,
        baudrate: int = 9600,
        profile: str = "TM-T20II",
        width: int | None = None,
        timeout: float = 5,
    ) -> None:
        """Remember the port; width defaults to the profile's dot width."""
        self.devfile = devfile
        self.baudrate = baudrate
        self.profile = profile
        self.width = width or profile_width(profile) or DEFAULT_WIDTH
        self.timeout = timeout
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        """Show which port this is."""
        return f"SerialPrinter({self.devfile}@{self.baudrate}, profile={self.profile})"

    def _device(self) -> Any:
        """Build the python-escpos Serial device, or say which library is missing."""
        from escpos.printer import serial as escpos_serial

        if not escpos_serial.is_usable():
            raise PrinterError("error", "serial printing needs pyserial (pip install pyserial)")
        return escpos_serial.Serial(
            devfile=self.devfile, baudrate=self.baudrate, timeout=self.timeout, profile=self.profile
        )


class FilePrinter:
    """Writes each ticket as <stem>.bin (the ESC/POS job) and <stem>.png, for tests and previews."""

    _counter = itertools.count()

    def __init__(
        self, folder: str | Path, profile: str = "default", width: int | None = None
    ) -> None:
        """Remember the folder (created on first print); width defaults to the profile's dot width."""
        self.folder = Path(folder)
        self.profile = profile
        self.width = width or profile_width(profile) or DEFAULT_WIDTH

    def __repr__(self) -> str:
        """Show the folder."""
        return f"FilePrinter({self.folder})"

    def print_image(self, img: Image.Image, stem: str | None = None) -> None:
        """Write the job and the image; files appear whole (written aside, then renamed)."""
        data = escpos_bytes(img, self.profile)
        stem = stem or f"ticket-{datetime.now():%Y%m%d-%H%M%S-%f}-{next(self._counter)}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            bin_tmp = self.folder / f".{stem}.bin.part"
            png_tmp = self.folder / f".{stem}.png.part"
            bin_tmp.write_bytes(data)
            img.save(png_tmp, format="PNG")
            os.replace(png_tmp, self.folder / f"{stem}.png")
            os.replace(bin_tmp, self.folder / f"{stem}.bin")
        except OSError as exc:
            raise PrinterError("error", f"{self!r}: {exc}") from exc
        log.info("wrote ticket %s (%d bytes) to %s", stem, len(data), self.folder)

    def status(self) -> str:
        """Online when the folder exists (or can be made) and is writable."""
        folder = self.folder if self.folder.exists() else self.folder.parent
        return "online" if os.access(folder, os.W_OK) else "offline"


class NullPrinter:
    """No printer at this kiosk: tickets are shown on screen only."""

    def __init__(self, width: int = DEFAULT_WIDTH) -> None:
        """Keep a width so callers can render the same way everywhere."""
        self.width = width

    def print_image(self, img: Image.Image) -> None:
        """Discard the ticket."""
        log.debug("no printer configured: ticket image %dx%d discarded", img.width, img.height)

    def status(self) -> str:
        """Nothing to ask: always "unknown"."""
        return "unknown"


# ---------------------------------------------------------------- factory

_BACKEND_KEYS: dict[str, tuple[set[str], set[str]]] = {
    # backend: (required keys, optional keys)
    "network": (
        {"host"},
        {"port", "timeout", "profile", "width", "drain_timeout", "status_timeout"},
    ),
    "usb": ({"vendor_id", "product_id"}, {"profile", "width", "timeout_ms", "in_ep", "out_ep"}),
    "serial": ({"devfile"}, {"baudrate", "profile", "width", "timeout"}),
    "file": ({"folder"}, {"profile", "width"}),
    "none": (set(), {"width"}),
}

_INT_KEYS = {
    "port", "width", "timeout_ms", "baudrate", "vendor_id", "product_id", "in_ep", "out_ep",
}
_FLOAT_KEYS = {"timeout", "drain_timeout", "status_timeout"}


def _coerce(backend: str, key: str, value: Any) -> Any:
    """Check one config value's type; USB ids and endpoints may be written "0x04b8"."""
    where = f"printer config ({backend}) key {key!r}"
    if key in _INT_KEYS:
        if isinstance(value, str):
            try:
                value = int(value, 0)
            except ValueError:
                raise ValueError(f"{where}: {value!r} is not an integer") from None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{where}: expected a positive integer, got {value!r}")
        if key == "port" and value > 65535:
            raise ValueError(f"{where}: {value} is not a TCP port")
        if key == "width" and value % 8:
            raise ValueError(f"{where}: {value} dots is not a multiple of 8")
        return value
    if key in _FLOAT_KEYS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{where}: expected a positive number of seconds, got {value!r}")
        return float(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    if key == "profile":
        profile_width(value)  # raises ValueError naming the known profiles
    return value


def make_printer(cfg: Mapping[str, Any]) -> TicketPrinter:
    """Build the printer backend named by cfg["backend"]: network, usb, serial, file or none."""
    backend = cfg.get("backend")
    if backend not in _BACKEND_KEYS:
        raise ValueError(
            f"printer config key 'backend' is {backend!r}: "
            f"expected one of {', '.join(_BACKEND_KEYS)}"
        )
    required, optional = _BACKEND_KEYS[backend]
    given = set(cfg) - {"backend"}
    missing = required - given
    if missing:
        raise ValueError(f"printer config ({backend}) is missing {', '.join(sorted(missing))}")
    unknown = given - required - optional
    if unknown:
        raise ValueError(
            f"printer config ({backend}) has unknown key(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(required | optional))}"
        )
    kw = {key: _coerce(backend, key, cfg[key]) for key in given}
    printer: TicketPrinter
    if backend == "network":
        printer = NetworkPrinter(**kw)
    elif backend == "usb":
        printer = UsbPrinter(**kw)
    elif backend == "serial":
        printer = SerialPrinter(**kw)
    elif backend == "file":
        printer = FilePrinter(**kw)
    else:
        printer = NullPrinter(**kw)
    log.info("printer backend: %r", printer)
    return printer
