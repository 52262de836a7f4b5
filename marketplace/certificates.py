"""Certificates of conformance (DESIGN.md section 3 step 11): the PDF a customer keeps for an
accepted part, and the QR code that sends anyone to its public verification page.

Everything here works on a `CertificateView`, plain data the caller builds from the database,
so rendering needs no database and the same view always renders to the same bytes. What it says
passed or failed is the view's verdict, decided by printshops.quality.part_verdict as the
quality gate decides it; nothing here judges a measurement.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import reportlab
import segno
from reportlab.graphics.shapes import Drawing, Rect
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.doctemplate import BaseDocTemplate

from printshops.quality import Result


@dataclass(frozen=True)
class CertificateMeasurement:
    """One quality record of the part; `passed` is that measurement's own result."""

    characteristic: str
    unit: str
    nominal: str
    tolerance_minus: str
    tolerance_plus: str
    measured: str
    instrument: str
    passed: bool
    measured_at: datetime
    record_hash: str  # 0x…
    anchor: str  # e.g. "block 1234 on chain 31337, tx 0xabc…" or "not anchored when this …"


@dataclass(frozen=True)
class CertificateCharacteristic:
    """One characteristic's verdict (printshops.quality.part_verdict): decided by its latest
    measurement (None when it was not measured); the earlier ones, oldest first, were superseded
    by a retest and are shown, not counted."""

    characteristic: str
    status: str  # a printshops.quality.Result of a characteristic
    latest: CertificateMeasurement | None
    superseded: list[CertificateMeasurement]

    @property
    def passed(self) -> bool:
        return self.status == Result.PASSED

    @property
    def rows(self) -> list[tuple[CertificateMeasurement, bool]]:
        """(measurement, superseded) in the order shown: the deciding one first, then the ones
        it superseded, newest first."""
        latest = [(self.latest, False)] if self.latest is not None else []
        return [*latest, *((m, True) for m in reversed(self.superseded))]

    @property
    def reason(self) -> str:
        """Why it does not pass, in a few words ("" when it passes)."""
        if self.status == Result.PASSED:
            return ""
        if self.status == Result.NOT_MEASURED:
            return "not measured"
        if self.status == Result.ALTERED:
            return "changed since it was anchored"
        return "out of tolerance"


@dataclass(frozen=True)
class CertificateEvent:
    """One production event of the part."""

    kind_label: str
    occurred_at: datetime
    summary: str
    record_hash: str
    anchor: str


@dataclass(frozen=True)
class CertificateView:
    """Everything a certificate shows, already read and formatted by the caller."""

    certificate_id: str
    part_serial: str
    job_id: int
    job_title: str
    customer: str
    shop: str
    process: str
    material: str
    machine: str  # "" when not reported
    material_lot: str  # "" when not reported
    designs: list[tuple[str, str]]  # (file name, sha256 hex)
    verdict: str  # a printshops.quality.Result of a part
    characteristics: list[CertificateCharacteristic]
    events: list[CertificateEvent]
    issued_at: datetime
    certificate_hash: str
    certificate_anchor: str
    verify_url: str  # absolute URL of the public /verify/<id>/ page
    chain_id: int | None
    anchor_contract: str | None
    # Whether every anchor (the certificate's and its records') was final when the view was
    # made: a copy made before says where to look for the current state.
    anchors_final: bool = True

    @property
    def measurements(self) -> list[CertificateMeasurement]:
        """Every measurement listed, in the order shown."""
        return [m for item in self.characteristics for m, _ in item.rows]

    @property
    def superseded(self) -> int:
        return sum(len(item.superseded) for item in self.characteristics)

    @property
    def result(self) -> str:
        """The result banner's sentence."""
        total = len(self.characteristics)
        noun = "characteristic" if total == 1 else "characteristics"
        if self.verdict == Result.NO_MEASUREMENTS:
            return "No measurements were recorded for this part."
        if self.verdict == Result.PASSED:
            text = (
                f"Result: PASS \u2014 {total} {noun}, each within tolerance at its latest "
                "measurement."
            )
            if self.superseded:
                earlier = self.superseded
                text += (
                    f" {earlier} earlier measurement{'s' if earlier > 1 else ''}, superseded by a "
                    f"retest, {'are' if earlier > 1 else 'is'} listed and not counted."
                )
            return text
        failing = [item for item in self.characteristics if not item.passed]
        reasons = "; ".join(f"{item.characteristic}: {item.reason}" for item in failing)
        return (
            f"Result: FAIL \u2014 {len(failing)} of {total} {noun} not passing at the latest "
            f"measurement ({reasons})."
        )

    @property
    def pending_note(self) -> str:
        """What a copy made before every anchor was final says instead of freezing the state."""
        if self.anchors_final:
            return ""
        return (
            "Anchoring was still under way when this copy was made, and a printed or saved copy "
            "does not update: scan the QR code or open " + self.verify_url + " to see each "
            "anchor's current state."
        )


# --- QR code ----------------------------------------------------------------------------------

# M recovers from about 15 % damage: enough for a printed, folded, stamped sheet while keeping
# the modules large. segno raises the level by itself when that costs no extra size.
_QR_ERROR = "m"


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error=_QR_ERROR, micro=False)


def qr_svg(url: str) -> str:
    """Inline `<svg>` markup of a QR code for `url`, for the HTML certificate page.

    No XML declaration, no namespace, no width or height: the viewBox lets CSS size it (give
    the element a width). The four-module quiet zone scanners need is part of the image.
    """
    markup = _qr(url).svg_inline(
        scale=1,
        border=4,
        omitsize=True,
        dark="#000",
        light="#fff",
        title="QR code: scan to verify this certificate",
        svgclass="qr-code",
        lineclass=None,
    )
    return markup.replace("<svg ", '<svg role="img" ', 1)


def _qr_drawing(url: str, size: float) -> Drawing:
    """The QR code for `url` as vector rectangles, `size` points square without quiet zone.

    Dark modules next to each other in a row are one rectangle, which keeps the PDF small
    and leaves no hairline seams between modules in viewers that anti-alias.
    """
    rows = [list(row) for row in _qr(url).matrix_iter(scale=1, border=0)]
    module = size / len(rows)
    drawing = Drawing(size, size)
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            rect = Rect(start * module, size - (y + 1) * module, (x - start) * module, module)
            rect.fillColor = colors.black
            rect.strokeColor = None
            rect.strokeWidth = 0
            drawing.add(rect)
    return drawing


# --- Fonts and text ---------------------------------------------------------------------------

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
_DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_CANDIDATES: tuple[tuple[Path, dict[str, str]], ...] = (
    (
        _DEJAVU_DIR,
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
_MONO = "Courier"

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


def _in_win_ansi(char: str) -> bool:
    # The 14 built-in PDF fonts are set in WinAnsiEncoding, which is cp1252.
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    italic: str
    covers: Callable[[str], bool]  # whether every face of the font has the character


@lru_cache(maxsize=1)
def _fonts() -> _Fonts:
    """Register the certificate's fonts once per process, the first of `_FONT_CANDIDATES` whose
    four faces all load; fall back to Helvetica if none does (a distribution that strips the
    fonts reportlab ships), losing only some glyphs."""
    for directory, files in _FONT_CANDIDATES:
        try:
            faces = [TTFont(name, str(directory / file)) for name, file in files.items()]
        except (OSError, TTFError):
            continue
        break
    else:
        return _Fonts(
            regular="Helvetica",
            bold="Helvetica-Bold",
            italic="Helvetica-Oblique",
            covers=_in_win_ansi,
        )
    for face in faces:
        pdfmetrics.registerFont(face)
    regular, bold, italic, bold_italic = (face.fontName for face in faces)
    pdfmetrics.registerFontFamily(
        regular, normal=regular, bold=bold, italic=italic, boldItalic=bold_italic
    )
    glyphs = frozenset.intersection(*(frozenset(face.face.charToGlyph) for face in faces))
    return _Fonts(
        regular=regular,
        bold=bold,
        italic=italic,
        covers=lambda char: ord(char) in glyphs,
    )


def _fit(text: str, covers: Callable[[str], bool]) -> str:
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


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # the project stores aware datetimes; never shift a naive one
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _utc(moment: datetime, *, suffix: bool = True) -> str:
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M" + (" UTC" if suffix else ""))


def _tolerance(minus: str, plus: str) -> str:
    """ "+a / -b" (with a true minus sign) from the two limits, signed by the caller or not."""
    plus, minus = plus.strip(), minus.strip()
    if not plus and not minus:
        return "\u2014"
    upper = plus if plus[:1] in {"+", "-", "\u2212"} else f"+{plus or '0'}"
    if minus[:1] in {"-", "\u2212"}:
        lower = f"\u2212{minus[1:].strip()}"
    elif minus[:1] == "+":  # both limits above nominal
        lower = minus
    else:
        lower = f"\u2212{minus or '0'}"
    return f"{upper} / {lower}"


# --- Layout -----------------------------------------------------------------------------------

_PAGE_WIDTH, _PAGE_HEIGHT = A4
_MARGIN_X = 18 * mm
_MARGIN_TOP = 20 * mm
_MARGIN_BOTTOM = 20 * mm
_FRAME_WIDTH = _PAGE_WIDTH - 2 * _MARGIN_X
_QR_SIZE = 38 * mm  # the symbol without quiet zone; scans reliably from paper at arm's length
_QR_COLUMN = 52 * mm
_HEADING_ROOM = 40 * mm  # space for a heading, its gap and the first rows of its table

_INK = colors.HexColor("#1b1f24")
_NAVY = colors.HexColor("#1f3a5f")
_MUTED = colors.HexColor("#5b6470")
_RULE = colors.HexColor("#c9ced6")
_ZEBRA = colors.HexColor("#f3f5f8")
_LABEL_BG = colors.HexColor("#eef1f5")
_PASS = colors.HexColor("#1b7f3b")
_FAIL = colors.HexColor("#b3261e")
_PASS_BG = colors.HexColor("#e6f4ea")
_FAIL_BG = colors.HexColor("#fce8e6")

_VERIFY_SENTENCE = (
    "Anyone can scan this code to check this certificate against the public chain, "
    "without an account."
)


class _Styles:
    def __init__(self, fonts: _Fonts) -> None:
        def style(name: str, **kw: Any) -> ParagraphStyle:
            base: dict[str, Any] = {
                "fontName": fonts.regular,
                "fontSize": 8.5,
                "leading": 10.5,
                "textColor": _INK,
                "splitLongWords": 1,
                # reportlab lets a line run 5 % of its spaces past the width, counting on
                # justification to squeeze them; left-aligned text would cross the margin.
                "spaceShrinkage": 0,
            }
            return ParagraphStyle(name, **(base | kw))

        self.title = style("title", fontName=fonts.bold, fontSize=21, leading=25, textColor=_NAVY)
        self.brand = style("brand", fontName=fonts.bold, fontSize=8, leading=10, textColor=_MUTED)
        self.lead = style("lead", fontSize=9, leading=12.5, textColor=_INK)
        self.heading = style(
            "heading",
            fontName=fonts.bold,
            fontSize=11.5,
            leading=14,
            textColor=_NAVY,
            spaceBefore=6 * mm,
            spaceAfter=2 * mm,
        )
        self.body = style("body")
        self.note = style("note", fontSize=8, leading=10.5, textColor=_MUTED)
        self.label = style("label", fontName=fonts.bold, fontSize=8, textColor=_MUTED)
        self.value = style("value", fontSize=9, leading=11.5)
        self.value_strong = style("value_strong", fontName=fonts.bold, fontSize=9, leading=11.5)
        self.missing = style(
            "missing", fontName=fonts.italic, fontSize=9, leading=11.5, textColor=_MUTED
        )
        self.cell = style("cell")
        self.cell_right = style("cell_right", alignment=TA_RIGHT)
        self.cell_head = style(
            "cell_head", fontName=fonts.bold, fontSize=8, leading=10, textColor=colors.white
        )
        self.cell_head_right = style(
            "cell_head_right",
            fontName=fonts.bold,
            fontSize=8,
            leading=10,
            textColor=colors.white,
            alignment=TA_RIGHT,
        )
        self.mono = style("mono", fontName=_MONO, fontSize=7.5, leading=9.5)
        self.pass_ = style("pass", fontName=fonts.bold, textColor=_PASS, alignment=TA_CENTER)
        self.fail = style("fail", fontName=fonts.bold, textColor=_FAIL, alignment=TA_CENTER)
        self.superseded = style(
            "superseded", fontName=fonts.italic, textColor=_MUTED, alignment=TA_CENTER
        )
        self.pending = style("pending", fontName=fonts.italic, fontSize=8.5, leading=11)
        self.qr_url = style("qr_url", fontName=_MONO, fontSize=6.5, leading=8, alignment=TA_CENTER)
        self.qr_note = style(
            "qr_note", fontSize=7, leading=9, textColor=_MUTED, alignment=TA_CENTER
        )
        self.banner_pass = style("banner_pass", fontName=fonts.bold, fontSize=9.5, textColor=_PASS)
        self.banner_fail = style("banner_fail", fontName=fonts.bold, fontSize=9.5, textColor=_FAIL)
        self.banner_none = style("banner_none", fontName=fonts.bold, fontSize=9.5, textColor=_MUTED)


class _Writer:
    """Builds the story of one certificate: text in, flowables out."""

    def __init__(self, view: CertificateView, fonts: _Fonts) -> None:
        self.view = view
        self.fonts = fonts
        self.styles = _Styles(fonts)

    # Text. Every string from the view goes through one of these, never straight into markup.

    def text(self, value: str, style: ParagraphStyle) -> Paragraph:
        markup = escape(_fit(value, self.fonts.covers)).replace("\n", "<br/>")
        return Paragraph(markup, style)

    def mono(self, value: str, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(escape(_fit(value, _in_win_ansi)), style or self.styles.mono)

    def optional(self, value: str) -> Paragraph:
        if value.strip():
            return self.text(value, self.styles.value)
        return self.text("not reported", self.styles.missing)

    def heading(self, title: str) -> list[Flowable]:
        # A heading starts a new page rather than stand alone at the foot of one; unlike
        # keepWithNext this does not push a whole table that would fit on the next page.
        return [CondPageBreak(_HEADING_ROOM), self.text(title, self.styles.heading)]

    def link(self, url: str, style: ParagraphStyle) -> Paragraph:
        shown = escape(_fit(url, _in_win_ansi))
        return Paragraph(f"<link href={quoteattr(url)}>{shown}</link>", style)

    # Tables.

    def table(
        self,
        head: Sequence[str],
        rows: Sequence[Sequence[Flowable]],
        widths: Sequence[float],
        *,
        right: frozenset[int] = frozenset(),
        empty: str,
        extra: Sequence[tuple[Any, ...]] = (),
    ) -> Table:
        """A data table whose header row repeats on every page it runs onto."""
        header = [
            self.text(h, self.styles.cell_head_right if i in right else self.styles.cell_head)
            for i, h in enumerate(head)
        ]
        body: list[list[Flowable | str]] = [list(row) for row in rows]
        commands: list[tuple[Any, ...]] = [
            ("BACKGROUND", (0, 0), (-1, 0), _NAVY),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 1), (-1, -1), 0.4, _RULE),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]
        if body:
            commands.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _ZEBRA]))
        else:
            placeholder: list[Flowable | str] = [self.text(empty, self.styles.note)]
            body = [placeholder + [""] * (len(head) - 1)]
            commands.append(("SPAN", (0, 1), (-1, 1)))
        table = Table(
            [header, *body],
            colWidths=list(widths),
            repeatRows=1,
            splitInRow=1,  # a row taller than a page (a very long summary) splits too
            hAlign="LEFT",
        )
        table.setStyle(TableStyle([*commands, *extra]))
        return table

    def key_values(self, rows: Sequence[tuple[str, Flowable]], widths: Sequence[float]) -> Table:
        table = Table(
            [[self.text(key, self.styles.label), value] for key, value in rows],
            colWidths=list(widths),
            hAlign="LEFT",
        )
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (0, -1), _LABEL_BG),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.4, _RULE),
                    ("LINEABOVE", (0, 0), (-1, 0), 0.4, _RULE),
                    ("LEFTPADDING", (0, 0), (-1, -1), 5),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 5),
                    ("TOPPADDING", (0, 0), (-1, -1), 3.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
                ]
            )
        )
        return table

    # Sections.

    def story(self) -> list[Flowable]:
        return [
            *self.title_block(),
            self.header_block(),
            Spacer(1, 4 * mm),
            self.result_banner(),
            *self.pending_note(),
            *self.measurements(),
            *self.events(),
            *self.designs(),
            *self.anchors(),
            Spacer(1, 6 * mm),
            self.text(
                "This certificate was generated by PrintFair from the records listed above. "
                "Its authority does not rest on this sheet: the verification page recomputes "
                "every record hash and checks it against the anchors on chain.",
                self.styles.note,
            ),
        ]

    def title_block(self) -> list[Flowable]:
        s = self.styles
        return [
            self.text("PRINTFAIR", s.brand),
            Spacer(1, 1 * mm),
            self.text("Certificate of Conformance", s.title),
            Spacer(1, 2 * mm),
            self.text(
                "PrintFair certifies that the part identified below was produced by the named "
                "print shop for the named job, and that the production and inspection records "
                "listed here are the ones anchored on chain.",
                s.lead,
            ),
            Spacer(1, 5 * mm),
        ]

    def header_block(self) -> Table:
        v, s = self.view, self.styles
        info_width = _FRAME_WIDTH - _QR_COLUMN
        facts: list[tuple[str, Flowable]] = [
            ("Certificate ID", self.text(v.certificate_id, s.value_strong)),
            ("Issue date", self.text(_utc(v.issued_at), s.value)),
            ("Customer", self.text(v.customer, s.value)),
            ("Print shop", self.text(v.shop, s.value)),
            ("Job", self.text(f"#{v.job_id} \u2014 {v.job_title}", s.value)),
            ("Part serial", self.text(v.part_serial, s.value_strong)),
            ("Process", self.text(v.process, s.value)),
            ("Material", self.text(v.material, s.value)),
            ("Machine", self.optional(v.machine)),
            ("Material lot", self.optional(v.material_lot)),
        ]
        info = self.key_values(facts, [30 * mm, info_width - 30 * mm - 6 * mm])
        qr = _qr_drawing(v.verify_url, _QR_SIZE)
        qr.hAlign = "CENTER"
        verify: list[Flowable] = [
            qr,
            # A quiet zone of four modules, then the URL: text closer would confuse scanners.
            Spacer(1, 5 * mm),
            self.link(v.verify_url, s.qr_url),
            Spacer(1, 1.5 * mm),
            self.text(_VERIFY_SENTENCE, s.qr_note),
        ]
        block = Table([[info, verify]], colWidths=[info_width, _QR_COLUMN], hAlign="LEFT")
        block.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (0, 0), 0),
                    ("RIGHTPADDING", (0, 0), (0, 0), 0),
                    ("LEFTPADDING", (1, 0), (1, 0), 3 * mm),
                    ("RIGHTPADDING", (1, 0), (1, 0), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 0),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
                ]
            )
        )
        return block

    def result_banner(self) -> Table:
        s, v = self.styles, self.view
        if v.verdict == Result.NO_MEASUREMENTS:
            style, background = s.banner_none, _LABEL_BG
        elif v.verdict == Result.PASSED:
            style, background = s.banner_pass, _PASS_BG
        else:
            style, background = s.banner_fail, _FAIL_BG
        banner = Table([[self.text(v.result, style)]], colWidths=[_FRAME_WIDTH], hAlign="LEFT")
        banner.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), background),
                    ("LEFTPADDING", (0, 0), (-1, -1), 6),
                    ("TOPPADDING", (0, 0), (-1, -1), 5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                ]
            )
        )
        return banner

    def pending_note(self) -> list[Flowable]:
        note = self.view.pending_note
        if not note:
            return []
        return [Spacer(1, 2 * mm), self.text(note, self.styles.pending)]

    def with_note(self, value: str, note: str, style: ParagraphStyle) -> Paragraph:
        """`value`, and under it `note` in small muted type."""
        covers = self.fonts.covers
        return Paragraph(
            f"{escape(_fit(value, covers))}<br/>"
            f'<font size="7" color="#{_MUTED.hexval()[2:]}">'
            f"{escape(_fit(note, covers))}</font>",
            style,
        )

    def measurements(self) -> list[Flowable]:
        s = self.styles
        rows: list[list[Flowable]] = []
        extra: list[tuple[Any, ...]] = []
        number = 0  # of the measurement, as the anchors section lists it
        for item in self.view.characteristics:
            if item.latest is None:
                rows.append(
                    [
                        self.text("", s.cell_right),
                        self.with_note(item.characteristic, "required; not measured", s.cell),
                        *(self.text("\u2014", s.cell_right) for _ in range(3)),
                        self.text("", s.cell),
                        self.text("", s.cell),
                        self.text("FAIL", s.fail),
                    ]
                )
                extra.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)), _FAIL_BG))
                continue
            for m, superseded in item.rows:
                when = f"measured {_utc(m.measured_at)}"
                if superseded:
                    note = f"{when}; superseded by a retest, not counted"
                    result = self.text("pass" if m.passed else "fail", s.superseded)
                else:
                    if item.status == Result.ALTERED:
                        note = f"{when}; changed since it was anchored, not counted"
                    elif item.superseded:
                        note = f"{when}; retest, the latest: it decides"
                    else:
                        note = when
                    result = self.text(
                        "PASS" if item.passed else "FAIL", s.pass_ if item.passed else s.fail
                    )
                number += 1
                rows.append(
                    [
                        self.text(str(number), s.cell_right),
                        self.with_note(m.characteristic, note, s.cell),
                        self.text(m.nominal, s.cell_right),
                        self.text(_tolerance(m.tolerance_minus, m.tolerance_plus), s.cell_right),
                        self.text(m.measured, s.cell_right),
                        self.text(m.unit, s.cell),
                        self.text(m.instrument, s.cell),
                        result,
                    ]
                )
                if not superseded and not item.passed:
                    extra.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)), _FAIL_BG))
        widths = [w * mm for w in (8, 39, 19, 32, 20, 12, 28, 16)]
        table = self.table(
            [
                "#",
                "Characteristic",
                "Nominal",
                "Tolerance",
                "Measured",
                "Unit",
                "Instrument",
                "Result",
            ],
            rows,
            widths,
            right=frozenset({0, 2, 3, 4}),
            empty="No measurements were recorded for this part.",
            extra=extra,
        )
        return [*self.heading("Measurements"), table]

    def events(self) -> list[Flowable]:
        s = self.styles
        rows: list[list[Flowable]] = [
            [
                self.text(_utc(e.occurred_at, suffix=False), s.cell),
                self.text(e.kind_label, s.cell),
                self.text(e.summary, s.cell),
            ]
            for e in self.view.events
        ]
        table = self.table(
            ["Time (UTC)", "Event", "Details"],
            rows,
            [32 * mm, 38 * mm, _FRAME_WIDTH - 70 * mm],
            empty="No production events were reported for this part.",
        )
        return [*self.heading("Production events"), table]

    def designs(self) -> list[Flowable]:
        s = self.styles
        rows: list[list[Flowable]] = [
            [self.text(name, s.cell), self.mono(sha256)] for name, sha256 in self.view.designs
        ]
        table = self.table(
            ["Design file", "SHA-256 of the file as uploaded"],
            rows,
            [_FRAME_WIDTH - 108 * mm, 108 * mm],
            empty="No design files are listed.",
        )
        return [*self.heading("Design files"), table]

    def anchors(self) -> list[Flowable]:
        v, s = self.view, self.styles
        chain = str(v.chain_id) if v.chain_id is not None else ""
        facts: list[tuple[str, Flowable]] = [
            (
                "Chain ID",
                self.text(chain, s.value) if chain else self.text("not configured", s.missing),
            ),
            (
                "Anchor contract",
                self.mono(v.anchor_contract)
                if v.anchor_contract
                else self.text("not configured", s.missing),
            ),
            ("Certificate hash", self.mono(v.certificate_hash)),
            ("Certificate anchor", self.text(v.certificate_anchor, s.value)),
        ]
        summary = self.key_values(facts, [36 * mm, _FRAME_WIDTH - 36 * mm])
        rows: list[list[Flowable]] = []
        for number, m in enumerate(v.measurements, start=1):
            rows.append(
                [
                    self.text(f"Measurement {number}: {m.characteristic}", s.cell),
                    self.mono(m.record_hash),
                    self.text(m.anchor, s.cell),
                ]
            )
        for e in v.events:
            rows.append(
                [
                    self.text(f"{e.kind_label}, {_utc(e.occurred_at)}", s.cell),
                    self.mono(e.record_hash),
                    self.text(e.anchor, s.cell),
                ]
            )
        records = self.table(
            ["Record", "Record hash", "Anchor"],
            rows,
            [46 * mm, 74 * mm, _FRAME_WIDTH - 120 * mm],
            empty="No records to anchor.",
        )
        return [
            *self.heading("On-chain anchors"),
            self.text(
                "Each record is hashed canonically (RFC 8785 JSON, then keccak-256) and anchored "
                "in a Merkle batch whose root is written to the anchor contract. A record whose "
                "hash, proof or root does not match fails verification.",
                s.body,
            ),
            Spacer(1, 2.5 * mm),
            summary,
            Spacer(1, 3 * mm),
            records,
            *self.pending_note(),
        ]


def _page_decorator(
    view: CertificateView, fonts: _Fonts, total_pages: int | None, pages_seen: list[int]
) -> Callable[[Canvas, BaseDocTemplate], None]:
    certificate = _fit(view.certificate_id, fonts.covers)
    issued = _as_utc(view.issued_at).strftime("D:%Y%m%d%H%M%S+00'00'")

    def decorate(canvas: Canvas, doc: BaseDocTemplate) -> None:
        page = canvas.getPageNumber()
        pages_seen.append(page)
        canvas.saveState()
        if page == 1:
            # Invariant mode would date the file 2000-01-01; the issue date is as stable.
            canvas.setDateFormatter(lambda *_: issued)
            canvas.setFillColor(_NAVY)
            canvas.rect(0, _PAGE_HEIGHT - 6 * mm, _PAGE_WIDTH, 6 * mm, stroke=0, fill=1)
        else:
            canvas.setFont(fonts.bold, 8)
            canvas.setFillColor(_NAVY)
            canvas.drawString(_MARGIN_X, _PAGE_HEIGHT - 12 * mm, "Certificate of Conformance")
            canvas.setFont(fonts.regular, 8)
            canvas.setFillColor(_MUTED)
            canvas.drawRightString(_PAGE_WIDTH - _MARGIN_X, _PAGE_HEIGHT - 12 * mm, certificate)
            canvas.setStrokeColor(_RULE)
            canvas.setLineWidth(0.5)
            canvas.line(
                _MARGIN_X, _PAGE_HEIGHT - 14 * mm, _PAGE_WIDTH - _MARGIN_X, _PAGE_HEIGHT - 14 * mm
            )
        canvas.setStrokeColor(_RULE)
        canvas.setLineWidth(0.5)
        canvas.line(_MARGIN_X, 14 * mm, _PAGE_WIDTH - _MARGIN_X, 14 * mm)
        canvas.setFont(fonts.regular, 7.5)
        canvas.setFillColor(_MUTED)
        canvas.drawString(_MARGIN_X, 10 * mm, f"PrintFair \u00b7 Certificate {certificate}")
        numbering = f"Page {page} of {total_pages}" if total_pages else f"Page {page}"
        canvas.drawRightString(_PAGE_WIDTH - _MARGIN_X, 10 * mm, numbering)
        canvas.restoreState()

    return decorate


def _render(view: CertificateView, total_pages: int | None) -> tuple[bytes, int]:
    fonts = _fonts()
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN_X,
        rightMargin=_MARGIN_X,
        topMargin=_MARGIN_TOP,
        bottomMargin=_MARGIN_BOTTOM,
        title=f"Certificate of Conformance {view.certificate_id}",
        author="PrintFair",
        subject=f"Part {view.part_serial}, job #{view.job_id}",
        creator="PrintFair",
        lang="en",
        # Fixed dates and document ids: the same view gives the same bytes.
        invariant=True,
    )
    pages: list[int] = []
    # No frame padding: tables span exactly the margins, aligned with the header and footer.
    frame = Frame(
        _MARGIN_X,
        _MARGIN_BOTTOM,
        _FRAME_WIDTH,
        _PAGE_HEIGHT - _MARGIN_TOP - _MARGIN_BOTTOM,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="body",
    )
    doc.addPageTemplates(
        [
            PageTemplate(
                id="certificate",
                frames=[frame],
                onPage=_page_decorator(view, fonts, total_pages, pages),
            )
        ]
    )
    doc.build(_Writer(view, fonts).story())
    return buffer.getvalue(), max(pages, default=1)


def certificate_pdf(view: CertificateView) -> bytes:
    """The certificate as an A4 PDF. Deterministic: the same view gives the same bytes."""
    # "Page n of N" needs N before the first page is drawn, so lay the document out twice.
    _, total_pages = _render(view, total_pages=None)
    pdf, _ = _render(view, total_pages=total_pages)
    return pdf
