"""Certificates of conformance (DESIGN.md section 3 step 11): the PDF a customer keeps for an
accepted part, and the QR code that sends anyone to its public verification page.

Everything here works on a `CertificateView` (view.py), plain data the caller builds from the
database, so rendering needs no database and the same view always renders to the same bytes.
What it says passed or failed is the view's verdict, decided by printshops.quality.part_verdict
as the quality gate decides it; nothing here judges a measurement.

- view.py: the data a certificate shows, and the sentences it states about the verdict
- qr.py: the QR code, as inline SVG (the HTML page) and as vector rectangles (the PDF)
- fonts.py: which font prints, and what a character it cannot draw becomes
- layout.py: page geometry, colours and paragraph styles
- typesetting.py: dates, tolerances, paragraphs and tables in the certificate's style
- sections.py: the certificate's sections, top to bottom
- pdf.py: the document, its page furniture and the deterministic render
"""

from printshops.certificates.pdf import certificate_pdf
from printshops.certificates.qr import qr_svg
from printshops.certificates.view import (
    CertificateCharacteristic,
    CertificateEvent,
    CertificateMeasurement,
    CertificateView,
)

__all__ = [
    "CertificateCharacteristic",
    "CertificateEvent",
    "CertificateMeasurement",
    "CertificateView",
    "certificate_pdf",
    "qr_svg",
]
