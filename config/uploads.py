"""Where uploads wait while they arrive: settings.FILE_UPLOAD_TEMP_DIR, made when a file starts.

Django writes an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file in that
folder, and the design-file handler (marketplace/uploads.py) writes every design's ciphertext
there. It is made at start (marketplace/apps.py: Django's check files.E001 refuses to start
without it), but it can be removed under a running server (a tmp cleaner, an operator tidying
media/), and every such upload would then fail with a 500 until a restart. Making it again when a
file starts costs one mkdir call a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import uploadhandler


def upload_temp_dir() -> Path:
    """FILE_UPLOAD_TEMP_DIR, made (with its parents) if it is not there."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class TemporaryFileUploadHandler(uploadhandler.TemporaryFileUploadHandler):
    """Django's handler for large uploads, into a folder that is there."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        upload_temp_dir()
        super().new_file(*args, **kwargs)
