"""Ticket printing: layout (ticket -> 1-bit image) and ESC/POS printer backends."""

from printer.backends import (
    FilePrinter,
    NetworkPrinter,
    NullPrinter,
    PrinterError,
    SerialPrinter,
    TicketPrinter,
    UsbPrinter,
    escpos_bytes,
    make_printer,
)
from printer.layout import TicketPrint, render_ticket, render_ticket_png

__all__ = [
    "FilePrinter",
    "NetworkPrinter",
    "NullPrinter",
    "PrinterError",
    "SerialPrinter",
    "TicketPrint",
    "TicketPrinter",
    "UsbPrinter",
    "escpos_bytes",
    "make_printer",
    "render_ticket",
    "render_ticket_png",
]
