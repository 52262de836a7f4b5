"""The shop API for won jobs' designs (DESIGN.md section 3 step 8): the releases (HPKE-wrapped
data keys, printfair/hpke.py), the ciphertext (streamed, with HTTP range requests so that a broken
download resumes) and print tickets."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from typing import IO, Any, cast

from django.core.files.storage import default_storage
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import JOB_ID_PARAMETER, Text, answered_in_its_transaction, query_id
from marketplace.models import User
from marketplace.uploads import DOWNLOAD_CHUNK_BYTES
from printfair.envelope import ciphertext_size
from printshops import selectors, services
from printshops.apis.permissions import HasScope, IsVerifiedShop
from printshops.models import ApiKey, DesignRelease, PrintTicket

RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class LicenceOutput(serializers.Serializer):  # type: ignore[type-arg]
    prints_allowed = serializers.IntegerField()
    prints_taken = serializers.IntegerField()
    open = serializers.BooleanField(source="is_open")
    closed_at = serializers.DateTimeField(allow_null=True)


class ReleaseOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A design released to your shop: unwrap `wrapped_key` with your HPKE private key (info:
    job, `shop`, file id; printfair/hpke.py), then decrypt the ciphertext with it."""

    id = serializers.UUIDField(source="design_file_id")
    job = serializers.IntegerField(source="licence.order.job_id")
    title = Text(source="licence.order.job.title")
    shop = serializers.IntegerField(source="licence.organization_id")
    file_name = Text(source="design_file.original_name")
    sha256 = Text(source="design_file.sha256")
    size_bytes = serializers.IntegerField(source="design_file.size_bytes")
    ciphertext_bytes = serializers.SerializerMethodField()
    kem = Text(source="hpke_kem")
    wrapped_key = serializers.SerializerMethodField(help_text="Base64")
    revoked = serializers.SerializerMethodField()
    licence = LicenceOutput()

    class Meta:
        model = DesignRelease
        fields = [
            "id",
            "job",
            "title",
            "shop",
            "file_name",
            "sha256",
            "size_bytes",
            "ciphertext_bytes",
            "kem",
            "wrapped_key",
            "revoked",
            "licence",
            "created_at",
        ]

    def get_ciphertext_bytes(self, release: DesignRelease) -> int:
        # Derived from the plaintext size: listing costs no storage call per file.
        return ciphertext_size(release.design_file.size_bytes)

    def get_wrapped_key(self, release: DesignRelease) -> str:
        return base64.b64encode(bytes(release.wrapped_key)).decode()

    def get_revoked(self, release: DesignRelease) -> bool:
        return release.revoked_at is not None


class ReleaseListApi(generics.ListAPIView):  # type: ignore[type-arg]
    """The designs released to your shop (`?job=` for one job's)."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.DESIGNS_READ
    serializer_class = ReleaseOutput

    @extend_schema(parameters=[JOB_ID_PARAMETER])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI document is being made
            return DesignRelease.objects.none()
        return selectors.releases_for_shop(
            user=cast(User, self.request.user), job_id=query_id(self.request, "job")
        )


class ReleaseCiphertextApi(APIView):
    """The released design's ciphertext, streamed. Send `Range: bytes=N-` to resume a broken
    download (206 Partial Content); `If-Range` with the ETag makes sure it is the same file."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.DESIGNS_READ

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The body is the file itself, not rendered; errors come as JSON whatever the client
        # accepts (application/octet-stream included).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="releases_ciphertext",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            (206, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
        },
    )
    def get(self, request: Request, file_id: uuid.UUID) -> HttpResponseBase:
        release = selectors.release_for_download(user=cast(User, request.user), file_id=file_id)
        design_file = release.design_file
        size = int(default_storage.size(design_file.blob))
        etag = f'"{design_file.pk}"'  # a file's ciphertext never changes
        start, end = 0, size - 1
        header = request.headers.get("Range", "")
        if_range = request.headers.get("If-Range")
        match = RANGE.match(header.strip()) if header else None
        # A range of another form (suffix, several) is ignored, as RFC 9110 allows: the whole file.
        if match is not None and (if_range is None or if_range == etag):
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) else size - 1
            if first >= size or last < first:
                refused = HttpResponse(status=416)
                refused["Content-Range"] = f"bytes */{size}"
                return refused
            start, end = first, min(last, size - 1)
        handle = default_storage.open(design_file.blob, "rb")
        handle.seek(start)
        response = StreamingHttpResponse(
            _chunks(handle, end - start + 1),
            status=206 if (start, end) != (0, size - 1) else 200,
            content_type="application/octet-stream",
        )
        response["Content-Length"] = str(end - start + 1)
        response["Accept-Ranges"] = "bytes"
        response["ETag"] = etag
        response["Content-Disposition"] = content_disposition_header(
            True, f"{design_file.original_name}.pfenc"
        )
        if response.status_code == 206:
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
        return response


def _chunks(handle: IO[bytes], length: int) -> Iterator[bytes]:
    with handle:
        while length > 0:
            chunk = handle.read(min(DOWNLOAD_CHUNK_BYTES, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


class PrintTicketOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    prints_allowed = serializers.IntegerField(source="licence.prints_allowed")

    class Meta:
        model = PrintTicket
        # The id names the ticket anywhere: its anchored record, and a machine's agent
        # (`printfair agent expect … --ticket ID`) printing it.
        fields = ["id", "number", "prints_allowed", "machine", "part_serial", "created_at"]


class JobPrintTicketsApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Print tickets for a job your shop won: take one per print (refused once the licence's
    prints are all taken, or the licence closed), or list them (paginated, in order)."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE
    serializer_class = PrintTicketOutput

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI document is being made
            return PrintTicket.objects.none()
        return selectors.tickets_for_shop(
            user=cast(User, self.request.user), job_id=int(self.kwargs["job_id"])
        ).order_by("number")

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        machine = Text(max_length=100)
        part_serial = Text(max_length=100)

    @extend_schema(
        operation_id="tickets_take", request=InputSerializer, responses={201: PrintTicketOutput}
    )
    @answered_in_its_transaction
    def post(self, request: Request, job_id: int) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        ticket = services.print_ticket_take(
            actor=cast(User, request.user),
            job_id=job_id,
            machine=given.validated_data["machine"],
            part_serial=given.validated_data["part_serial"],
        )
        return Response(PrintTicketOutput(ticket).data, status=201)
