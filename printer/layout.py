"""Ticket layout: a ticket as a 1-bit image at the printer's dot width (Arabic shaped, RTL)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import qrcode
from PIL import Image, ImageDraw, features

from printer.fonts import get_font, pick_font

log = logging.getLogger(__name__)

#: Common thermal dot widths: 58 mm paper, Epson TM-T88 (180 dpi), 80 mm paper (203 dpi).
WIDTH_58MM = 384
WIDTH_TM_T88 = 512
WIDTH_80MM = 576

_EASTERN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
# Arabic letters and marks, not Arabic-Indic digits (digits alone do not need an Arabic font).
_ARABIC_RE = re.compile(
    "[\u0600-\u065f\u066a-\u06ef\u06fa-\u06ff\u0750-\u077f"
    "\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]"
)

# Font preference per kind of line: the first one covering every character of the line wins.
_ARABIC_FONTS = ("amiri-bold", "naskh-bold", "dejavu-bold")
_LATIN_FONTS = ("dejavu-bold", "amiri-bold")
_NUMBER_FONTS = ("dejavu-condensed-bold", "dejavu-bold", "amiri-bold")
_LATIN_SCALE = 0.8
# Shaping uses HarfBuzz's default features on purpose: Amiri puts lam-alef in "calt", so
# turning off its stacked ligatures ("-calt") would also break لا (checked by eye).

Direction = Literal["rtl", "ltr"]

# Cached FreeType faces are shared; FreeType wants one thread per face at a time.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class TicketPrint:
    """What a printed ticket shows: names in both languages, number, queue position, QR link."""

    hall_name_ar: str
    hall_name_en: str
    service_name_ar: str
    service_name_en: str
    number: str
    people_ahead: int
    eta_minutes: int | None
    issued_at: datetime
    track_url: str
    file_number: str | None = None
    priority_label_ar: str | None = None
    priority_label_en: str | None = None

    def __post_init__(self) -> None:
        """Reject values that would print a wrong or misleading ticket."""
        if not self.number.strip():
            raise ValueError("ticket number is empty")
        if not self.track_url.strip():
            raise ValueError("track_url is empty")
        if self.people_ahead < 0:
            raise ValueError(f"people_ahead must be >= 0, got {self.people_ahead}")
        if self.eta_minutes is not None and self.eta_minutes < 0:
            raise ValueError(f"eta_minutes must be >= 0 or None, got {self.eta_minutes}")
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            # A naive time prints the server's clock, not the hall's: insist on the hall's zone.
            raise ValueError("issued_at must be timezone-aware (the hall's local time)")


# ---------------------------------------------------------------- wording


def _ar_counted(n: int, one: str, two: str, plural: str, accusative: str, genitive: str) -> str:
    """Write n with its counted noun by Arabic grammar (1, 2, 3-10, 11-99, hundreds)."""
    if n == 1:
        return one
    if n == 2:
        return two
    rest = n % 100
    if 3 <= rest <= 10:
        return f"{n} {plural}"
    if 11 <= rest <= 99:
        return f"{n} {accusative}"
    return f"{n} {genitive}"


def people_ahead_text(n: int, lang: str) -> str:
    """Say how many people are ahead of the ticket."""
    if lang == "ar":
        if n == 0:
            return "لا أحد أمامك، أنت التالي"
        return "أمامك " + _ar_counted(n, "شخص واحد", "شخصان", "أشخاص", "شخصًا", "شخص")
    if n == 0:
        return "You are next"
    return f"{n} person ahead of you" if n == 1 else f"{n} people ahead of you"


def expected_wait_text(minutes: int, lang: str) -> str:
    """Say the expected wait in whole minutes."""
    if lang == "ar":
        if minutes == 0:
            return "الانتظار المتوقع أقل من دقيقة"
        words = _ar_counted(minutes, "دقيقة واحدة", "دقيقتان", "دقائق", "دقيقة", "دقيقة")
        return f"الانتظار المتوقع حوالي {words}"
    if minutes == 0:
        return "Expected wait: less than a minute"
    return f"Expected wait: about {minutes} minute{'' if minutes == 1 else 's'}"


_TEXTS = {
    "ar": {
        "number_label": "رقم التذكرة",
        "scan": "امسح الرمز لمتابعة دورك على هاتفك",
        "file": "رقم الملف: {}",
    },
    "en": {
        "number_label": "Ticket number",
        "scan": "Scan to follow your turn on your phone",
        "file": "File number: {}",
    },
}


# ---------------------------------------------------------------- drawing helpers


@dataclass
class _Block:
    """One horizontal strip of the ticket (grayscale, full width) and the space after it."""

    image: Image.Image
    gap_after: int


def _has_arabic_letters(text: str) -> bool:
    """Tell whether text contains Arabic letters (digits alone do not count)."""
    return _ARABIC_RE.search(text) is not None


def _direction_of(text: str, lang: str) -> Direction:
    """Base direction of a line: right-to-left on Arabic tickets and for any Arabic text."""
    return "rtl" if lang == "ar" or _has_arabic_letters(text) else "ltr"


def _language_of(direction: Direction) -> str:
    """Language tag passed to raqm (selects Arabic shaping rules)."""
    return "ar" if direction == "rtl" else "en"


def _wrap(text: str, key: str, size: int, width: int, direction: Direction) -> list[str]:
    """Greedy word wrap in logical order; a word wider than the line is cut by characters."""
    font = get_font(key, size)
    lang = _language_of(direction)

    def fits(s: str) -> bool:
        return font.getlength(s, direction=direction, language=lang) <= width

    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while not fits(current) and len(current) > 1:
            # Cut an over-long word (a URL, a code) at the longest prefix that fits.
            cut = len(current) - 1
            while cut > 1 and not fits(current[:cut]):
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    return lines or [""]


def _text_block(
    lines: Sequence[str],
    key: str,
    size: int,
    width: int,
    direction: Direction,
    gap_after: int,
    leading: float = 0.25,
    inverted: bool = False,
    pad: int = 0,
) -> _Block:
    """Draw centered lines, one pitch for all of them so wrapped lines sit evenly."""
    font = get_font(key, size)
    lang = _language_of(direction)
    boxes = [font.getbbox(ln, anchor="ls", direction=direction, language=lang) for ln in lines]
    top = min(b[1] for b in boxes)
    bottom = max(b[3] for b in boxes)
    line_h = bottom - top
    step = line_h + round(size * leading)
    height = step * (len(lines) - 1) + line_h + 2 * pad
    img = Image.new("L", (width, height), 0 if inverted else 255)
    draw = ImageDraw.Draw(img)
    for i, (ln, box) in enumerate(zip(lines, boxes)):
        ink_w = box[2] - box[0]
        x = (width - ink_w) / 2 - box[0]
        y = pad + i * step - top
        draw.text(
            (x, y), ln, font=font, fill=255 if inverted else 0, anchor="ls",
            direction=direction, language=lang,
        )
    return _Block(img, gap_after)


def _paragraph(
    text: str,
    lang: str,
    width: int,
    margin: int,
    max_size: int,
    min_size: int,
    max_lines: int,
    gap_after: int,
    inverted_pad: int | None = None,
) -> _Block:
    """Fit text in few lines: shrink a little rather than wrap, wrap rather than shrink a lot."""
    direction = _direction_of(text, lang)
    arabic = _has_arabic_letters(text)
    key = pick_font(text, _ARABIC_FONTS if arabic else _LATIN_FONTS)
    if not arabic:
        # DejaVu's letters are much larger on the em than Amiri's: match their visual size.
        max_size = max(8, round(max_size * _LATIN_SCALE))
        min_size = max(8, round(min_size * _LATIN_SCALE))
    avail = width - 2 * margin - 2 * (inverted_pad or 0)
    sizes = list(range(max_size, min_size - 1, -max(1, max_size // 16)))
    # Up to 20% smaller to save a line; beyond that wrapping keeps the text readable.
    gentle = [z for z in sizes if z >= max(min_size, max_size * 0.8)] or sizes[:1]
    chosen: tuple[int, list[str]] | None = None
    for n_lines in range(1, max_lines + 1):
        for size in gentle:
            lines = _wrap(text, key, size, avail, direction)
            if len(lines) <= n_lines:
                chosen = (size, lines)
                break
        if chosen:
            break
    if chosen is None:
        for size in sizes:
            lines = _wrap(text, key, size, avail, direction)
            chosen = (size, lines)
            if len(lines) <= max_lines:
                break
    assert chosen is not None
    size, lines = chosen
    if inverted_pad is None:
        return _text_block(lines, key, size, width, direction, gap_after)
    block = _text_block(
        lines, key, size, width - 2 * margin, direction, gap_after,
        inverted=True, pad=inverted_pad,
    )
    framed = Image.new("L", (width, block.image.height), 255)
    framed.paste(block.image, (margin, 0))
    return _Block(framed, gap_after)


def _number_block(number: str, width: int, margin: int, gap_after: int) -> _Block:
    """Draw the ticket number about a third of the paper width tall, condensed if need be."""
    key = pick_font(number, _NUMBER_FONTS)
    target_h = width // 3
    avail = width - 2 * margin
    min_squeeze = 0.72  # narrower than this and digits start to look alike from afar

    def ink(size: int) -> tuple[int, int, int, int]:
        return get_font(key, size).getbbox(number, anchor="ls", direction="ltr", language="en")

    size = target_h
    box = ink(size)
    size = max(8, round(size * target_h / max(1, box[3] - box[1])))
    box = ink(size)
    ink_w = box[2] - box[0]
    if ink_w * min_squeeze > avail:
        size = max(8, int(size * avail / (ink_w * min_squeeze)))
        box = ink(size)
        ink_w = box[2] - box[0]
    font = get_font(key, size)
    glyphs = Image.new("L", (ink_w, box[3] - box[1]), 255)
    ImageDraw.Draw(glyphs).text(
        (-box[0], -box[1]), number, font=font, fill=0, anchor="ls",
        direction="ltr", language="en",
    )
    if ink_w > avail:
        glyphs = glyphs.resize((avail, glyphs.height), Image.Resampling.LANCZOS)
    strip = Image.new("L", (width, glyphs.height), 255)
    strip.paste(glyphs, ((width - glyphs.width) // 2, 0))
    return _Block(strip, gap_after)


def _rule_block(width: int, margin: int, thickness: int, gap_after: int) -> _Block:
    """Draw a dashed separator line."""
    img = Image.new("L", (width, thickness), 255)
    draw = ImageDraw.Draw(img)
    dash, space = thickness * 4, thickness * 3
    x = margin
    while x < width - margin:
        draw.rectangle((x, 0, min(x + dash, width - margin) - 1, thickness - 1), fill=0)
        x += dash + space
    return _Block(img, gap_after)


def _qr_block(url: str, width: int, gap_after: int) -> tuple[_Block, int]:
    """Draw the tracking link as a QR code (level M) with whole-pixel square modules."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=0)
    qr.add_data(url)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    n = len(matrix)
    box = max(1, round(width * 0.55 / n))
    while box > 1 and n * box > width * 0.60:
        box -= 1
    if box < 3:
        log.warning("QR of a %d-char URL: %d modules of %d px is hard to scan", len(url), n, box)
    modules = Image.new("L", (n, n), 255)
    modules.putdata([0 if cell else 255 for row in matrix for cell in row])
    code = modules.resize((n * box, n * box), Image.Resampling.NEAREST)
    strip = Image.new("L", (width, code.height), 255)
    strip.paste(code, ((width - code.width) // 2, 0))
    # The standard wants four modules of white all round: the caller keeps that much space.
    return _Block(strip, max(gap_after, 4 * box)), 4 * box


# ---------------------------------------------------------------- public API


def render_ticket(
    t: TicketPrint,
    width: int = WIDTH_80MM,
    lang: str = "ar",
    digits: str = "western",
) -> Image.Image:
    """Render a ticket as a mode "1" image exactly `width` dots wide, ready for a raster print."""
    if lang not in _TEXTS:
        raise ValueError(f"lang must be 'ar' or 'en', got {lang!r}")
    if digits not in ("western", "eastern"):
        raise ValueError(f"digits must be 'western' or 'eastern', got {digits!r}")
    if width < 200 or width % 8:
        raise ValueError(f"width must be a multiple of 8 dots, at least 200; got {width}")
    if not features.check("raqm"):
        # Without raqm Arabic comes out as separate letters in the wrong order: refuse.
        raise RuntimeError("Pillow lacks libraqm: Arabic cannot be shaped; use Pillow's wheel")

    with _RENDER_LOCK:
        return _render(t, width, lang, digits)


def _render(t: TicketPrint, width: int, lang: str, digits: str) -> Image.Image:
    """Lay the ticket out block by block, then threshold it to 1 bit."""

    def num(s: str) -> str:
        return s.translate(_EASTERN) if digits == "eastern" else s

    texts = _TEXTS[lang]
    s = width / WIDTH_80MM  # every size below is designed at 576 dots and scaled
    # Text shrinks slower than the paper: small Arabic on 58 mm paper must stay legible.
    text_s = s**0.5
    margin = round(20 * s)
    gap = round(18 * s)
    rule = max(2, round(3 * s))

    def px(v: float) -> int:
        return max(8, round(v * text_s))

    def para(text: str, size: float, smallest: float, lines: int, after: int, **kw: int) -> _Block:
        return _paragraph(
            num(text), lang, width, margin, px(size), px(smallest), lines, after, **kw
        )

    ar = lang == "ar"
    hall = t.hall_name_ar if ar else t.hall_name_en
    service = t.service_name_ar if ar else t.service_name_en
    priority = t.priority_label_ar if ar else (t.priority_label_en or t.priority_label_ar)

    blocks: list[_Block] = [
        para(hall, 34, 26, 2, gap),
        _rule_block(width, margin, rule, gap),
        para(service, 46, 30, 3, round(gap * 1.5)),
        para(texts["number_label"], 28, 22, 1, round(gap * 0.6)),
        _number_block(num(t.number), width, margin, round(gap * 1.2)),
    ]
    if priority:
        blocks.append(para(priority, 32, 24, 2, gap, inverted_pad=px(8)))
    blocks.append(_rule_block(width, margin, rule, gap))
    blocks.append(para(people_ahead_text(t.people_ahead, lang), 36, 26, 2, round(gap * 0.7)))
    if t.eta_minutes is not None:
        blocks.append(para(expected_wait_text(t.eta_minutes, lang), 36, 26, 2, round(gap * 0.7)))
    # Always "dd/mm/yyyy hh:mm" left to right, as clocks and forms in Egypt print it. Eastern
    # digits are bidi class AN, which would swap date and time: a left-to-right mark between
    # them keeps the order.
    day, clock = num(t.issued_at.strftime("%d/%m/%Y")), num(t.issued_at.strftime("%H:%M"))
    stamp = f"{day}\u200e {clock}"
    blocks.append(_paragraph(stamp, "en", width, margin, px(28), px(22), 1, gap))
    qr, quiet = _qr_block(t.track_url, width, gap)
    blocks[-1].gap_after = max(blocks[-1].gap_after, quiet)
    blocks.append(qr)
    blocks.append(para(texts["scan"], 28, 22, 2, gap))
    if t.file_number:
        blocks.append(para(texts["file"].format(t.file_number), 30, 22, 2, gap))
    blocks[-1].gap_after = round(gap * 1.5)

    top = round(gap * 0.8)
    height = top + sum(b.image.height + b.gap_after for b in blocks)
    canvas = Image.new("L", (width, height), 255)
    y = top
    for b in blocks:
        canvas.paste(b.image, (0, y))
        y += b.image.height + b.gap_after
    # Hard threshold, no dithering: anti-aliased edges become clean black or white dots.
    mono = canvas.point(lambda v: 255 if v > 128 else 0).convert("1", dither=Image.Dither.NONE)
    log.debug("rendered ticket %s: %dx%d lang=%s digits=%s", t.number, width, height, lang, digits)
    return mono


def render_ticket_png(t: TicketPrint, path: str | Path, **kw: object) -> Path:
    """Render a ticket and save it as a PNG (for the file backend, previews and tests)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    render_ticket(t, **kw).save(out, format="PNG")  # type: ignore[arg-type]
    return out
