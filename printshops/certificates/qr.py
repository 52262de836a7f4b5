"""The QR code that sends anyone to a certificate's public verification page: inline SVG for
the HTML page, vector rectangles for the PDF."""

from __future__ import annotations

import segno
from reportlab.graphics.shapes import Drawing, Rect
from reportlab.lib import colors

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


def qr_drawing(url: str, size: float) -> Drawing:
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
