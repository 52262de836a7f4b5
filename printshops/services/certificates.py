"""Certificates of conformance (DESIGN.md section 3 step 11): when the escrow is released, each
part with a shipped event whose verdict passes (the quality gate's, printshops/quality.py) gets
one, listing its records (printshops/services/production.py) as they are then, anchored as a
record itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.db import transaction

from ledger.models import RecordLeaf
from ledger.services.anchoring import record_leaf_add
from marketplace.models import Order
from marketplace.services.audit import audit_record
from printshops.models import Certificate, PartRecord
from printshops.quality import Result, part_verdict
from printshops.records import certificate_content, part_record_altered


def _changed_since(hashes: Mapping[str, str]) -> Callable[[PartRecord], bool]:
    """Whether a record changed since it was queued for anchoring with the hash in `hashes`."""
    return lambda record: part_record_altered(record, hashes.get(str(record.pk)))


@transaction.atomic
def certificates_issue(*, order: Order) -> list[Certificate]:
    """The escrow of `order` was released: a certificate of conformance for each part that was
    shipped and whose verdict passes, listing its records as they are now. Idempotent.

    The verdict is the quality gate's own (printshops.quality.part_verdict, with the job's
    required characteristics): a part with a characteristic failing or not measured at its
    latest measurement, or whose deciding measurement changed since it was anchored, gets no
    certificate (the refusal is audited), so no certificate says other than the gate. The one
    condition of the gate not awaited is finality: issuing happens once, at release, and the
    certificate's verification page shows each anchor's state as it is when it is opened."""
    shipped = (
        PartRecord.objects.filter(order=order, kind=PartRecord.Kind.SHIPPED)
        .values_list("part_serial", flat=True)
        .distinct()
    )
    required = order.job.required_characteristics or []
    attested = order.job.requires_machine_attestation
    issued = []
    for serial in sorted(set(shipped)):
        if Certificate.objects.filter(order=order, part_serial=serial).exists():
            continue
        part_records = list(
            PartRecord.objects.filter(order=order, part_serial=serial)
            .select_related("order")
            .prefetch_related("evidence")
            .order_by("seq")
        )
        ids = [str(record.pk) for record in part_records]
        hashes = dict(
            RecordLeaf.objects.filter(kind="part_record", record_id__in=ids).values_list(
                "record_id", "record_hash"
            )
        )
        verdict = part_verdict(
            part_records, required=required, altered=_changed_since(hashes), attested=attested
        )
        if verdict.status == Result.FAILED:
            audit_record(
                actor=None,
                verb="certificate.withheld",
                target=order,
                part=serial,
                characteristics={
                    item.characteristic: str(item.status) for item in verdict.not_passing
                },
            )
            continue
        records = [{"id": pk, "record_hash": hashes.get(pk, "")} for pk in ids]
        certificate = Certificate.objects.create(order=order, part_serial=serial, records=records)
        certificate = Certificate.objects.select_related("order__job").get(pk=certificate.pk)
        record_leaf_add(
            kind="certificate",
            record_id=str(certificate.pk),
            record=certificate_content(certificate),
        )
        audit_record(actor=None, verb="certificate.issued", target=certificate, part=serial)
        issued.append(certificate)
    return issued
