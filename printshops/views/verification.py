"""The public verification of a production record or certificate (DESIGN.md section 3 step 11):
no login, checked against the chain now, with its proof bundle for `printfair verify`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ledger.contracts import ContractNotDeployed, contract_address
from ledger.models import RecordLeaf
from printshops import selectors as shop_selectors
from printshops.models import Certificate


def anchor_contract() -> str | None:
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
            request, "printshops/verify_removed.html", {"record_id": record_id}, status=410
        )
    verification = shop_selectors.verification_for(subject=subject)
    return render(
        request,
        "printshops/verify.html",
        {
            "verification": verification,
            "subject": subject,
            "is_certificate": isinstance(subject, Certificate),
            "anchor_contract": anchor_contract(),
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
        "printshops/partials/verify_result.html",
        {"verification": verification, "subject": subject},
    )


@require_GET
def verify_proof(request: HttpRequest, record_id: uuid.UUID) -> JsonResponse:
    """Public: the proof bundle to check with `printfair verify FILE --rpc URL`."""
    subject = shop_selectors.public_record(record_id=record_id)
    response = JsonResponse(shop_selectors.proof_bundle_for(subject=subject))
    response["Content-Disposition"] = f'inline; filename="printfair-proof-{record_id}.json"'
    return response
