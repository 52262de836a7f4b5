"""Browser views for design files: the upload (encrypted as it streams in), the files table,
download and delete; and a design's public proof of existence."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from config.errors import DomainError
from marketplace import selectors, services
from marketplace.models import Job
from marketplace.uploads import EncryptedUpload, EncryptingUploadHandler
from marketplace.views.common import is_htmx, request_user
from printfair.envelope import EnvelopeError

# The largest design file the job page offers to preview in 3D: the browser holds the whole
# decrypted file and its mesh in memory (about 3 times the STL's size) while it shows it.
PREVIEW_MAX_BYTES = 64 * 1024 * 1024


def files_context(job: Job, **extra: Any) -> dict[str, Any]:
    files = list(selectors.design_file_list_for_job(job=job))
    registering = any(f.registration and not f.registration.is_settled for f in files)
    return {
        "job": job,
        "files": files,
        "registering": registering,
        "preview_max_bytes": PREVIEW_MAX_BYTES,
        **extra,
    }


@login_required
@require_GET
def design_file_table(request: HttpRequest, job_id: int) -> HttpResponse:
    """The files table alone: the job page polls it while registrations are on their way."""
    job = selectors.job_get_for_user(user=request_user(request), job_id=job_id)
    return render(request, "marketplace/partials/design_files.html", files_context(job))


@csrf_exempt  # CSRF is checked by _receive_files, once our upload handler is in place.
@login_required
@require_POST
def design_file_upload(request: HttpRequest, job_id: int) -> HttpResponse:
    """Receive design files. Ownership is checked before a byte of the body is read, and the
    upload handler must be installed before the body is parsed (hence the CSRF split)."""
    job = selectors.job_get_for_user(user=request_user(request), job_id=job_id)
    if not job.is_editable:
        # Refuse before reading the body, rather than encrypting files only to drop them.
        message = "Files can only be added while the job is a draft."
        if is_htmx(request):
            return render(
                request,
                "marketplace/partials/design_files.html",
                files_context(job, errors=[message]),
            )
        messages.error(request, message)
        return redirect("job_detail", job_id=job.pk)
    handler = EncryptingUploadHandler(request)
    request.upload_handlers = [handler]
    return _receive_files(request, job, handler)


@csrf_protect
def _receive_files(
    request: HttpRequest, job: Job, handler: EncryptingUploadHandler
) -> HttpResponse:
    user = request_user(request)
    uploads = request.FILES.getlist("files")  # parses the body, running the handler
    errors = list(handler.errors)
    added = []
    for upload in uploads:
        assert isinstance(upload, EncryptedUpload)  # noqa: S101 - the only handler installed
        try:
            added.append(services.design_file_attach(actor=user, job=job, upload=upload))
        except DomainError as exc:
            errors.append(exc.message)
    if not uploads and not errors:
        errors.append("Choose one or more files to upload.")
    if is_htmx(request):
        job.refresh_from_db()
        return render(
            request,
            "marketplace/partials/design_files.html",
            files_context(job, errors=errors, added=added),
        )
    for message in errors:
        messages.error(request, message)
    if added:
        messages.success(request, f"Uploaded {len(added)} file{'s' if len(added) != 1 else ''}.")
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_GET
def design_file_download(request: HttpRequest, job_id: int, file_id: uuid.UUID) -> HttpResponseBase:
    user = request_user(request)
    design_file = selectors.design_file_get_for_user(user=user, job_id=job_id, file_id=file_id)
    try:
        stream = services.design_file_plaintext(actor=user, design_file=design_file)
    except EnvelopeError:
        messages.error(request, "This file cannot be decrypted; the operators have been told.")
        return redirect("job_detail", job_id=job_id)
    response = StreamingHttpResponse(stream, content_type="application/octet-stream")
    response["Content-Length"] = str(design_file.size_bytes)
    response["Content-Disposition"] = content_disposition_header(True, design_file.original_name)
    return response


@login_required
@require_POST
def design_file_delete(request: HttpRequest, job_id: int, file_id: uuid.UUID) -> HttpResponse:
    user = request_user(request)
    design_file = selectors.design_file_get_for_user(user=user, job_id=job_id, file_id=file_id)
    try:
        services.design_file_delete(actor=user, design_file=design_file)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Removed “{design_file.original_name}”.")
    return HttpResponseRedirect(reverse("job_detail", args=[job_id]))


@require_GET
def design_proof(request: HttpRequest, sha256: str) -> HttpResponse:
    """Public: a design's proof of existence, and how to check it without PrintFair."""
    proof = selectors.design_proof(sha256=sha256, viewer=request.user)
    return render(request, "marketplace/design_proof.html", {"proof": proof})
