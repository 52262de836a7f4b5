"""Downloading a released design: the ciphertext streamed to a partial file that a broken
download resumes from (HTTP ``Range`` + ``If-Range``), decrypted segment by segment as it arrives
into a private partial plaintext file, in bounded memory whatever the file's size.

For a design ``NAME`` in the output folder ``DIR``:

- ``DIR/.NAME.pfenc.part``: the ciphertext received so far (kept when a download breaks, deleted
  once the design is saved, or when it fails the envelope check);
- ``DIR/.NAME.pfenc.part.etag``: which file those bytes belong to (the release's file id and the
  server's ETag), so that a resume asks for the rest *of the same file* (``If-Range``) and a part
  left by another file is never continued;
- ``DIR/.NAME.part``: the plaintext, mode 0600, written only from segments whose GCM tag verified
  and deleted whatever goes wrong; the caller renames it to ``DIR/NAME`` after its own checks.

On a resume the ciphertext already on disk is decrypted again from the start (it is local, and
the plaintext of an earlier, unchecked run is never trusted), then the rest is fetched.

Here: the transfer and the partial files; what a release is (printfair/cli/releases.py), the
decrypting thread (printfair/cli/decrypting.py) and the progress line (printfair/cli/progress.py)
are modules of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import requests
import urllib3

from printfair import safejson
from printfair.cli.api import ApiClient, check_api_key
from printfair.cli.decrypting import DecryptingSink
from printfair.cli.errors import CliError
from printfair.cli.progress import ByteProgress, format_size
from printfair.cli.releases import Release
from printfair.envelope import EnvelopeError, StreamDecryptor

__all__ = [
    "CHUNK_BYTES",
    "CiphertextClient",
    "DownloadBroken",
    "EnvelopeFailed",
    "Fetched",
    "PartPaths",
    "Progress",
    "Release",
    "fetch_and_decrypt",
    "format_size",
    "remove_quietly",
]

# The progress line of a download, by the name this module gave it before it was shared.
Progress = ByteProgress

# Network reads, reads of the partial file and decryptor feeds: the envelope's segment size.
CHUNK_BYTES: Final = 1 << 20
CONTENT_RANGE: Final = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class DownloadBroken(CliError):
    """The transfer stopped early; the ciphertext received so far is kept for a resume."""


class EnvelopeFailed(CliError):
    """The ciphertext failed authentication (tampered, truncated, wrong key): nothing of it is
    kept, so the next run downloads it afresh."""


# --- files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartPaths:
    target: Path
    ciphertext: Path
    validator: Path
    plaintext: Path

    @classmethod
    def in_folder(cls, folder: Path, name: str) -> PartPaths:
        return cls(
            target=folder / name,
            ciphertext=folder / f".{name}.pfenc.part",
            validator=folder / f".{name}.pfenc.part.etag",
            plaintext=folder / f".{name}.part",
        )

    def forget_ciphertext(self) -> None:
        remove_quietly(self.ciphertext)
        remove_quietly(self.validator)


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _private_file(path: Path) -> IO[bytes]:
    """``path`` emptied (or created) for writing, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that was already there
    return os.fdopen(fd, "wb")


def _read_validator(paths: PartPaths, file_id: uuid.UUID) -> str | None:
    """The ETag the partial ciphertext came with, if it is of this file."""
    try:
        saved = safejson.loads(paths.validator.read_text(encoding="utf-8"))
        if saved["file_id"] == str(file_id) and isinstance(saved["etag"], str):
            return saved["etag"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_validator(paths: PartPaths, file_id: uuid.UUID, etag: str | None) -> None:
    if etag is None:  # without a validator a resume could splice two files: never resume
        remove_quietly(paths.validator)
        return
    paths.validator.write_text(json.dumps({"file_id": str(file_id), "etag": etag}) + "\n")


# --- the transfer --------------------------------------------------------------------------


class CiphertextClient:
    """``GET /api/v1/releases/<file>/ciphertext/``, streamed, with HTTP ranges."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.api = ApiClient(base_url, check_api_key(api_key))

    def open(self, file_id: uuid.UUID, *, offset: int, etag: str | None) -> requests.Response:
        """The response with its body still to read: 200 (whole file), 206 (from ``offset``)
        or 416 (nothing past ``offset``); any other answer raises."""
        # Errors come in the API's JSON format. Identity: the bytes on the wire, and so a range
        # of them, are the ciphertext's.
        headers = {
            "Accept": "application/octet-stream, application/json;q=0.9",
            "Accept-Encoding": "identity",
        }
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if etag:
                headers["If-Range"] = etag
        return self.api.stream(
            f"releases/{file_id}/ciphertext/", headers=headers, ok=(200, 206, 416)
        )


@dataclass(frozen=True)
class Fetched:
    """A design decrypted into its partial plaintext file (not yet checked nor renamed)."""

    plaintext: Path
    sha256: str
    size_bytes: int
    resumed_from: int
    fetched_bytes: int
    seconds: float


def fetch_and_decrypt(
    client: CiphertextClient,
    release: Release,
    data_key: bytes,
    paths: PartPaths,
    progress: ByteProgress,
) -> Fetched:
    """Fetch what is missing of the release's ciphertext, decrypting as it comes.

    The partial plaintext is deleted on any failure (and on an interrupt); the partial
    ciphertext too when it fails the envelope check, but not when the transfer breaks.
    """
    started = time.monotonic()
    try:
        with _private_file(paths.plaintext) as plaintext:
            sink = DecryptingSink(StreamDecryptor(data_key, release.file_id.bytes), plaintext)
            try:
                resumed, fetched = _transfer(client, release, paths, progress, sink.put)
                size = sink.finish()
            finally:
                sink.stop()
    except EnvelopeError as exc:
        remove_quietly(paths.plaintext)
        paths.forget_ciphertext()
        raise EnvelopeFailed(
            f"{release.file_name} failed the envelope check: {exc}",
            details=["Nothing of it was kept; run the command again to download it afresh."],
        ) from None
    except OSError as exc:
        remove_quietly(paths.plaintext)
        raise CliError(
            f"cannot write {release.file_name} in {paths.target.parent}: {exc.strerror or exc}"
        ) from None
    except BaseException:
        remove_quietly(paths.plaintext)
        raise
    return Fetched(
        plaintext=paths.plaintext,
        sha256=sink.digest.hexdigest(),
        size_bytes=size,
        resumed_from=resumed,
        fetched_bytes=fetched,
        seconds=time.monotonic() - started,
    )


def _transfer(
    client: CiphertextClient,
    release: Release,
    paths: PartPaths,
    progress: ByteProgress,
    take: Callable[[bytes | memoryview], None],
) -> tuple[int, int]:
    """Replay the partial ciphertext into ``take``, then fetch and feed the rest, appending it
    to the partial file. Returns (bytes resumed from, bytes fetched)."""
    total = release.ciphertext_bytes
    offset, etag = _resume_point(paths, release)
    response: requests.Response | None = None
    if offset < total:
        response = client.open(release.file_id, offset=offset, etag=etag)
        if response.status_code == 416:
            # Nothing past `offset`: the listing's size and the file disagree. Start over.
            response.close()
            paths.forget_ciphertext()
            offset, etag = 0, None
            response = client.open(release.file_id, offset=0, etag=None)
        if response.status_code == 200:
            offset = 0  # a new file (If-Range did not match), or no range support: from zero
            total = _length(response, total)
        else:
            total = _check_range(response, offset, release)
        etag = response.headers.get("ETag") or None
    try:
        with open(paths.ciphertext, "r+b" if offset else "wb") as partial:
            _replay(partial, offset, take)
            partial.seek(offset)
            partial.truncate()
            if response is None:
                return offset, 0
            if offset == 0:
                _write_validator(paths, release.file_id, etag)
            progress.start(offset)
            received = _receive(response, partial, take, progress)
            if offset + received < total:
                raise DownloadBroken(
                    f"the download of {release.file_name} stopped after "
                    f"{format_size(offset + received)} of {format_size(total)}",
                    details=["The part received is kept: run the same command to resume."],
                )
            progress.finish()
            return offset, received
    finally:
        if response is not None:
            response.close()


def _resume_point(paths: PartPaths, release: Release) -> tuple[int, str | None]:
    """How much of the ciphertext is already here, and the ETag it came with (0 if there is
    nothing usable: no part, a part of another file, or one longer than the file)."""
    try:
        size = paths.ciphertext.stat().st_size
    except FileNotFoundError:
        remove_quietly(paths.validator)
        return 0, None
    etag = _read_validator(paths, release.file_id)
    if etag is None or size > release.ciphertext_bytes:
        return 0, None
    return size, etag


def _replay(partial: IO[bytes], length: int, take: Callable[[bytes | memoryview], None]) -> None:
    left = length
    while left > 0:
        chunk = partial.read(min(CHUNK_BYTES, left))
        if not chunk:
            raise CliError(f"{partial.name} shrank while it was read")
        take(chunk)
        left -= len(chunk)


def _receive(
    response: requests.Response,
    partial: IO[bytes],
    take: Callable[[bytes | memoryview], None],
    progress: ByteProgress,
) -> int:
    """Append the body to the partial file and feed it on. ``read1`` hands over every byte that
    arrived before a break (``iter_content`` would drop the last, incomplete chunk's), so the
    part on disk is all that was received."""
    received = 0
    raw = response.raw
    while True:
        try:
            chunk = raw.read1(CHUNK_BYTES)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            partial.flush()
            progress.finish()
            raise DownloadBroken(
                f"the download broke after {format_size(progress.done)} of "
                f"{format_size(progress.total)}",
                details=[
                    _reason(exc),
                    "The part received is kept: run the same command to resume.",
                ],
            ) from None
        if not chunk:
            return received
        partial.write(chunk)
        take(chunk)
        received += len(chunk)
        progress.advance(len(chunk))


def _reason(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text if len(text) < 200 else text[:197] + "..."


def _length(response: requests.Response, expected: int) -> int:
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) != expected:
        response.close()
        raise CliError(
            f"PrintFair sends {length} bytes of ciphertext where it listed {expected}: "
            "try again later"
        )
    return expected


def _check_range(response: requests.Response, offset: int, release: Release) -> int:
    match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if (
        match is None
        or int(match.group(1)) != offset
        or int(match.group(3)) != release.ciphertext_bytes
        or int(match.group(2)) != release.ciphertext_bytes - 1
    ):
        response.close()
        raise CliError(
            f"PrintFair answered the request for the rest of {release.file_name} with "
            f"{response.headers.get('Content-Range')!r}, not bytes {offset}- of "
            f"{release.ciphertext_bytes}"
        )
    return release.ciphertext_bytes
