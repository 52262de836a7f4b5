"""Evidence files (a dispute's, a shop's photos and measurement sheets): stored with their hash
for the record that cites them, and removed again when the service that stored them fails."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from config.errors import DomainError
from marketplace.models import Order

EVIDENCE_MAX_BYTES = 20 * 1024 * 1024

P = ParamSpec("P")
R = TypeVar("R")

# The evidence files stored by the service running in this context (see files_kept_on_success).
_stored_blobs: ContextVar[list[str] | None] = ContextVar("stored_blobs", default=None)


def files_kept_on_success(service: Callable[P, R]) -> Callable[P, R]:
    """For a service that stores files (evidence_store) and writes the rows that cite them in its
    transaction (put this above its @transaction.atomic): when it raises, its transaction is
    rolled back and the files it stored are removed, so a refused or failed request never leaves
    a file that no row cites."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        stored: list[str] = []
        token = _stored_blobs.set(stored)
        try:
            return service(*args, **kwargs)
        except BaseException:
            for blob in stored:
                with contextlib.suppress(OSError):
                    default_storage.delete(blob)
            raise
        finally:
            _stored_blobs.reset(token)

    return run


def evidence_store(
    order: Order, upload: UploadedFile[bytes], *, field: str = "evidence"
) -> dict[str, str | int]:
    """Keep an evidence file of `order` (a dispute's, or a shop's photo or measurements): its
    storage name, SHA-256 and size, for the record that cites it. Only within a service marked
    files_kept_on_success, which removes the file again if the service fails."""
    stored = _stored_blobs.get()
    if stored is None:
        raise RuntimeError("evidence_store needs a service marked @files_kept_on_success")
    size = upload.size or 0
    name = upload.name or "evidence"
    if size > EVIDENCE_MAX_BYTES:
        message = f"{name} is larger than {EVIDENCE_MAX_BYTES // (1024 * 1024)} MiB."
        raise DomainError(message, fields={field: [message]})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    blob = default_storage.save(f"evidence/{order.job_id}/{uuid.uuid4().hex}", upload)
    stored.append(blob)
    return {"name": name[:200], "blob": blob, "sha256": digest.hexdigest(), "size_bytes": size}
