"""Receipts as A4 PDFs: the customer's for an order it paid into escrow, and a shop's for a
payout it withdrew. Each states what was paid, by whom to whom, when, and where the chain shows
it (chain, contract, block and transaction), so that anyone can check it without PrintFair.
Set in the certificates' fonts, so that every name prints as given."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printshops.certificates.fonts import MONO, fit, load_fonts
from printshops.certificates.typesetting import format_utc

#: What a receipt's lines look like: a label and its value; a value in MONO (hashes, addresses)
#: when `mono`.
Line = tuple[str, str, bool]


@dataclass(frozen=True)
class Receipt:
    title: str
    number: str
    issued_to: str
    when: datetime
    lines: list[Line]
    note: str


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt, one A4 page (long values wrap)."""
    fonts = load_fonts()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, invariant=True)
    canvas.setTitle(f"{receipt.title} {receipt.number}")
    canvas.setAuthor("PrintFair")
    width, height = A4
    left, y = 20 * mm, height - 25 * mm
    canvas.setFont(fonts.bold, 20)
    canvas.drawString(left, y, fit(receipt.title, fonts.covers))
    canvas.setFont(fonts.regular, 10)
    canvas.drawRightString(width - left, y, fit(f"PrintFair · {receipt.number}", fonts.covers))
    y -= 9 * mm
    canvas.drawString(left, y, fit(f"Issued to {receipt.issued_to}", fonts.covers))
    y -= 5 * mm
    canvas.drawString(left, y, f"Dated {format_utc(receipt.when)}")
    y -= 10 * mm
    value_left = left + 52 * mm
    for label, value, mono in receipt.lines:
        canvas.setFont(fonts.bold, 10)
        canvas.drawString(left, y, fit(label, fonts.covers))
        face, size = (MONO, 8.5) if mono else (fonts.regular, 10)
        canvas.setFont(face, size)
        room = width - left - value_left
        if mono:  # a hash or an address: cut anywhere, Courier is 0.6 em a character
            lines = -(-len(value) // int(room / (size * 0.6)))
            chars = -(-len(value) // lines) if lines else 1  # the same length on each line
            rows = [value[i : i + chars] for i in range(0, len(value), chars)] or ["-"]
        else:  # words, wrapped at about 0.55 em a character
            rows = _wrap(fit(value, fonts.covers), int(room / (size * 0.55))) or [""]
        for row in rows:
            canvas.drawString(value_left, y, row)
            y -= 5.5 * mm
        y -= 1.5 * mm
    y -= 4 * mm
    canvas.setFont(fonts.italic, 9)
    for line in _wrap(fit(receipt.note, fonts.covers), 110):
        canvas.drawString(left, y, line)
        y -= 4.5 * mm
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines
