"""The marketplace's anchored records (see ledger/records.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ledger.records import RecordContent, record_kind_batched, rows_in, uuid_ids
from marketplace.models import DesignFile, Job


def _published_design_file_ids() -> Iterable[str]:
    # Files are fixed once their job is published; that is when they are anchored.
    ids = DesignFile.objects.filter(job__published_at__isnull=False).values_list("pk", flat=True)
    return (str(pk) for pk in ids)


def design_file_content(design_file: DesignFile) -> RecordContent:
    return {
        "kind": "design_file",
        "file_id": str(design_file.pk),
        "job": design_file.job_id,
        "organization": design_file.job.organization_id,
        "name": design_file.original_name,
        "sha256": design_file.sha256,
        "size_bytes": design_file.size_bytes,
        "uploaded_at": design_file.created_at.isoformat(),
    }


def job_spec_content(job: Job) -> RecordContent:
    """What a customer commits to when publishing: the spec and its files' hashes. Its hash is
    the auction's spec hash on chain, so a shop can check the job it bids on was not changed.
    A quality gate is part of the spec when there is one, and so is the requirement of
    machine-attested prints (jobs without them hash as before)."""
    gate = {"required_characteristics": job.required_characteristics}
    attested = {"requires_machine_attestation": True}
    return {
        **(gate if job.required_characteristics else {}),
        **(attested if job.requires_machine_attestation else {}),
        "kind": "job_spec",
        "job": job.pk,
        "title": job.title,
        "description": job.description,
        "process": job.process,
        "material": job.material,
        "quantity": job.quantity,
        "spares": job.spares,
        "tolerance_mm": str(job.tolerance_mm),
        "finish": job.finish,
        "required_certifications": sorted(job.required_certifications),
        # The key is as it was anchored from the start: old records must still verify.
        "delivery_deadline": job.needed_by.isoformat(),
        "reserve_price": str(job.reserve_price),
        "commit_deadline": job.commit_deadline.isoformat(),
        "reveal_deadline": job.reveal_deadline.isoformat(),
        "pricing_rule": job.pricing_rule,
        "files": sorted(job.files.values_list("sha256", flat=True)),
    }


@record_kind_batched("design_file", expected_ids=_published_design_file_ids)
def design_file_contents(record_ids: Sequence[str]) -> dict[str, RecordContent]:
    files = DesignFile.objects.select_related("job").filter(pk__in=rows_in(uuid_ids(record_ids)))
    return {str(design_file.pk): design_file_content(design_file) for design_file in files}
