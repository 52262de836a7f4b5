"""The certificate's page: A4 geometry, colours and paragraph styles."""

from __future__ import annotations

from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm

from printshops.certificates.fonts import MONO, Fonts

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 18 * mm
MARGIN_TOP = 20 * mm
MARGIN_BOTTOM = 20 * mm
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
QR_SIZE = 38 * mm  # the symbol without quiet zone; scans reliably from paper at arm's length
QR_COLUMN = 52 * mm
HEADING_ROOM = 40 * mm  # space for a heading, its gap and the first rows of its table

INK = colors.HexColor("#1b1f24")
NAVY = colors.HexColor("#1f3a5f")
MUTED = colors.HexColor("#5b6470")
RULE = colors.HexColor("#c9ced6")
ZEBRA = colors.HexColor("#f3f5f8")
LABEL_BG = colors.HexColor("#eef1f5")
PASS = colors.HexColor("#1b7f3b")
FAIL = colors.HexColor("#b3261e")
PASS_BG = colors.HexColor("#e6f4ea")
FAIL_BG = colors.HexColor("#fce8e6")


class Styles:
    def __init__(self, fonts: Fonts) -> None:
        def style(name: str, **kw: Any) -> ParagraphStyle:
            base: dict[str, Any] = {
                "fontName": fonts.regular,
                "fontSize": 8.5,
                "leading": 10.5,
                "textColor": INK,
                "splitLongWords": 1,
                # reportlab lets a line run 5 % of its spaces past the width, counting on
                # justification to squeeze them; left-aligned text would cross the margin.
                "spaceShrinkage": 0,
            }
            return ParagraphStyle(name, **(base | kw))

        self.title = style("title", fontName=fonts.bold, fontSize=21, leading=25, textColor=NAVY)
        self.brand = style("brand", fontName=fonts.bold, fontSize=8, leading=10, textColor=MUTED)
        self.lead = style("lead", fontSize=9, leading=12.5, textColor=INK)
        self.heading = style(
            "heading",
            fontName=fonts.bold,
            fontSize=11.5,
            leading=14,
            textColor=NAVY,
            spaceBefore=6 * mm,
            spaceAfter=2 * mm,
        )
        self.body = style("body")
        self.note = style("note", fontSize=8, leading=10.5, textColor=MUTED)
        self.label = style("label", fontName=fonts.bold, fontSize=8, textColor=MUTED)
        self.value = style("value", fontSize=9, leading=11.5)
        self.value_strong = style("value_strong", fontName=fonts.bold, fontSize=9, leading=11.5)
        self.missing = style(
            "missing", fontName=fonts.italic, fontSize=9, leading=11.5, textColor=MUTED
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
        self.mono = style("mono", fontName=MONO, fontSize=7.5, leading=9.5)
        self.pass_ = style("pass", fontName=fonts.bold, textColor=PASS, alignment=TA_CENTER)
        self.fail = style("fail", fontName=fonts.bold, textColor=FAIL, alignment=TA_CENTER)
        self.superseded = style(
            "superseded", fontName=fonts.italic, textColor=MUTED, alignment=TA_CENTER
        )
        self.pending = style("pending", fontName=fonts.italic, fontSize=8.5, leading=11)
        self.qr_url = style("qr_url", fontName=MONO, fontSize=6.5, leading=8, alignment=TA_CENTER)
        self.qr_note = style("qr_note", fontSize=7, leading=9, textColor=MUTED, alignment=TA_CENTER)
        self.banner_pass = style("banner_pass", fontName=fonts.bold, fontSize=9.5, textColor=PASS)
        self.banner_fail = style("banner_fail", fontName=fonts.bold, fontSize=9.5, textColor=FAIL)
        self.banner_none = style("banner_none", fontName=fonts.bold, fontSize=9.5, textColor=MUTED)
