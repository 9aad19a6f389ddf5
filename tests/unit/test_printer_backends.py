"""Printer backends without a device: config factory, status decoding, ESC/POS job shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from printer.backends import (
    FilePrinter,
    NetworkPrinter,
    NullPrinter,
    PrinterError,
    SerialPrinter,
    TicketPrinter,
    UsbPrinter,
    _decode_paper_status,
    escpos_bytes,
    make_printer,
    profile_width,
)


def test_make_printer_builds_each_backend(tmp_path: Path) -> None:
    """Every backend name gives its class, typed values coerced, width from the profile."""
    net = make_printer({"backend": "network", "host": "10.0.0.7", "port": 9100, "timeout": 3})
    assert isinstance(net, NetworkPrinter) and net.width == 512  # TM-T88V by default
    usb = make_printer({"backend": "usb", "vendor_id": "0x04b8", "product_id": "0x0e15"})
    assert isinstance(usb, UsbPrinter) and (usb.vendor_id, usb.product_id) == (0x04B8, 0x0E15)
    ser = make_printer({"backend": "serial", "devfile": "/dev/ttyS0", "profile": "POS-5890"})
    assert isinstance(ser, SerialPrinter) and ser.width == 384
    assert isinstance(make_printer({"backend": "file", "folder": str(tmp_path)}), FilePrinter)
    none = make_printer({"backend": "none"})
    assert isinstance(none, NullPrinter) and none.status() == "unknown"
    for p in (net, usb, ser, none):
        assert isinstance(p, TicketPrinter)


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({}, "'backend'"),
        ({"backend": "bluetooth"}, "'bluetooth'"),
        ({"backend": "network"}, "missing host"),
        ({"backend": "network", "host": "p", "hots": "x"}, "unknown key(s) hots"),
        ({"backend": "network", "host": "p", "port": 70000}, "'port'"),
        ({"backend": "network", "host": "p", "port": "ninety"}, "'port'"),
        ({"backend": "network", "host": "p", "profile": "TM-X"}, "'TM-X'"),
        ({"backend": "file", "folder": "/x", "width": 500}, "multiple of 8"),
        ({"backend": "usb", "vendor_id": 1}, "missing product_id"),
    ],
)
def test_make_printer_names_the_bad_key_or_value(cfg: dict, needle: str) -> None:
    """A config mistake is a ValueError saying which key or value is wrong."""
    with pytest.raises(ValueError) as err:
        make_printer(cfg)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("reply", "status"),
    [(b"", "online"), (b"\x12", "online"), (b"\x1e", "online"), (b"\x72", "paper_out"),
     (b"\x7e", "paper_out"), (b"\xff", "online")],
)
def test_paper_status_byte(reply: bytes, status: str) -> None:
    """DLE EOT 4 bits 5-6 mean paper end; a byte that is not a status byte is ignored."""
    assert _decode_paper_status(reply) == status


def test_escpos_job_shape_and_width_check(capsys: pytest.CaptureFixture[str]) -> None:
    """Init, GS v 0 with width in bytes, feed and cut; too wide for the profile is refused."""
    img = Image.new("1", (384, 16), 1)
    job = escpos_bytes(img, "default")  # a profile with no stated width
    header = b"\x1b@\x1dv0\x00" + (48).to_bytes(2, "little") + (16).to_bytes(2, "little")
    assert job.startswith(header)
    assert job.endswith(b"\x1dV\x00")
    assert capsys.readouterr().out == "", "python-escpos must not print to stdout"
    assert profile_width("TM-T20II") == 576 and profile_width("default") is None
    with pytest.raises(PrinterError) as err:
        escpos_bytes(Image.new("1", (576, 8), 1), "POS-5890")
    assert err.value.kind == "error"
    with pytest.raises(ValueError, match="PrinterError kind"):
        PrinterError("jammed", "x")  # type: ignore[arg-type]


def test_missing_usb_library_is_a_clear_printer_error() -> None:
    """Without pyusb the USB backend says what to install instead of crashing."""
    pytest.importorskip("escpos.printer.usb")
    from escpos.printer import usb as escpos_usb

    if escpos_usb.is_usable():
        pytest.skip("pyusb is installed here")
    with pytest.raises(PrinterError, match="pyusb") as err:
        UsbPrinter(0x04B8, 0x0E15).print_image(Image.new("1", (576, 8), 1))
    assert err.value.kind == "error"
