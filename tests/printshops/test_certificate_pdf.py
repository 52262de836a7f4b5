"""The certificate of conformance as a PDF and its QR code, read back with pypdf."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import segno
from pypdf import PdfReader
from pypdf.generic import ContentStream
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from printshops.certificates import (
    CertificateCharacteristic,
    CertificateEvent,
    CertificateMeasurement,
    CertificateView,
    certificate_pdf,
    qr_svg,
)
from printshops.certificates import fonts as certificate_fonts

VERIFY_URL = "https://printfair.example/verify/CoC-2026-000142/"
DESIGN_SHA256 = "9f2c1e5b7a3d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60"
ISSUED_AT = datetime(2026, 5, 7, 9, 0, tzinfo=UTC)
MARGIN = 18 * mm


def measurement(number: int, **changes: Any) -> CertificateMeasurement:
    values: dict[str, Any] = {
        "characteristic": f"Feature {number:03d} bore diameter",
        "unit": "mm",
        "nominal": "12.000",
        "tolerance_minus": "0.020",
        "tolerance_plus": "0.050",
        "measured": f"12.0{number % 10}1",
        "instrument": "Mitutoyo Crysta-Apex S 544 CMM",
        "passed": True,
        "measured_at": ISSUED_AT - timedelta(days=2) + timedelta(minutes=number),
        "record_hash": "0x" + f"{number % 256:02x}" * 32,
        "anchor": f"block {1200 + number} on chain 31337, tx 0xabc{number:03d}",
    }
    return CertificateMeasurement(**(values | changes))


def judged(*measurements: CertificateMeasurement, status: str = "") -> CertificateCharacteristic:
    """A characteristic as the verdict hands it over: decided by the last of `measurements`, the
    earlier ones superseded (the status is given here; the renderer never decides it)."""
    *earlier, latest = measurements
    return CertificateCharacteristic(
        characteristic=latest.characteristic,
        status=status or ("pass" if latest.passed else "fail"),
        latest=latest,
        superseded=list(earlier),
    )


def judged_all(measurements: list[CertificateMeasurement]) -> dict[str, Any]:
    """make_view's changes for one measurement per characteristic."""
    characteristics = [judged(m) for m in measurements]
    verdict = "none" if not characteristics else "pass"
    if any(not c.passed for c in characteristics):
        verdict = "fail"
    return {"characteristics": characteristics, "verdict": verdict}


def event(number: int, kind_label: str, summary: str) -> CertificateEvent:
    return CertificateEvent(
        kind_label=kind_label,
        occurred_at=ISSUED_AT - timedelta(days=3) + timedelta(hours=3 * number),
        summary=summary,
        record_hash="0x" + f"{0xE0 + number:02x}" * 32,
        anchor="not anchored yet when this copy was made",
    )


def make_view(**changes: Any) -> CertificateView:
    values: dict[str, Any] = {
        "certificate_id": "CoC-2026-000142",
        "part_serial": "PF-42-0007",
        "job_id": 42,
        "job_title": "Drone motor mount, left",
        "customer": "Acme Drones",
        "shop": "Layer Works",
        "process": "SLS",
        "material": "PA12",
        "machine": "EOS P 396 #2",
        "material_lot": "PA12-2026-0415",
        "designs": [("motor_mount_left_v3.stl", DESIGN_SHA256)],
        "verdict": "fail",
        "characteristics": [
            judged(measurement(1, characteristic="Overall length")),
            judged(measurement(2, characteristic="Wall thickness", passed=False)),
        ],
        "events": [
            event(0, "Print started", "Machine EOS P 396 #2, material lot PA12-2026-0415"),
            event(1, "Inspection", "CMM program CP-118 rev C"),
        ],
        "issued_at": ISSUED_AT,
        "certificate_hash": "0x" + "ab" * 32,
        "certificate_anchor": "block 1302 on chain 31337, tx 0x5d1c",
        "verify_url": VERIFY_URL,
        "chain_id": 31337,
        "anchor_contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    }
    return CertificateView(**(values | changes))


def read(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(pdf))


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in read(pdf).pages]


def words(text: str) -> str:
    """Text with wrapped lines joined: what a reader sees, whatever the line breaks."""
    return " ".join(text.split())


def unbroken(text: str) -> str:
    """Text with all white space removed: hashes and URLs are wrapped anywhere."""
    return "".join(text.split())


@dataclasses.dataclass(frozen=True)
class Run:
    text: str
    x: float
    y: float
    width: float


# The fonts the PDF embeds, by the names pypdf reports (without the subset prefix), and the
# names reportlab measures with: DejaVu Sans if installed, else the Vera reportlab ships.
FONT_NAMES = {
    "DejaVuSans": "PrintFairSans",
    "DejaVuSans-Bold": "PrintFairSans-Bold",
    "DejaVuSans-Oblique": "PrintFairSans-Oblique",
    "DejaVuSans-BoldOblique": "PrintFairSans-BoldOblique",
    "BitstreamVeraSans-Roman": "PrintFairSansVera",
    "BitstreamVeraSans-Bold": "PrintFairSansVera-Bold",
    "BitstreamVeraSans-Oblique": "PrintFairSansVera-Oblique",
    "BitstreamVeraSans-BoldOblique": "PrintFairSansVera-BoldOblique",
}
DEJAVU = {name for name in FONT_NAMES if name.startswith("DejaVu")}
VERA = {name for name in FONT_NAMES if name.startswith("BitstreamVera")}
BUILT_IN = {"Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier"}


def embedded_fonts(pdf: bytes) -> set[str]:
    """The fonts the PDF uses, by their names without the subset prefix."""
    fonts: set[str] = set()
    for page in read(pdf).pages:
        resources: Any = page["/Resources"]
        fonts |= {
            str(font.get_object()["/BaseFont"]).lstrip("/").split("+")[-1]
            for font in resources["/Font"].values()
        }
    return fonts


def require_dejavu() -> None:
    directory = certificate_fonts.DEJAVU_DIR
    files = dict(certificate_fonts.FONT_CANDIDATES)[directory].values()
    missing = [file for file in files if not (directory / file).is_file()]
    assert not missing, (
        f"DejaVu Sans is not installed ({', '.join(missing)} missing from {directory}): "
        "install Debian's fonts-dejavu-core (`make chromium` does)"
    )


def text_runs(pdf: bytes) -> Iterator[tuple[int, Run]]:
    """Every line of text drawn, with where it starts and how wide it is."""
    for number, page in enumerate(read(pdf).pages, start=1):
        runs: list[Run] = []

        def visit(
            text: Any, cm: Any, tm: Any, font: Any, size: Any, runs: list[Run] = runs
        ) -> None:
            shown = text.strip()
            if not shown or font is None:
                return
            base = str(font["/BaseFont"]).lstrip("/").split("+")[-1]
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            width = stringWidth(shown, FONT_NAMES.get(base, base), size) * cm[0] * tm[0]
            runs.append(Run(shown, x, y, width))

        page.extract_text(visitor_text=visit)
        for run in runs:
            yield number, run


def assert_within_margins(pdf: bytes) -> list[Run]:
    """No line of text starts or ends outside the margins (footer and running header included),
    which is where a line that did not wrap or a table wider than the page would end up."""
    runs = list(text_runs(pdf))
    assert runs
    for page, run in runs:
        assert run.x >= MARGIN - 0.5, (page, run)
        assert run.x + run.width <= A4[0] - MARGIN + 0.5, (page, run)
        assert 10 * mm - 0.5 <= run.y <= A4[1] - 10 * mm, (page, run)
    return [run for _, run in runs]


def qr_matrices_in(pdf: bytes) -> list[list[list[bool]]]:
    """The QR codes drawn on page 1, read back from their black rectangles."""
    reader = read(pdf)
    operations = ContentStream(reader.pages[0].get_contents(), reader).operations
    fill: tuple[float, ...] = (0.0, 0.0, 0.0)
    saved: list[tuple[float, ...]] = []
    rects: list[tuple[float, float, float, float]] = []
    for operands, operator in operations:
        if operator == b"q":
            saved.append(fill)
        elif operator == b"Q":
            fill = saved.pop()
        elif operator == b"rg":
            fill = tuple(float(value) for value in operands)
        elif operator == b"re" and fill == (0.0, 0.0, 0.0):
            x, y, w, h = (float(value) for value in operands)
            rects.append((x, y, w, h))
    if not rects:
        return []
    module = min(h for _, _, _, h in rects)
    left = min(x for x, _, _, _ in rects)
    bottom = min(y for _, y, _, _ in rects)
    size = round((max(x + w for x, _, w, _ in rects) - left) / module)
    matrix = [[False] * size for _ in range(size)]
    for x, y, w, _ in rects:
        row = size - 1 - round((y - bottom) / module)
        for column in range(round((x - left) / module), round((x + w - left) / module)):
            matrix[row][column] = True
    return [matrix]


@pytest.fixture
def fonts_reset() -> Iterator[None]:
    certificate_fonts.load_fonts.cache_clear()
    yield
    certificate_fonts.load_fonts.cache_clear()


def without_font_dirs(
    monkeypatch: pytest.MonkeyPatch, empty: Path, *, keep: Callable[[Path], bool]
) -> None:
    """Point every candidate font directory not kept at an empty one, as on a machine
    without those fonts."""
    monkeypatch.setattr(
        certificate_fonts,
        "FONT_CANDIDATES",
        tuple(
            (directory if keep(directory) else empty, files)
            for directory, files in certificate_fonts.FONT_CANDIDATES
        ),
    )


def test_certificate_pdf_lists_the_facts_of_the_part() -> None:
    # given
    view = make_view()

    # when
    pdf = certificate_pdf(view)

    # then
    reader = read(pdf)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Certificate of Conformance" in text
    for fact in (
        "CoC-2026-000142",
        "PF-42-0007",
        "Job #42 — Drone motor mount, left",
        "Customer Acme Drones",
        "Print shop Layer Works",
        "Process SLS",
        "Material PA12",
        "Machine EOS P 396 #2",
        "Material lot PA12-2026-0415",
        "Issue date 2026-05-07 09:00 UTC",
        "Overall length measured 2026-05-05 09:01 UTC 12.000 +0.050 / −0.020 12.011 mm",
        "Wall thickness measured 2026-05-05 09:02 UTC 12.000 +0.050 / −0.020 12.021 mm",
        "Result: FAIL — 1 of 2 characteristics not passing at the latest measurement "
        "(Wall thickness: out of tolerance).",
        "2026-05-04 09:00 Print started",
        "Inspection CMM program CP-118 rev C",
        "motor_mount_left_v3.stl",
        "Chain ID 31337",
        "Anyone can scan this code to check this certificate against the public chain, "
        "without an account.",
    ):
        assert fact in words(text), fact
    assert words(text).count("PASS") == 1
    assert words(text).count("FAIL") == 2  # the row and the result banner
    for hidden in (
        DESIGN_SHA256,
        VERIFY_URL,
        view.certificate_hash,
        view.anchor_contract,
        *(m.record_hash for m in view.measurements),
        *(e.record_hash for e in view.events),
    ):
        assert hidden is not None
        assert hidden in unbroken(text), hidden
    assert reader.metadata is not None
    assert reader.metadata.title == "Certificate of Conformance CoC-2026-000142"
    assert reader.metadata.creation_date == ISSUED_AT
    assert reader.pages[0].mediabox.width == pytest.approx(A4[0], abs=0.01)
    assert reader.pages[0].mediabox.height == pytest.approx(A4[1], abs=0.01)


def test_a_passing_retest_decides_and_the_failed_measurement_is_listed_as_superseded() -> None:
    # given: the hole measured out of tolerance, then re-measured within it (the verdict, as
    # printshops.quality.part_verdict hands it over, passes)
    failed = measurement(1, characteristic="Hole diameter", measured="3.30", passed=False)
    retest = dataclasses.replace(
        failed, measured="3.22", passed=True, measured_at=failed.measured_at + timedelta(hours=5)
    )
    view = make_view(
        verdict="pass",
        characteristics=[
            judged(failed, retest),
            judged(measurement(2, characteristic="Overall length")),
        ],
    )

    # when
    pdf = certificate_pdf(view)

    # then
    assert_within_margins(pdf)
    text = words("\n".join(page_texts(pdf)))
    assert (
        "Result: PASS — 2 characteristics, each within tolerance at its latest measurement. "
        "1 earlier measurement, superseded by a retest, is listed and not counted."
    ) in text
    assert (
        "1 Hole diameter measured 2026-05-05 14:01 UTC; retest, the latest: it decides "
        "12.000 +0.050 / −0.020 3.22 mm"
    ) in text
    assert (
        "2 Hole diameter measured 2026-05-05 09:01 UTC; superseded by a retest, not counted "
        "12.000 +0.050 / −0.020 3.30 mm Mitutoyo Crysta-Apex S 544 CMM fail"
    ) in text
    assert "FAIL" not in text
    assert text.count("PASS") == 3  # the banner and the two deciding rows
    assert "Measurement 2: Hole diameter" in text  # its record is anchored like any other


def test_a_failing_retest_decides_and_a_required_characteristic_not_measured_fails() -> None:
    passed = measurement(1, characteristic="Hole diameter", measured="3.22")
    failed = dataclasses.replace(
        passed, measured="3.30", passed=False, measured_at=passed.measured_at + timedelta(hours=5)
    )
    view = make_view(
        verdict="fail",
        characteristics=[
            judged(passed, failed),
            CertificateCharacteristic("Overall length", "not measured", None, []),
        ],
    )

    text = words("\n".join(page_texts(certificate_pdf(view))))

    assert (
        "Result: FAIL — 2 of 2 characteristics not passing at the latest measurement "
        "(Hole diameter: out of tolerance; Overall length: not measured)."
    ) in text
    assert "3.30 mm Mitutoyo Crysta-Apex S 544 CMM FAIL" in text
    assert "superseded by a retest, not counted 12.000 +0.050 / −0.020 3.22 mm" in text
    assert "Overall length required; not measured — — — FAIL" in text
    assert "PASS" not in text


def test_a_copy_made_before_its_anchors_are_final_says_where_to_see_their_state() -> None:
    # given: the certificate's own anchor not final yet when the PDF is made
    view = make_view(
        certificate_anchor="not anchored yet when this copy was made", anchors_final=False
    )

    # when
    pdf = certificate_pdf(view)

    # then: not a frozen "pending", but how to see the current state
    text = words("\n".join(page_texts(pdf)))
    note = (
        "Anchoring was still under way when this copy was made, and a printed or saved copy does "
        f"not update: scan the QR code or open {VERIFY_URL} to see each anchor's current state."
    )
    assert unbroken(text).count(unbroken(note)) == 2  # under the result and with the anchors
    assert "Certificate anchor not anchored yet when this copy was made" in text
    assert_within_margins(pdf)
    # and once every anchor is final, nothing of the kind
    final = words("\n".join(page_texts(certificate_pdf(make_view()))))
    assert "scan the QR code or open" not in final


def test_certificate_pdf_has_a_qr_code_of_the_verify_url_at_least_35_mm_wide() -> None:
    pdf = certificate_pdf(make_view())

    [matrix] = qr_matrices_in(pdf)
    expected = [
        [[bool(module) for module in row] for row in segno.make(VERIFY_URL, error=level).matrix]
        for level in "lmqh"
    ]
    assert matrix in expected
    reader = read(pdf)
    operations = ContentStream(reader.pages[0].get_contents(), reader).operations
    heights = [float(o[3]) for o, op in operations if op == b"re"]
    assert len(matrix) * min(h for h in heights if h > 0) >= 35 * mm
    links = [annot.get_object()["/A"]["/URI"] for annot in reader.pages[0]["/Annots"]]
    assert links and set(links) == {VERIFY_URL}


def test_certificate_pdf_is_the_same_for_the_same_view() -> None:
    assert certificate_pdf(make_view()) == certificate_pdf(make_view())


def test_many_measurements_run_onto_more_pages_with_the_header_repeated() -> None:
    # given
    long_name = "Flatness of mounting face A (datum A) measured across the full 120 mm span"
    many = [
        measurement(n, characteristic=f"{long_name} #{n:03d}")
        if n % 10 == 0
        else measurement(n, passed=n % 13 != 0)
        for n in range(1, 81)
    ]
    view = make_view(**judged_all(many), customer="Müller Präzision GmbH " * 6)

    # when
    pdf = certificate_pdf(view)

    # then
    texts = page_texts(pdf)
    assert len(texts) > 2
    total = len(texts)
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {total}" in text
        assert "CoC-2026-000142" in text
    measurement_pages = [t for t in texts if "Mitutoyo" in t]
    assert len(measurement_pages) > 1
    for text in measurement_pages:
        assert "Characteristic Nominal Tolerance Measured Unit Instrument Result" in words(text)
    everything = words("\n".join(texts))
    for m in many:
        assert m.characteristic in everything, m.characteristic
        assert m.record_hash in unbroken(everything)
    assert everything.count("PASS") == sum(m.passed for m in many)
    assert everything.count("FAIL") == 1 + sum(not m.passed for m in many)
    assert_within_margins(pdf)


def test_no_text_runs_past_the_margins() -> None:
    # given: texts far longer than their columns, and words with no place to break
    view = make_view(
        job_title="Bracket " + "T" * 150,
        customer="Müller Präzision GmbH & Co. KG, Werk Süd, " * 4,
        **judged_all(
            [
                measurement(1, characteristic="Very long characteristic name " * 8),
                measurement(2, instrument="Instrument-without-any-spaces-" * 5),
            ]
        ),
        events=[event(0, "Post-processing", "Bead blasted and dyed black. " * 60)],
        designs=[("a_design_file_name_without_spaces_" * 4 + ".stl", DESIGN_SHA256)],
        verify_url="https://printfair.example/verify/" + "a" * 120 + "/",
    )

    # when
    pdf = certificate_pdf(view)

    # then
    runs = assert_within_margins(pdf)
    text = words("\n".join(run.text for run in runs))
    assert unbroken("Bead blasted and dyed black. " * 60) in unbroken(text)
    assert unbroken(view.verify_url) in unbroken(text)
    assert unbroken(view.customer) in unbroken(text)


def non_ascii_view() -> CertificateView:
    return make_view(
        customer="Müller Präzision GmbH",
        shop="Łódź Additive Sp. z o.o.",
        machine="Třinec, Győr, Brașov, Țânțăreni",
        **judged_all(
            [
                measurement(
                    1,
                    characteristic="Ø bore ± 0.02",
                    unit="µm",
                    tolerance_minus="−5",
                    tolerance_plus="+5",
                )
            ]
        ),
        events=[event(0, "Inspection", "Temperature 20 °C, operator Zoë Ångström → OK ✓")],
    )


@pytest.mark.usefixtures("fonts_reset")
def test_non_ascii_text_renders_with_its_own_characters() -> None:
    require_dejavu()

    pdf = certificate_pdf(non_ascii_view())

    text = words("\n".join(page_texts(pdf)))
    for shown in (
        "Müller Präzision GmbH",
        "Łódź Additive Sp. z o.o.",
        "Třinec, Győr, Brașov, Țânțăreni",
        "Ø bore ± 0.02",
        "µm",
        "+5 / −5",
        "Temperature 20 °C, operator Zoë Ångström → OK ✓",
    ):
        assert shown in text, shown
    fonts = embedded_fonts(pdf)
    assert fonts & DEJAVU
    assert fonts <= DEJAVU | BUILT_IN
    assert_within_margins(pdf)


@pytest.mark.usefixtures("fonts_reset")
def test_without_dejavu_the_vera_reportlab_ships_stands_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given: a machine without fonts-dejavu-core
    without_font_dirs(monkeypatch, tmp_path, keep=lambda d: d != certificate_fonts.DEJAVU_DIR)

    # when
    pdf = certificate_pdf(non_ascii_view())

    # then: what Vera lacks becomes its base letter or an ASCII stand-in
    text = words("\n".join(page_texts(pdf)))
    for shown in (
        "Müller Präzision GmbH",
        "Łódz Additive",
        "Trinec, Gyor, Brasov, Tântareni",
        "Ø bore ± 0.02",
        "µm",
        "+5 / −5",
        "Temperature 20 °C, operator Zoë Ångström -> OK v",
    ):
        assert shown in text, shown
    fonts = embedded_fonts(pdf)
    assert fonts & VERA
    assert fonts <= VERA | BUILT_IN
    assert_within_margins(pdf)


def test_characters_no_font_has_become_question_marks() -> None:
    view = make_view(customer="東京精密 Precision")

    text = words("\n".join(page_texts(certificate_pdf(view))))

    assert "???? Precision" in text


@pytest.mark.usefixtures("fonts_reset")
def test_without_the_shipped_fonts_the_certificate_still_renders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given: no DejaVu and a reportlab whose font files were stripped, so only the built-in
    # Helvetica is left
    without_font_dirs(monkeypatch, tmp_path, keep=lambda _: False)
    view = make_view(
        customer="Müller Präzision GmbH",
        **judged_all([measurement(1, characteristic="Ø bore", unit="µm")]),
        events=[event(0, "Inspection", "Łódź → Zoë")],
    )

    # when
    pdf = certificate_pdf(view)

    # then: Latin-1 stays, the rest becomes its closest ASCII
    text = words("\n".join(page_texts(pdf)))
    assert "Müller Präzision GmbH" in text
    assert "Ø bore" in text
    assert "+0.050 / -0.020" in text
    assert "Lódz -> Zoë" in text
    assert embedded_fonts(pdf) <= BUILT_IN


def test_empty_sections_say_so() -> None:
    view = make_view(**judged_all([]), events=[], designs=[], machine="", material_lot="")

    text = words("\n".join(page_texts(certificate_pdf(view))))

    assert "Machine not reported" in text
    assert "Material lot not reported" in text
    assert "No production events were reported for this part." in text
    assert "No design files are listed." in text
    assert "No records to anchor." in text
    assert "FAIL" not in text
    assert "PASS" not in text


def test_qr_svg_is_an_inline_svg_element_of_the_url() -> None:
    svg = qr_svg(VERIFY_URL)

    assert svg.startswith("<svg ")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg
    assert 'viewBox="0 0 ' in svg
    assert " width=" not in svg.split(">", 1)[0]
    assert " height=" not in svg.split(">", 1)[0]
    # segno encodes the same URL into a symbol of the size the viewBox gives (plus quiet zone).
    width, height = segno.make(VERIFY_URL, error="m").symbol_size(scale=1, border=4)
    assert f'viewBox="0 0 {width} {height}"' in svg


def test_qr_svg_escapes_nothing_from_the_url_into_markup() -> None:
    svg = qr_svg('https://printfair.example/verify/x"><script>alert(1)</script>/')

    assert "<script" not in svg
