"""The certificate as an A4 PDF: the document, the furniture of every page (band, running
header, footer with "Page n of N") and a deterministic render."""

from __future__ import annotations

import io
from collections.abc import Callable

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Frame, PageTemplate
from reportlab.platypus.doctemplate import BaseDocTemplate

from printshops.certificates.fonts import Fonts, fit, load_fonts
from printshops.certificates.layout import (
    FRAME_WIDTH,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    MUTED,
    NAVY,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    RULE,
)
from printshops.certificates.sections import Writer
from printshops.certificates.typesetting import as_utc
from printshops.certificates.view import CertificateView


def _page_decorator(
    view: CertificateView, fonts: Fonts, total_pages: int | None, pages_seen: list[int]
) -> Callable[[Canvas, BaseDocTemplate], None]:
    certificate = fit(view.certificate_id, fonts.covers)
    issued = as_utc(view.issued_at).strftime("D:%Y%m%d%H%M%S+00'00'")

    def decorate(canvas: Canvas, doc: BaseDocTemplate) -> None:
        page = canvas.getPageNumber()
        pages_seen.append(page)
        canvas.saveState()
        if page == 1:
            # Invariant mode would date the file 2000-01-01; the issue date is as stable.
            canvas.setDateFormatter(lambda *_: issued)
            canvas.setFillColor(NAVY)
            canvas.rect(0, PAGE_HEIGHT - 6 * mm, PAGE_WIDTH, 6 * mm, stroke=0, fill=1)
        else:
            canvas.setFont(fonts.bold, 8)
            canvas.setFillColor(NAVY)
            canvas.drawString(MARGIN_X, PAGE_HEIGHT - 12 * mm, "Certificate of Conformance")
            canvas.setFont(fonts.regular, 8)
            canvas.setFillColor(MUTED)
            canvas.drawRightString(PAGE_WIDTH - MARGIN_X, PAGE_HEIGHT - 12 * mm, certificate)
            canvas.setStrokeColor(RULE)
            canvas.setLineWidth(0.5)
            canvas.line(
                MARGIN_X, PAGE_HEIGHT - 14 * mm, PAGE_WIDTH - MARGIN_X, PAGE_HEIGHT - 14 * mm
            )
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, 14 * mm, PAGE_WIDTH - MARGIN_X, 14 * mm)
        canvas.setFont(fonts.regular, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN_X, 10 * mm, f"PrintFair \u00b7 Certificate {certificate}")
        numbering = f"Page {page} of {total_pages}" if total_pages else f"Page {page}"
        canvas.drawRightString(PAGE_WIDTH - MARGIN_X, 10 * mm, numbering)
        canvas.restoreState()

    return decorate


def _render(view: CertificateView, total_pages: int | None) -> tuple[bytes, int]:
    fonts = load_fonts()
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
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
        MARGIN_X,
        MARGIN_BOTTOM,
        FRAME_WIDTH,
        PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM,
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
    doc.build(Writer(view, fonts).story())
    return buffer.getvalue(), max(pages, default=1)


def certificate_pdf(view: CertificateView) -> bytes:
    """The certificate as an A4 PDF. Deterministic: the same view gives the same bytes."""
    # "Page n of N" needs N before the first page is drawn, so lay the document out twice.
    _, total_pages = _render(view, total_pages=None)
    pdf, _ = _render(view, total_pages=total_pages)
    return pdf
