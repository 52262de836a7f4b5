"""The product's URLs plus a bare endpoint that parses a multipart upload with the same parser
and chunk size and throws the bytes away: the framework's own ceiling for an upload."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as product_urlpatterns
from marketplace.uploads import UPLOAD_CHUNK_BYTES


class DiscardingUploadHandler(FileUploadHandler):
    chunk_size = UPLOAD_CHUNK_BYTES

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)

    def file_complete(self, file_size: int) -> Any:
        return None


@csrf_exempt
def discard(request: HttpRequest) -> JsonResponse:
    handler = DiscardingUploadHandler(request)
    request.upload_handlers = [handler]
    request.FILES  # noqa: B018 - parse the body
    return JsonResponse({"received": handler.received})


urlpatterns = [path("bench/discard/", discard), *product_urlpatterns]
