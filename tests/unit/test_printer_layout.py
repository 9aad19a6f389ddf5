"""Ticket layout: 1-bit image at the printer's width, readable QR, big number, both digit styles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageOps
from pyzbar import pyzbar

from printer.fonts import FontNotFoundError, font_path, pick_font
from printer.layout import TicketPrint, expected_wait_text, people_ahead_text, render_ticket, render_ticket_png

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "printer"
TOKEN = "Zx9kQ2mP7vLr4TbW8nYc3HdF"
TRACK_URL = f"http://127.0.0.1:8080/t/{TOKEN}"


@pytest.fixture(scope="module")
def ticket() -> TicketPrint:
    """An Arabic-service ticket like the Kafr Saqr kiosk issues."""
    assert len(TOKEN) == 24
    return TicketPrint(
        hall_name_ar="المركز التكنولوجي بكفر صقر",
        hall_name_en="Kafr Saqr Technology Center",
        service_name_ar="طلب ترخيص أعمال بناء",
        service_name_en="Building works permit application",
        number="A-023",
        people_ahead=7,
        eta_minutes=15,
        issued_at=datetime(2025, 11, 23, 10, 5, tzinfo=ZoneInfo("Africa/Cairo")),
        track_url=TRACK_URL,
        file_number="2025/01234",
    )


def _save(img: Image.Image, name: str) -> Path:
    """Keep the picture for a person to look at (test-artifacts/ is git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    img.save(path)
    return path


def _decode_qr(img: Image.Image) -> list[pyzbar.Decoded]:
    """Read QR codes off the ticket the way a scanner sees paper: grayscale with a white margin."""
    gray = ImageOps.expand(img.convert("L"), border=40, fill=255)
    return [d for d in pyzbar.decode(gray) if d.type == "QRCODE"]


def _ink_runs(img: Image.Image) -> list[tuple[int, int]]:
    """Bands of consecutive rows that hold black dots, as (first row, end row)."""
    gray = img.convert("L")
    w = gray.width
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for y in range(gray.height):
        inked = gray.crop((0, y, w, y + 1)).getextrema()[0] == 0
        if inked and start is None:
            start = y
        elif not inked and start is not None:
            runs.append((start, y))
            start = None
    if start is not None:
        runs.append((start, gray.height))
    return runs


@pytest.mark.parametrize("width", [384, 576])
def test_ticket_image_is_one_bit_at_printer_width(ticket: TicketPrint, width: int) -> None:
    """The image is 1-bit, exactly as wide as the print head, and not absurdly long."""
    img = render_ticket(ticket, width=width)
    _save(img, f"ticket-ar-{width}.png")
    assert img.mode == "1"
    assert img.width == width
    assert width < img.height < 3 * width


@pytest.mark.parametrize("width", [384, 576])
def test_qr_decodes_to_track_url(ticket: TicketPrint, width: int) -> None:
    """A scanner reads the tracking link back exactly."""
    img = render_ticket(ticket, width=width)
    found = _decode_qr(img)
    assert [d.data.decode() for d in found] == [TRACK_URL]
    qr_w = found[0].rect.width
    assert 0.45 * width <= qr_w <= 0.62 * width, "QR should take about half the paper width"


@pytest.mark.parametrize("width", [384, 576])
def test_ticket_number_is_big_and_black(ticket: TicketPrint, width: int) -> None:
    """Above the QR, a band about a third of the width tall is mostly the number's ink."""
    img = render_ticket(ticket, width=width)
    qr_top = _decode_qr(img)[0].rect.top - 40  # undo the margin added for decoding
    tall = [(a, b) for a, b in _ink_runs(img) if b - a >= width // 4 and b <= qr_top]
    assert len(tall) == 1, f"expected one tall band (the number) above the QR, got {tall}"
    top, bottom = tall[0]
    assert bottom - top >= 0.28 * width
    band = img.convert("L").crop((0, top, width, bottom))
    black = band.histogram()[0]
    assert black >= 0.30 * band.width * band.height, "the number should be heavy, bold ink"


def test_eastern_digits_render_differently_and_keep_qr(ticket: TicketPrint) -> None:
    """Eastern digits change the printed digits, never the QR payload."""
    western = render_ticket(ticket, width=576, digits="western")
    eastern = render_ticket(ticket, width=576, digits="eastern")
    _save(eastern, "ticket-ar-576-eastern.png")
    assert eastern.mode == "1" and eastern.width == 576
    assert western.tobytes() != eastern.tobytes()
    assert [d.data.decode() for d in _decode_qr(eastern)] == [TRACK_URL]


def test_english_ticket_with_priority_and_long_service(ticket: TicketPrint) -> None:
    """English wording, a priority band and a service name long enough to wrap still fit."""
    long = replace(
        ticket,
        service_name_ar="التصالح على مخالفات البناء وتقنين أوضاعها واستخراج شهادة بالموقف",
        service_name_en="Reconciliation of building violations and regularisation of status",
        priority_label_ar="أولوية: كبار السن",
        priority_label_en="Priority: senior citizen",
        people_ahead=0,
        eta_minutes=None,
    )
    for lang in ("ar", "en"):
        for width in (384, 576):
            img = render_ticket(long, width=width, lang=lang)
            _save(img, f"ticket-long-{lang}-{width}.png")
            assert img.mode == "1" and img.width == width and img.height < 3 * width
            assert [d.data.decode() for d in _decode_qr(img)] == [TRACK_URL]


def test_png_helper_writes_the_same_image(ticket: TicketPrint, tmp_path: Path) -> None:
    """render_ticket_png saves exactly what render_ticket returns."""
    path = render_ticket_png(ticket, tmp_path / "sub" / "t.png", width=512, lang="en")
    with Image.open(path) as saved:
        assert saved.size[0] == 512
        assert saved.convert("1").tobytes() == render_ticket(ticket, width=512, lang="en").tobytes()


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "لا أحد أمامك، أنت التالي"),
        (1, "أمامك شخص واحد"),
        (2, "أمامك شخصان"),
        (3, "أمامك 3 أشخاص"),
        (10, "أمامك 10 أشخاص"),
        (11, "أمامك 11 شخصًا"),
        (99, "أمامك 99 شخصًا"),
        (100, "أمامك 100 شخص"),
        (103, "أمامك 103 أشخاص"),
    ],
)
def test_people_ahead_follows_arabic_number_grammar(n: int, text: str) -> None:
    """The counted noun agrees with the number the way Arabic requires."""
    assert people_ahead_text(n, "ar") == text


def test_wait_wording() -> None:
    """Expected wait reads naturally in both languages."""
    assert expected_wait_text(15, "ar") == "الانتظار المتوقع حوالي 15 دقيقة"
    assert expected_wait_text(5, "ar") == "الانتظار المتوقع حوالي 5 دقائق"
    assert expected_wait_text(2, "ar") == "الانتظار المتوقع حوالي دقيقتان"
    assert expected_wait_text(1, "en") == "Expected wait: about 1 minute"
    assert expected_wait_text(15, "en") == "Expected wait: about 15 minutes"
    assert people_ahead_text(1, "en") == "1 person ahead of you"


def test_bad_arguments_are_refused(ticket: TicketPrint) -> None:
    """Wrong language, digits, width or a naive time fail loudly instead of printing nonsense."""
    with pytest.raises(ValueError, match="lang"):
        render_ticket(ticket, lang="fr")
    with pytest.raises(ValueError, match="digits"):
        render_ticket(ticket, digits="roman")
    with pytest.raises(ValueError, match="multiple of 8"):
        render_ticket(ticket, width=500)
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(ticket, issued_at=datetime(2025, 1, 1, 9, 0))
    with pytest.raises(ValueError, match="people_ahead"):
        replace(ticket, people_ahead=-1)
    assert replace(ticket, issued_at=datetime(2025, 1, 1, tzinfo=UTC)).number == "A-023"


def test_missing_font_names_the_debian_package(tmp_path: Path) -> None:
    """A kiosk without the Arabic font gets told which package to install."""
    with pytest.raises(FontNotFoundError, match="fonts-hosny-amiri"):
        font_path("amiri-bold", dirs=[tmp_path])


def test_font_choice_by_coverage() -> None:
    """Noto Naskh lacks Latin and "-": a line needing them falls through to a font having them."""
    assert pick_font("طلب ترخيص", ["naskh-bold", "amiri-bold"]) == "naskh-bold"
    assert pick_font("رقم الملف: A-12", ["naskh-bold", "amiri-bold"]) == "amiri-bold"
    assert pick_font("A-023", ["dejavu-condensed-bold"]) == "dejavu-condensed-bold"
