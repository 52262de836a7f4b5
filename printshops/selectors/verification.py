"""Public verification of a part record or certificate: the record by id (no login), its check
against the anchors and the chain, and the proof bundle to check it elsewhere."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404

from ledger.services.verification import (
    RecordCheck,
    proof_bundle,
    record_check,
)
from printfair.machine_events import MachineEventError, attested_signer
from printshops.models import (
    Certificate,
    PartRecord,
)
from printshops.quality import PartVerdict, part_verdict


def public_record(*, record_id: uuid.UUID) -> PartRecord | Certificate:
    """A part record or certificate by its id, for the public verification page: its id is the
    capability (random, printed on the certificate's QR code)."""
    found: PartRecord | Certificate | None = (
        PartRecord.objects.select_related("order__job", "order__shop")
        .prefetch_related("evidence")
        .filter(pk=record_id)
        .first()
    )
    if found is None:
        found = (
            Certificate.objects.select_related("order__job__organization", "order__shop")
            .filter(pk=record_id)
            .first()
        )
    if found is None:
        raise Http404("No record or certificate has this id.")
    return found


@dataclass(frozen=True)
class IncludedCheck:
    """A record a certificate lists: the record now (None if gone), its check, and whether it is
    still the record the certificate listed."""

    record_id: str
    record: PartRecord | None
    check: RecordCheck
    as_listed: bool


@dataclass(frozen=True)
class Verification:
    subject: PartRecord | Certificate
    check: RecordCheck
    included: list[IncludedCheck] = field(default_factory=list)
    # A certificate's verdict over the records it lists (printshops.quality.part_verdict, as the
    # quality gate decides): a listed record changed since, or no longer the one listed, decides
    # nothing.
    verdict: PartVerdict | None = None
    #: A machine-attested record's machine signature: the key that signed it, or what is wrong.
    machine_signer: str | None = None
    machine_problem: str | None = None

    @property
    def status(self) -> str:
        """The page's verdict: "failed" if anything failed, else "verified" once every part is
        verified, else the first of "unreachable" and "pending"."""
        checks = [self.check, *(item.check for item in self.included)]
        if any(check.failed for check in checks) or not all(i.as_listed for i in self.included):
            return "failed"
        if self.machine_problem:
            return "failed"
        for status in ("unreachable", "pending"):
            if any(check.status == status for check in checks):
                return status
        return "verified"


def verification_for(*, subject: PartRecord | Certificate, on_chain: bool = True) -> Verification:
    """Check a record (or a certificate and every record it lists) against what was anchored
    and, when `on_chain`, against the roots on chain."""
    roots: dict[str, int] = {}
    if isinstance(subject, PartRecord):
        check = record_check("part_record", str(subject.pk), on_chain=on_chain, roots=roots)
        if not subject.attestation:
            return Verification(subject, check)
        try:
            signer = attested_signer(subject.attestation)
        except MachineEventError as exc:
            return Verification(subject, check, machine_problem=str(exc))
        return Verification(subject, check, machine_signer=signer)
    check = record_check("certificate", str(subject.pk), on_chain=on_chain, roots=roots)
    records = {
        str(record.pk): record
        for record in PartRecord.objects.filter(
            order=subject.order, pk__in=[entry["id"] for entry in subject.records]
        ).prefetch_related("evidence")
    }
    included = []
    for entry in subject.records:
        record_id = str(entry["id"])
        item_check = record_check("part_record", record_id, on_chain=on_chain, roots=roots)
        included.append(
            IncludedCheck(
                record_id=record_id,
                record=records.get(record_id),
                check=item_check,
                as_listed=item_check.anchor.record_hash == entry.get("record_hash"),
            )
        )
    untrusted = {
        item.record_id for item in included if item.check.status == "altered" or not item.as_listed
    }
    verdict = part_verdict(
        [item.record for item in included if item.record is not None],
        required=subject.order.job.required_characteristics or [],
        attested=subject.order.job.requires_machine_attestation,
        altered=lambda record: str(record.pk) in untrusted,
    )
    return Verification(subject, check, included, verdict)


def proof_bundle_for(*, subject: PartRecord | Certificate) -> dict[str, Any]:
    """The subject's proof bundle (printfair/proofs.py); a certificate's includes its records'."""
    if isinstance(subject, PartRecord):
        bundle = proof_bundle("part_record", str(subject.pk))
    else:
        included = [
            item
            for item in (proof_bundle("part_record", str(entry["id"])) for entry in subject.records)
            if item is not None
        ]
        bundle = proof_bundle("certificate", str(subject.pk), included=included)
    if bundle is None:
        raise Http404("No record or certificate has this id.")
    return bundle
