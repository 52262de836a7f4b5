"""Certificates of conformance as a page and a PDF (DESIGN.md section 3 step 10): what a part's
verdict, measurements and production events were, with their anchors, and the QR code of the
public verification page."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from ledger.services.verification import AnchorState
from marketplace.views.common import request_user
from printfair.canonical import record_hash
from printshops import selectors as shop_selectors
from printshops.certificates import (
    CertificateCharacteristic,
    CertificateEvent,
    CertificateMeasurement,
    CertificateView,
    certificate_pdf,
    qr_svg,
)
from printshops.models import Certificate, PartRecord
from printshops.quality import MACHINE_ATTESTED
from printshops.records import certificate_content
from printshops.views.verification import anchor_contract


def _anchor_text(state: AnchorState) -> str:
    """An anchor's state as the page or PDF shows it: a state that can still change says so,
    since a saved or printed copy keeps it (the verification page has the current one)."""
    if state.state == "final":
        return f"block {state.block_number} on chain {settings.CHAIN_ID}, tx {state.tx_hash}"
    if state.state == "included":
        return f"block {state.block_number}, not final when this copy was made; tx {state.tx_hash}"
    return "not anchored yet when this copy was made"


def _measurement(item: shop_selectors.IncludedCheck) -> CertificateMeasurement:
    record = item.record
    assert record is not None  # noqa: S101 - the verdict holds only records that are there
    data = record.data
    return CertificateMeasurement(
        characteristic=record.characteristic,
        unit=str(data.get("unit", "")),
        nominal=str(data.get("nominal", "")),
        tolerance_minus=str(data.get("tolerance_minus", "")),
        tolerance_plus=str(data.get("tolerance_plus", "")),
        measured=str(data.get("measured", "")),
        instrument=str(data.get("instrument", "")),
        passed=bool(record.passed),
        measured_at=record.occurred_at,
        record_hash=item.check.anchor.record_hash or "",
        anchor=_anchor_text(item.check.anchor),
    )


def _certificate_view(request: HttpRequest, certificate: Certificate) -> CertificateView:
    order = certificate.order
    job = order.job
    verification = shop_selectors.verification_for(subject=certificate, on_chain=False)
    verdict = verification.verdict
    assert verdict is not None  # noqa: S101 - a certificate's verification has its verdict
    listed = {item.record_id: item for item in verification.included}
    characteristics = [
        CertificateCharacteristic(
            characteristic=item.characteristic,
            status=item.status,
            latest=_measurement(listed[str(item.latest.pk)]) if item.latest else None,
            superseded=[_measurement(listed[str(record.pk)]) for record in item.superseded],
        )
        for item in verdict.characteristics
        # A required machine-attested print is no measurement: its records are the events below.
        if item.characteristic != MACHINE_ATTESTED
    ]
    events: list[CertificateEvent] = []
    machine = material_lot = ""
    for item in verification.included:
        record = item.record
        if record is None or record.kind == PartRecord.Kind.QUALITY:
            continue
        anchor = _anchor_text(item.check.anchor)
        digest = item.check.anchor.record_hash or ""
        if record.kind in (PartRecord.Kind.PRINT_STARTED, PartRecord.Kind.PRINT_FINISHED):
            machine = str(record.data.get("machine", machine))
            material_lot = str(record.data.get("material_lot", material_lot))
        events.append(
            CertificateEvent(
                kind_label=record.get_kind_display(),
                occurred_at=record.occurred_at,
                summary=", ".join(
                    f"{key.replace('_', ' ')}: {value}" for key, value in record.data.items()
                ),
                record_hash=digest,
                anchor=anchor,
                reported_by=record.reported_by,
            )
        )
    return CertificateView(
        certificate_id=str(certificate.pk),
        part_serial=certificate.part_serial,
        job_id=job.pk,
        job_title=job.title,
        customer=job.organization.name,
        shop=order.shop.name,
        process=job.get_process_display(),
        material=job.get_material_display(),
        machine=machine,
        material_lot=material_lot,
        designs=list(job.files.order_by("original_name").values_list("original_name", "sha256")),
        verdict=verdict.status,
        characteristics=characteristics,
        events=events,
        issued_at=certificate.issued_at,
        # The hash that was anchored (what the QR's page checks), else the one to be anchored.
        certificate_hash=verification.check.anchor.record_hash
        or "0x" + record_hash(certificate_content(certificate)).hex(),
        certificate_anchor=_anchor_text(verification.check.anchor),
        verify_url=request.build_absolute_uri(reverse("verify_record", args=[certificate.pk])),
        chain_id=settings.CHAIN_ID,
        anchor_contract=anchor_contract(),
        anchors_final=all(
            check.anchor.is_final
            for check in (verification.check, *(item.check for item in verification.included))
        ),
    )


@login_required
@require_GET
def certificate_detail(
    request: HttpRequest, job_id: int, certificate_id: uuid.UUID
) -> HttpResponse:
    certificate = shop_selectors.certificate_for_user(
        user=request_user(request), job_id=job_id, certificate_id=certificate_id
    )
    view = _certificate_view(request, certificate)
    return render(
        request,
        "printshops/certificate.html",
        {"certificate": certificate, "view": view, "qr": qr_svg(view.verify_url)},
    )


@login_required
@require_GET
def certificate_download(
    request: HttpRequest, job_id: int, certificate_id: uuid.UUID
) -> HttpResponse:
    certificate = shop_selectors.certificate_for_user(
        user=request_user(request), job_id=job_id, certificate_id=certificate_id
    )
    response = HttpResponse(
        certificate_pdf(_certificate_view(request, certificate)), content_type="application/pdf"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"certificate-{job_id}-{certificate.part_serial}.pdf"
    )
    return response
