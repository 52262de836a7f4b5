"""The marketplace's anchored records (see ledger/records.py)."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.records import Record, record_kind
from marketplace.models import DesignFile


def _published_design_file_ids() -> Iterable[str]:
    # Files are fixed once their job is published; that is when they are anchored.
    ids = DesignFile.objects.filter(job__published_at__isnull=False).values_list("pk", flat=True)
    return (str(pk) for pk in ids)


def design_file_record(design_file: DesignFile) -> Record:
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


@record_kind("design_file", expected_ids=_published_design_file_ids)
def build_design_file_record(record_id: str) -> Record | None:
    design_file = DesignFile.objects.select_related("job").filter(pk=record_id).first()
    return design_file_record(design_file) if design_file is not None else None
