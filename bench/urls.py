"""The product's URLs plus three endpoints to compare its upload with: a bare one that parses a
multipart upload with the same parser and chunk size and throws the bytes away (the framework's
own ceiling), a plain one that stores the file as any Django app without encryption does
(Django's default upload handlers, then FileSystemStorage), and a sealing one that does the least
an encrypted upload must: hash, encrypt and write each chunk once, on the product's own sink
thread, then rename the file into the storage (no geometry, no session, no database): the floor
of the encrypted upload."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadhandler import FileUploadHandler, load_handler
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.uploads import upload_temp_dir
from config.urls import urlpatterns as product_urlpatterns
from marketplace.uploads import UPLOAD_CHUNK_BYTES, CiphertextSink
from printfair.envelope import StreamEncryptor, new_data_key


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


class SealingUploadHandler(FileUploadHandler):
    chunk_size = UPLOAD_CHUNK_BYTES

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._file_id = uuid.uuid4()
        self._out = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed in file_complete
            dir=upload_temp_dir(), delete=False
        )
        self._sink = CiphertextSink(StreamEncryptor(new_data_key(), self._file_id.bytes), self._out)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._sink.put(raw_data)

    def file_complete(self, file_size: int) -> Any:
        sha256 = self._sink.close()
        self._out.close()
        target = Path(settings.MEDIA_ROOT) / "bench-sealed"
        target.mkdir(exist_ok=True)
        os.replace(self._out.name, target / str(self._file_id))
        return sha256


@csrf_exempt
def seal(request: HttpRequest) -> JsonResponse:
    request.upload_handlers = [SealingUploadHandler(request)]
    return JsonResponse({"sha256": [str(f) for f in request.FILES.getlist("files")]})


urlpatterns = [
    path("bench/discard/", discard),
    path("bench/store/", store),
    path("bench/seal/", seal),
    *product_urlpatterns,
]
