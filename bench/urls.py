"""The product's URLs plus two endpoints to compare its upload with: a bare one that parses a
multipart upload with the same parser and chunk size and throws the bytes away (the framework's
own ceiling), and a plain one that stores the file as any Django app without encryption does
(Django's default upload handlers, then FileSystemStorage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadhandler import FileUploadHandler, load_handler
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


# Django's own defaults (global_settings.FILE_UPLOAD_HANDLERS): in memory up to 2.5 MB, then a
# temporary file that the storage moves into place.
PLAIN_HANDLERS = (
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
)


@csrf_exempt
def store(request: HttpRequest) -> JsonResponse:
    request.upload_handlers = [load_handler(name, request) for name in PLAIN_HANDLERS]
    storage = FileSystemStorage(location=Path(settings.MEDIA_ROOT) / "bench-plain")
    names = [storage.save(f.name, f) for f in request.FILES.getlist("files")]
    return JsonResponse({"stored": names})


urlpatterns = [
    path("bench/discard/", discard),
    path("bench/store/", store),
    *product_urlpatterns,
]
