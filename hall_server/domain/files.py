"""Request files: the national ID, working-day deadlines, and the status flow of a file."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from hall_server.domain.errors import InvalidInput, InvalidTransition

# Governorate codes of the Egyptian national ID (digits 8-9).
GOVERNORATES = {
    "01": ("القاهرة", "Cairo"), "02": ("الإسكندرية", "Alexandria"), "03": ("بورسعيد", "Port Said"),
    "04": ("السويس", "Suez"), "11": ("دمياط", "Damietta"), "12": ("الدقهلية", "Dakahlia"),
    "13": ("الشرقية", "Sharqia"), "14": ("القليوبية", "Qalyubia"), "15": ("كفر الشيخ", "Kafr El Sheikh"),
    "16": ("الغربية", "Gharbia"), "17": ("المنوفية", "Monufia"), "18": ("البحيرة", "Beheira"),
    "19": ("الإسماعيلية", "Ismailia"), "21": ("الجيزة", "Giza"), "22": ("بني سويف", "Beni Suef"),
    "23": ("الفيوم", "Fayoum"), "24": ("المنيا", "Minya"), "25": ("أسيوط", "Assiut"),
    "26": ("سوهاج", "Sohag"), "27": ("قنا", "Qena"), "28": ("أسوان", "Aswan"), "29": ("الأقصر", "Luxor"),
    "31": ("البحر الأحمر", "Red Sea"), "32": ("الوادي الجديد", "New Valley"), "33": ("مطروح", "Matrouh"),
    "34": ("شمال سيناء", "North Sinai"), "35": ("جنوب سيناء", "South Sinai"), "88": ("خارج الجمهورية", "Born abroad"),
}
_CENTURY = {"2": 1900, "3": 2000}
MASK = "*"  # hides a digit; a dot would read as the Eastern zero «٠»
_DIGITS14 = re.compile(r"^\d{14}$")
_EASTERN = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


@dataclass(frozen=True)
class NationalId:
    """A checked Egyptian national ID and what its digits say."""

    value: str
    birth_date: date
    governorate_code: str
    sex: str  # "male" | "female" (odd serial = male)

    @property
    def masked(self) -> str:
        """Only the last four digits show: what staff who do not need more see."""
        return MASK * 10 + self.value[-4:]


def normalize_digits(text: str) -> str:
    """Eastern Arabic and Persian digits to ASCII, spaces and dashes removed."""
    return re.sub(r"[\s\-]", "", text.translate(_EASTERN))


def parse_national_id(text: str, today: date) -> NationalId:
    """Validate a 14-digit national ID: century digit, birth date, governorate code.

    The check digit's algorithm is not published, so it is not verified.
    """
    value = normalize_digits(text)
    if not _DIGITS14.match(value):
        raise InvalidInput("the national ID has 14 digits", "invalid_national_id_length")
    century = _CENTURY.get(value[0])
    if century is None:
        raise InvalidInput("the national ID starts with 2 (born 1900-1999) or 3 (born 2000-2099)",
                           "invalid_national_id_century")
    try:
        born = date(century + int(value[1:3]), int(value[3:5]), int(value[5:7]))
    except ValueError:
        raise InvalidInput("the national ID's birth date (digits 2-7) is not a real date",
                           "invalid_national_id_date") from None
    if born > today:
        raise InvalidInput("the national ID's birth date is in the future", "invalid_national_id_date")
    gov = value[7:9]
    if gov not in GOVERNORATES:
        raise InvalidInput("the national ID's governorate code (digits 8-9) is unknown",
                           "invalid_national_id_governorate")
    return NationalId(value, born, gov, "male" if int(value[12]) % 2 else "female")


def parse_mobile(text: str) -> str:
    """An Egyptian mobile number 01XXXXXXXXX (11 digits), also given as +20 / 0020."""
    value = normalize_digits(text).lstrip("+")
    if value.startswith("0020"):
        value = "0" + value[4:]
    elif value.startswith("20") and len(value) == 12:
        value = "0" + value[2:]
    if not re.match(r"^01[0125]\d{8}$", value):
        raise InvalidInput("a mobile number is 11 digits starting 010, 011, 012 or 015", "invalid_mobile")
    return value


WEEKEND = (4, 5)  # Friday and Saturday (Monday is 0)


def add_working_days(start: date, days: int, holidays: Iterable[date] = (),
                     weekend: tuple[int, ...] = WEEKEND) -> date:
    """The date `days` working days after `start` (the day of receipt does not count)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    off = set(holidays)
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() not in weekend and current not in off:
            left -= 1
    return current


def working_days_between(start: date, end: date, holidays: Iterable[date] = (),
                         weekend: tuple[int, ...] = WEEKEND) -> int:
    """Working days after `start` up to and including `end` (negative if end is earlier)."""
    if end < start:
        return -working_days_between(end, start, holidays, weekend)
    off = set(holidays)
    return sum(1 for i in range(1, (end - start).days + 1)
               if (start + timedelta(days=i)).weekday() not in weekend and start + timedelta(days=i) not in off)


# ----- the status flow ------------------------------------------------------------------------
RECEIVED, UNDER_REVIEW, NEEDS_DOCUMENTS, READY, DELIVERED, REJECTED = (
    "received", "under_review", "needs_documents", "ready", "delivered", "rejected")
FILE_STATUSES = (RECEIVED, UNDER_REVIEW, NEEDS_DOCUMENTS, READY, DELIVERED, REJECTED)
OPEN_STATUSES = (RECEIVED, UNDER_REVIEW, NEEDS_DOCUMENTS, READY)
_FLOW = {
    RECEIVED: (UNDER_REVIEW, NEEDS_DOCUMENTS, REJECTED),
    UNDER_REVIEW: (NEEDS_DOCUMENTS, READY, REJECTED),
    NEEDS_DOCUMENTS: (UNDER_REVIEW, REJECTED),
    READY: (DELIVERED,),
    DELIVERED: (),
    REJECTED: (),
}


def file_transition(current: str, target: str, reason: str | None = None) -> str:
    """Check a status change of a request file; rejection needs a reason."""
    if target not in FILE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(FILE_STATUSES)}", "invalid_status")
    if target not in _FLOW[current]:
        allowed = ", ".join(_FLOW[current]) or "nothing (the file is closed)"
        raise InvalidTransition(f"a file that is {current} can go to: {allowed}")
    if target in (REJECTED, NEEDS_DOCUMENTS) and not (reason or "").strip():
        raise InvalidInput(f"{target.replace('_', ' ')} needs a reason the citizen can read", "reason_required")
    return target


# What a returning citizen with a file number queues for.
def returning_service(status: str) -> str:
    """The catalog service a citizen coming back for this file needs."""
    if status == NEEDS_DOCUMENTS:
        return "file_documents"
    if status == READY:
        return "file_collect"
    return "file_status_inquiry"


def format_file_number(year: int, seq: int) -> str:
    """Request file numbers: year, dash, six digits (unique per hall and year)."""
    return f"{year}-{seq:06d}"


def parse_file_number(text: str) -> tuple[int, int] | None:
    """("2026-000123" or "2026/123") -> (2026, 123); None if it is not a file number."""
    m = re.match(r"^\s*(\d{4})\s*[-/]\s*(\d{1,6})\s*$", (text or "").translate(_EASTERN))
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))
