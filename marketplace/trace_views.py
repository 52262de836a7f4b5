"""Track and trace pages (DESIGN.md section 3 steps 9 to 11): the order's production timeline (a
partial the job page polls), the public verification page of a record or certificate with its
proof bundle, and certificates of conformance as a page and a PDF."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from ledger.contracts import ContractNotDeployed, contract_address
from ledger.models import RecordLeaf
from ledger.services.verification import AnchorState
from marketplace import selectors
from marketplace.certificates import (
    CertificateCharacteristic,
    CertificateEvent,
    CertificateMeasurement,
    CertificateView,
    certificate_pdf,
    qr_svg,
)
from marketplace.models import Job, Order, User
from marketplace.services.quality_gate import quality_gate
from printfair.canonical import record_hash
from printshops import selectors as shop_selectors
from printshops.models import Certificate, PartRecord
from printshops.records import certificate_record


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


def production_context(job: Job, *, timeline_url: str) -> dict[str, Any]:
    """What a job's production section shows (the customer's job page, the shop's order page):
    each part's timeline and the quality gate; `timeline_url` is where the timeline polls for
    itself."""
    order = Order.objects.filter(job=job).select_related("job").first()
    if order is None:
        return {"timelines": [], "gate": None, "polling": False, "timeline_url": timeline_url}
    timelines = shop_selectors.order_part_timelines(order=order)
    producing = order.status in (Order.Status.FUNDED, Order.Status.DELIVERED, Order.Status.DISPUTED)
    anchoring = any(not entry.anchor.is_final for part in timelines for entry in part.entries)
    return {
        "timelines": timelines,
        # Certificates are issued at release for the parts reported shipped whose verdict
        # passes (certificates_issue); a shipped part without one says why (its verdict).
        "released": order.status == Order.Status.RELEASED,
        "no_certificates": order.status == Order.Status.RELEASED
        and not any(part.certificate or part.shipped for part in timelines),
        "gate": quality_gate(order=order) if job.required_characteristics else None,
        # Poll while records may still arrive or their anchors are not final.
        "polling": producing or anchoring,
        "timeline_url": timeline_url,
    }


@login_required
@require_GET
def job_production_timeline(request: HttpRequest, job_id: int) -> HttpResponse:
    """The production timeline alone: the job page polls it while the shop is producing."""
    job = selectors.job_get_for_user(user=_user(request), job_id=job_id)
    return production_timeline_response(request, job)


def production_timeline_response(request: HttpRequest, job: Job) -> HttpResponse:
    """The production timeline alone, as a page polls it at its own address (the quality gate's
    badge swapped out of band)."""
    return render(
        request,
        "marketplace/partials/production_timeline.html",
        {"job": job, "oob": True, **production_context(job, timeline_url=request.path)},
    )


@login_required
@require_GET
def evidence_download(request: HttpRequest, job_id: int, evidence_id: uuid.UUID) -> FileResponse:
    """An evidence file of the customer's job (or the shop's own order)."""
    evidence = shop_selectors.evidence_for_user(
        user=_user(request), job_id=job_id, evidence_id=evidence_id
    )
    return stored_evidence_response(evidence.blob, evidence.name, evidence.content_type)


def stored_evidence_response(blob: str, name: str, content_type: str) -> FileResponse:
    """A stored evidence file as sent by a shop or customer: photos shown inline, anything else
    downloaded, and nothing in it run by the browser."""
    try:
        handle = default_storage.open(blob, "rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = FileResponse(
        handle,
        content_type=content_type,
        filename=name,
        as_attachment=not content_type.startswith("image/"),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
    return response


# --- public verification -----------------------------------------------------------------------


def _anchor_contract() -> str | None:
    try:
        return contract_address("RecordAnchor", settings.CHAIN_ID)
    except ContractNotDeployed:
        return None


@require_GET
def verify_record(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    """Public, no login: a record or certificate checked against the chain, now."""
    try:
        subject = shop_selectors.public_record(record_id=record_id)
    except Http404:
        if not RecordLeaf.objects.filter(record_id=str(record_id)).exists():
            raise
        # Anchored once, gone now: that is a verification failure, not an unknown id.
        return render(
            request, "marketplace/verify_removed.html", {"record_id": record_id}, status=410
        )
    verification = shop_selectors.verification_for(subject=subject)
    return render(
        request,
        "marketplace/verify.html",
        {
            "verification": verification,
            "subject": subject,
            "is_certificate": isinstance(subject, Certificate),
            "anchor_contract": _anchor_contract(),
            "chain_id": settings.CHAIN_ID,
            "rpc_url": settings.CHAIN_PUBLIC_RPC_URL,
            "page_url": request.build_absolute_uri(),
        },
    )


@require_GET
def verify_check(request: HttpRequest, record_id: uuid.UUID) -> HttpResponse:
    """Public: the verdict alone (the timeline's Verify buttons load it)."""
    subject = shop_selectors.public_record(record_id=record_id)
    verification = shop_selectors.verification_for(subject=subject)
    return render(
        request,
        "marketplace/partials/verify_result.html",
        {"verification": verification, "subject": subject},
    )


@require_GET
def verify_proof(request: HttpRequest, record_id: uuid.UUID) -> JsonResponse:
    """Public: the proof bundle to check with `printfair verify FILE --rpc URL`."""
    subject = shop_selectors.public_record(record_id=record_id)
    response = JsonResponse(shop_selectors.proof_bundle_for(subject=subject))
    response["Content-Disposition"] = f'inline; filename="printfair-proof-{record_id}.json"'
    return response


# --- certificates ------------------------------------------------------------------------------


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
        or "0x" + record_hash(certificate_record(certificate)).hex(),
        certificate_anchor=_anchor_text(verification.check.anchor),
        verify_url=request.build_absolute_uri(reverse("verify_record", args=[certificate.pk])),
        chain_id=settings.CHAIN_ID,
        anchor_contract=_anchor_contract(),
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
        user=_user(request), job_id=job_id, certificate_id=certificate_id
    )
    view = _certificate_view(request, certificate)
    return render(
        request,
        "marketplace/certificate.html",
        {"certificate": certificate, "view": view, "qr": qr_svg(view.verify_url)},
    )


@login_required
@require_GET
def certificate_download(
    request: HttpRequest, job_id: int, certificate_id: uuid.UUID
) -> HttpResponse:
    certificate = shop_selectors.certificate_for_user(
        user=_user(request), job_id=job_id, certificate_id=certificate_id
    )
    response = HttpResponse(
        certificate_pdf(_certificate_view(request, certificate)), content_type="application/pdf"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"certificate-{job_id}-{certificate.part_serial}.pdf"
    )
    return response
