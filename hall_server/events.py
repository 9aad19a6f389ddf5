"""Socket.IO event names and payload shapes: the one place both server and Python clients import.

Client-to-server names are imperative (`join`); server-to-client names are nouns or past tense.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

NAMESPACE = "/"

# client -> server
JOIN = "join"
REPORT_STATUS = "report_status"
PRINT_RESULT = "print_result"          # print agent -> server: {job_id, status, detail}
FETCH_PRINT_JOBS = "fetch_print_jobs"  # print agent -> server after join: resend my pending jobs

# server -> client
SNAPSHOT = "snapshot"
TICKET_CALLED = "ticket_called"
TICKET_ISSUED = "ticket_issued"
QUEUE_CHANGED = "queue_changed"
TICKET_STATUS = "ticket_status"
WINDOW_CHANGED = "window_changed"
BOARD_MESSAGE = "board_message"
PRINT_TICKET = "print_ticket"
DEVICE_STATUS = "device_status"
PRINT_STATUS = "print_status"          # to the hall: {number, device, status, detail} of a print job

ROLES = ("board", "counter", "supervisor", "ticket", "announcer", "printer", "kiosk")


@dataclass(frozen=True)
class Emit:
    """One push to send after commit: event name, payload and room."""

    event: str
    payload: dict[str, Any]
    room: str


def hall_room(hall: str) -> str:
    """Everyone following a hall: boards, counters, supervisors, kiosks, phones."""
    return f"hall:{hall}"


def ticket_room(token: str) -> str:
    """The phone page of one ticket."""
    return f"ticket:{token}"


def printer_room(hall: str, device: str) -> str:
    """The print agent of one kiosk."""
    return f"printer:{hall}:{device}"


def call_payload(hall: str, call_id: int, number: str, window: int, service: str, recall: bool,
                 at: datetime) -> dict[str, Any]:
    """The body of `ticket_called`, also used for the board's list of last calls."""
    return {"call_id": call_id, "number": number, "window": window, "service": service,
            "recall": recall, "at": at.isoformat(),
            "audio_url": f"/api/v1/halls/{hall}/calls/{call_id}.wav"}
