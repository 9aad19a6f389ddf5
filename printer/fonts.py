"""Font registry for ticket rendering: finds Debian font files and checks glyph coverage."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

log = logging.getLogger(__name__)

#: Where Debian (and a user or admin) put font files; searched in this order.
DEFAULT_FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
)


@dataclass(frozen=True)
class FontSpec:
    """A font known to the registry: its file names and the Debian package that ships it."""

    key: str
    filenames: tuple[str, ...]
    package: str


#: Fonts the ticket may use. Amiri covers Arabic, Latin, digits (both kinds) and punctuation;
#: DejaVu Sans covers Latin, digits and Eastern Arabic digits; Noto Naskh lacks Latin, "-" and "/".
FONTS: dict[str, FontSpec] = {
    spec.key: spec
    for spec in (
        FontSpec("amiri", ("Amiri-Regular.ttf",), "fonts-hosny-amiri"),
        FontSpec("amiri-bold", ("Amiri-Bold.ttf",), "fonts-hosny-amiri"),
        FontSpec("naskh", ("NotoNaskhArabic-Regular.ttf",), "fonts-noto-core"),
        FontSpec("naskh-bold", ("NotoNaskhArabic-Bold.ttf",), "fonts-noto-core"),
        FontSpec("dejavu", ("DejaVuSans.ttf",), "fonts-dejavu-core"),
        FontSpec("dejavu-bold", ("DejaVuSans-Bold.ttf",), "fonts-dejavu-core"),
        FontSpec(
            "dejavu-condensed-bold", ("DejaVuSansCondensed-Bold.ttf",), "fonts-dejavu-core"
        ),
    )
}

# A code point no font maps: rendering it shows the font's .notdef glyph ("tofu").
_NOT_A_CHAR = "\U0010fffd"


class FontNotFoundError(RuntimeError):
    """A font file the ticket needs is not installed; the message names the Debian package."""


@functools.lru_cache(maxsize=8)
def _index(dirs: tuple[Path, ...]) -> dict[str, Path]:
    """Map font file name to its first path under the given folders (walked once per set)."""
    found: dict[str, Path] = {}
    for root in dirs:
        if not root.is_dir():
            continue
        for folder, _subdirs, files in os.walk(root, followlinks=True):
            for name in files:
                if name.lower().endswith((".ttf", ".otf", ".ttc")):
                    found.setdefault(name, Path(folder) / name)
    log.debug("font index: %d files under %s", len(found), [str(d) for d in dirs])
    return found


def font_path(key: str, dirs: Sequence[Path] | None = None) -> Path:
    """Return the file of a registered font, or raise FontNotFoundError naming the package."""
    try:
        spec = FONTS[key]
    except KeyError:
        raise ValueError(f"unknown font key {key!r}; known: {', '.join(sorted(FONTS))}") from None
    search = tuple(Path(d) for d in (dirs or DEFAULT_FONT_DIRS))
    index = _index(search)
    for filename in spec.filenames:
        if filename in index:
            return index[filename]
    raise FontNotFoundError(
        f"font {spec.filenames[0]} ({key}) not found under "
        f"{', '.join(str(d) for d in search)}: install the Debian package "
        f"{spec.package} (apt-get install {spec.package})"
    )


@functools.lru_cache(maxsize=64)
def get_font(key: str, size: int) -> ImageFont.FreeTypeFont:
    """Load a registered font at a pixel size with raqm layout (cached; one thread at a time)."""
    return ImageFont.truetype(
        str(font_path(key)), size=size, layout_engine=ImageFont.Layout.RAQM
    )


@functools.lru_cache(maxsize=16)
def _probe_font(key: str) -> tuple[ImageFont.FreeTypeFont, tuple[object, bytes]]:
    """Load a small basic-layout copy of a font and its .notdef rendering, for coverage checks."""
    probe = ImageFont.truetype(str(font_path(key)), size=24, layout_engine=ImageFont.Layout.BASIC)
    mask = probe.getmask(_NOT_A_CHAR)
    return probe, (mask.getbbox(), bytes(mask))


@functools.lru_cache(maxsize=4096)
def has_glyph(key: str, char: str) -> bool:
    """Tell whether a font draws a real glyph for one character (not its .notdef box)."""
    if char.isspace() or not char.isprintable():
        # Spaces and format marks draw nothing in any font: nothing to compare.
        return True
    probe, notdef = _probe_font(key)
    mask = probe.getmask(char)
    return (mask.getbbox(), bytes(mask)) != notdef


def covers(key: str, text: str) -> bool:
    """Tell whether a font has a glyph for every character of the text."""
    return all(has_glyph(key, ch) for ch in set(text))


def pick_font(text: str, preferred: Iterable[str]) -> str:
    """Return the first font key in preference order that covers every character of the text."""
    tried = list(preferred)
    not_installed: list[FontNotFoundError] = []
    for key in tried:
        try:
            if covers(key, text):
                return key
        except FontNotFoundError as exc:
            # A missing optional font must not stop the ticket when another one covers the text.
            not_installed.append(exc)
            _warn_once(str(exc))
    if len(not_installed) == len(tried) and not_installed:
        raise not_installed[0]
    missing = sorted({ch for ch in text if not any(_safe_has(k, ch) for k in tried)})
    raise FontNotFoundError(
        f"no installed font among {tried} covers {''.join(missing)!r} in {text!r}: "
        f"install fonts-hosny-amiri and fonts-dejavu-core"
    )


@functools.lru_cache(maxsize=32)
def _warn_once(message: str) -> None:
    """Log a missing-font warning once per process, not once per ticket."""
    log.warning("%s", message)


def _safe_has(key: str, char: str) -> bool:
    """has_glyph that treats a missing font file as not covering."""
    try:
        return has_glyph(key, char)
    except FontNotFoundError:
        return False
