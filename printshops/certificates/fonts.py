"""The certificate's fonts, and what becomes of a character they cannot draw: names on a
certificate print as given where a font allows it, and never as an empty box."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

# The certificate's sans-serif: four faces (regular, bold, oblique, bold oblique, in this order)
# from the first directory that has all four.
# - DejaVu Sans (Debian's fonts-dejavu-core; `make chromium` and the Dockerfile install it) has
#   the Central-European letters (ź, ł, ő, č, ř, ș, ț), arrows and check marks Vera lacks: names
#   on a certificate must print as given.
# - Bitstream Vera ships inside the reportlab wheel, so it is there without any font installed;
#   unlike the built-in Helvetica it has the minus sign (U+2212) and the Latin, Greek and symbol
#   characters that part names and units use (Ø, ±, µ, °, €).
# Each font is registered under names of its own: reportlab keeps the first font registered
# under a name, so a Vera registered earlier in the process would otherwise stand in for DejaVu
# while `covers` promised DejaVu's glyphs.
_SANS = "PrintFairSans"
DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_CANDIDATES: tuple[tuple[Path, dict[str, str]], ...] = (
    (
        DEJAVU_DIR,
        {
            _SANS: "DejaVuSans.ttf",
            f"{_SANS}-Bold": "DejaVuSans-Bold.ttf",
            f"{_SANS}-Oblique": "DejaVuSans-Oblique.ttf",
            f"{_SANS}-BoldOblique": "DejaVuSans-BoldOblique.ttf",
        },
    ),
    (
        Path(reportlab.__file__).resolve().parent / "fonts",
        {
            f"{_SANS}Vera": "Vera.ttf",
            f"{_SANS}Vera-Bold": "VeraBd.ttf",
            f"{_SANS}Vera-Oblique": "VeraIt.ttf",
            f"{_SANS}Vera-BoldOblique": "VeraBI.ttf",
        },
    ),
)

# Hashes and URLs are ASCII, so the built-in Courier serves; reportlab ships no monospace TTF.
MONO = "Courier"

# For characters the chosen font lacks: a close ASCII stand-in rather than an empty box.
_STAND_INS = {
    "\u2212": "-",  # minus sign
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u2190": "<-",
    "\u2192": "->",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2248": "~",
    "\u2260": "!=",
    "\u00b1": "+/-",
    "\u2713": "v",
    "\u2717": "x",
    # Letters with a stroke have no decomposition to fall back on.
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0131": "i",
    "\u00d8": "O",
    "\u00f8": "o",
}


def in_win_ansi(char: str) -> bool:
    # The 14 built-in PDF fonts are set in WinAnsiEncoding, which is cp1252.
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    italic: str
    covers: Callable[[str], bool]  # whether every face of the font has the character


@lru_cache(maxsize=1)
def load_fonts() -> Fonts:
    """Register the certificate's fonts once per process, the first of `FONT_CANDIDATES` whose
    four faces all load; fall back to Helvetica if none does (a distribution that strips the
    fonts reportlab ships), losing only some glyphs."""
    for directory, files in FONT_CANDIDATES:
        try:
            faces = [TTFont(name, str(directory / file)) for name, file in files.items()]
        except (OSError, TTFError):
            continue
        break
    else:
        return Fonts(
            regular="Helvetica",
            bold="Helvetica-Bold",
            italic="Helvetica-Oblique",
            covers=in_win_ansi,
        )
    for face in faces:
        pdfmetrics.registerFont(face)
    regular, bold, italic, bold_italic = (face.fontName for face in faces)
    pdfmetrics.registerFontFamily(
        regular, normal=regular, bold=bold, italic=italic, boldItalic=bold_italic
    )
    glyphs = frozenset.intersection(*(frozenset(face.face.charToGlyph) for face in faces))
    return Fonts(
        regular=regular,
        bold=bold,
        italic=italic,
        covers=lambda char: ord(char) in glyphs,
    )


def fit(text: str, covers: Callable[[str], bool]) -> str:
    """`text` with every character the font cannot draw replaced by something it can."""
    out: list[str] = []
    for char in text:
        if char == "\n" or covers(char):
            out.append(char)
        elif char.isspace():
            out.append(" ")
        elif unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs", "Cn"}:
            continue
        elif char in _STAND_INS and all(covers(c) for c in _STAND_INS[char]):
            out.append(_STAND_INS[char])
        else:
            # "ź" -> "z", "ﬁ" -> "fi", "²" -> "2"; what has no such form becomes "?".
            base = [
                c
                for c in unicodedata.normalize("NFKD", char)
                if not unicodedata.combining(c) and covers(c)
            ]
            out.append("".join(base) or "?")
    return "".join(out)
