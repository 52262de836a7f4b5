"""Django's own large uploads (evidence files, dispute evidence) into FILE_UPLOAD_TEMP_DIR, made
again when it was removed under a running server (config/uploads.py); the design files' handler
is tested in tests/marketplace/test_uploads.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.test import RequestFactory


def test_a_large_upload_is_received_into_a_folder_made_again(settings: Any, tmp_path: Path) -> None:
    # given: the folder gone, and a file too large to be kept in memory
    incoming = tmp_path / "removed" / "incoming"
    settings.FILE_UPLOAD_TEMP_DIR = str(incoming)
    data = os.urandom(settings.FILE_UPLOAD_MAX_MEMORY_SIZE + 1)
    request = RequestFactory().post("/", {"file": SimpleUploadedFile("report.pdf", data)})
    # when: the body is parsed with the configured handlers
    received = request.FILES["file"]
    # then: in a temporary file in the folder, whole
    assert isinstance(received, TemporaryUploadedFile)
    assert Path(received.temporary_file_path()).parent == incoming
    assert received.read() == data
    received.close()
