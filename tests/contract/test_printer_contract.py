"""The ticket printer port (printer.backends.TicketPrinter): every backend that runs here, one contract.

Each backend is built by make_printer from its config, as the server and the print agent build it,
and printed to a real target: a folder (file), a TCP printer peer on loopback (network), nothing
(none). A printed ticket is the exact ESC/POS job of escpos_bytes(): ESC @, GS v 0 raster of the
whole image at the printer's dot width, then a cut; a ticket that cannot print raises PrinterError
with its kind (offline, paper_out, error), never another exception.
USB and serial need a device (and pyusb/pyserial) and are not run here.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from printer.backends import (
    ERROR_KINDS,
    STATUSES,
    FilePrinter,
    NetworkPrinter,
    NullPrinter,
    PrinterError,
    TicketPrinter,
    escpos_bytes,
    make_printer,
    profile_width,
)
from printer.layout import TicketPrint, render_ticket
from tests.print_support import PrinterPeer, job_image, qr_texts, reserve_port

NARROW = "TM-T88V"  # a profile that prints 512 dots (with a cutter)
TICKET = TicketPrint(
    hall_name_ar="المركز التكنولوجي بكفر صقر", hall_name_en="Kafr Saqr Technology Center",
    service_name_ar="طلب ترخيص أعمال بناء", service_name_en="Building works permit application",
    number="A-023", people_ahead=3, eta_minutes=9,
    issued_at=datetime(2026, 11, 22, 9, 5, tzinfo=ZoneInfo("Africa/Cairo")),
    track_url="http://127.0.0.1:8080/t/Zx9kQ2mP7vLr4TbW8nYc3HdF",
)


@dataclass
class Target:
    """A backend wired to a real target: its config, what reached the target, and a broken twin."""

    config: dict[str, Any]  # make_printer's config for this target (the printer is built from it)
    jobs: Callable[[], list[bytes]] | None  # the jobs that arrived, in order (None: nothing to observe)
    broken: Callable[[], TicketPrinter] | None = None  # the same backend with its target gone
    broken_kinds: tuple[str, ...] = ()  # the PrinterError kinds its failure may have

    def __post_init__(self) -> None:
        self.printer: TicketPrinter = make_printer(self.config)

    @property
    def profile(self) -> str:
        return getattr(self.printer, "profile", "default")


def _file(tmp_path: Path) -> Iterator[Target]:
    folder = tmp_path / "tickets"

    def jobs() -> list[bytes]:
        return [p.read_bytes() for p in sorted(folder.glob("*.bin"), key=lambda p: p.stat().st_mtime_ns)]

    def broken() -> TicketPrinter:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the folder should be")
        return make_printer({"backend": "file", "folder": str(blocker / "tickets")})

    yield Target({"backend": "file", "folder": str(folder)}, jobs, broken, ("error",))


def _network(tmp_path: Path) -> Iterator[Target]:
    peer = PrinterPeer()

    def jobs() -> list[bytes]:
        return list(peer.jobs)

    def broken() -> TicketPrinter:
        return make_printer({"backend": "network", "host": "127.0.0.1", "port": reserve_port(), "timeout": 2})

    try:
        yield Target({"backend": "network", "host": "127.0.0.1", "port": peer.port, "timeout": 3}, jobs, broken,
                     ("offline",))
    finally:
        peer.close()


def _none(tmp_path: Path) -> Iterator[Target]:
    yield Target({"backend": "none"}, None)


BACKENDS = {"file": (_file, FilePrinter), "network": (_network, NetworkPrinter), "none": (_none, NullPrinter)}


@pytest.fixture(params=sorted(BACKENDS))
def target(request, tmp_path) -> Iterator[Target]:
    make, _ = BACKENDS[request.param]
    yield from make(tmp_path)


@pytest.fixture(scope="module")
def images() -> dict[int, Image.Image]:
    """The ticket rendered once per dot width (rendering shapes Arabic and draws the QR)."""
    return {w: render_ticket(TICKET, width=w) for w in (384, 512, 576)}


def _wait_jobs(target: Target, n: int) -> list[bytes]:
    assert target.jobs is not None
    if isinstance(target.printer, NetworkPrinter):
        # The peer stores a job when the connection ends, a moment after print_image returns.
        deadline = time.monotonic() + 10
        while len(target.jobs()) < n and time.monotonic() < deadline:
            time.sleep(0.02)
    return target.jobs()


def test_the_factory_builds_the_backend_the_config_names(request, target):
    """make_printer picks the backend by config["backend"], as the server and the print agent do."""
    backend = request.node.callspec.params["target"]
    assert isinstance(target.printer, BACKENDS[backend][1])
    assert isinstance(target.printer, TicketPrinter)
    assert isinstance(target.printer.width, int) and target.printer.width > 0 and target.printer.width % 8 == 0
    assert target.printer.status() in STATUSES


def test_a_rendered_ticket_becomes_one_esc_pos_raster_job_with_a_cut(target, images):
    img = images[target.printer.width]
    assert target.printer.print_image(img) is None
    if target.jobs is None:
        return  # the none backend discards the ticket: nothing may be raised, nothing to observe
    jobs = _wait_jobs(target, 1)
    assert len(jobs) == 1
    assert jobs[0] == escpos_bytes(img, target.profile), "the target gets exactly the ESC/POS job"
    printed = job_image(jobs[0])  # ESC @ first, GS v 0 blocks, a cut at the end (asserted inside)
    assert printed.size == img.size, "the raster covers the whole ticket at the printer's dot width"
    assert printed.convert("1").tobytes() == img.convert("1").tobytes()
    assert qr_texts(printed) == [TICKET.track_url], "the printed QR opens the ticket's page"


def test_each_ticket_is_its_own_complete_job_in_order(target, images):
    img = images[target.printer.width]
    other = render_ticket(TicketPrint(**{**TICKET.__dict__, "number": "A-024"}), width=target.printer.width)
    target.printer.print_image(img)
    target.printer.print_image(other)
    if target.jobs is None:
        return
    jobs = _wait_jobs(target, 2)
    assert jobs == [escpos_bytes(img, target.profile), escpos_bytes(other, target.profile)]


@pytest.mark.parametrize("width", [None, 384])
def test_the_width_to_render_at_is_one_the_profile_prints(request, target, images, width):
    """`width` is the dot width to render at: with a 512-dot profile it is at most 512, and it prints."""
    if isinstance(target.printer, NullPrinter):
        pytest.skip("the none backend has no profile")
    cfg = {**target.config, "profile": NARROW, **({"width": width} if width else {})}
    printer = make_printer(cfg)
    assert printer.width <= profile_width(NARROW)
    printer.print_image(images[printer.width])


def test_an_image_wider_than_the_profile_is_refused_as_an_error(target, images):
    """A 576-dot ticket on a 512-dot printer would be clipped: refused before anything is sent."""
    if isinstance(target.printer, NullPrinter):
        pytest.skip("the none backend discards every image, whatever its width")
    printer = make_printer({**target.config, "profile": NARROW, "width": 512})
    with pytest.raises(PrinterError) as err:
        printer.print_image(images[576])
    assert err.value.kind == "error" and "512" in err.value.message
    assert not target.jobs(), "nothing half-printed reaches the printer"


def test_a_missing_target_raises_printer_error_with_its_kind(target, images):
    if target.broken is None:
        pytest.skip("the none backend has no target that could be missing")
    printer = target.broken()
    with pytest.raises(PrinterError) as err:
        printer.print_image(images[printer.width])
    assert err.value.kind in ERROR_KINDS and err.value.kind in target.broken_kinds
    assert err.value.message
    assert printer.status() in STATUSES


def test_the_network_status_query_of_a_missing_printer_is_offline():
    """The one backend whose status asks the device: a printer that does not answer is offline."""
    printer = make_printer({"backend": "network", "host": "127.0.0.1", "port": reserve_port(), "timeout": 1})
    assert printer.status() == "offline"


def test_a_file_target_leaves_no_half_written_job(tmp_path, images):
    """The file backend writes aside and renames: a reader never sees a partial .bin or .png."""
    folder = tmp_path / "out"
    printer = make_printer({"backend": "file", "folder": str(folder)})
    printer.print_image(images[576])
    assert sorted(p.suffix for p in folder.iterdir()) == [".bin", ".png"]
