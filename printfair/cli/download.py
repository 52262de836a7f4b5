"""Downloading a released design: the ciphertext streamed segment by segment and decrypted as
it arrives (printfair/cli/decrypting.py) into a private partial plaintext file, which a broken
download resumes (HTTP ``Range`` + ``If-Range``), in bounded memory whatever the file's size.

For a design ``NAME`` in the output folder ``DIR``:

- ``DIR/.NAME.part``: the plaintext, mode 0600, written only from segments whose GCM tag
  verified; the caller renames it to ``DIR/NAME`` after its own checks. It is deleted when the
  file fails a check, and kept otherwise (a download cut or stopped), for a resume;
- ``DIR/.NAME.part.resume``: what a resume needs: the release's file id and the server's ETag,
  so that it asks for the rest *of the same file* (``If-Range``) and never continues a part
  left by another file, and the ciphertext's header, to open the segments that follow.

The ciphertext itself is never written to disk. A resume asks for the segments after the last
whole one in the part, always the final segment again (its tag is what says nothing was cut off),
and the part's plaintext is hashed again from disk while the rest arrives: the SHA-256 checked
before the rename is of every byte of the file kept, so nothing of an earlier run is taken on
trust.

Here: the transfer and the partial files; what a release is (printfair/cli/releases.py), the
decrypting sink (printfair/cli/decrypting.py) and the progress line (printfair/cli/progress.py)
are modules of their own.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import requests

from printfair import safejson
from printfair.cli.api import ApiClient, check_api_key
from printfair.cli.decrypting import DecryptingSink
from printfair.cli.errors import CliError
from printfair.cli.progress import ByteProgress
from printfair.cli.releases import Release
from printfair.envelope import HEADER_SIZE, EnvelopeError, SegmentDecryptor, StreamHeader
from printfair.sizes import format_size

__all__ = [
    "CiphertextClient",
    "DownloadBroken",
    "EnvelopeFailed",
    "Fetched",
    "PartPaths",
    "Progress",
    "Release",
    "fetch_and_decrypt",
    "remove_quietly",
]

# The progress line of a download, by the name this module gave it before it was shared.
Progress = ByteProgress

CONTENT_RANGE: Final = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
RESUME_HINT: Final = "What was received and verified is kept: run the same command to resume."


class DownloadBroken(CliError):
    """The transfer stopped early; the plaintext of the segments received is kept for a
    resume."""


class EnvelopeFailed(CliError):
    """The ciphertext failed authentication (tampered, truncated, wrong key): nothing of it is
    kept, so the next run downloads it afresh."""


# --- files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartPaths:
    target: Path
    plaintext: Path
    resume: Path

    @classmethod
    def in_folder(cls, folder: Path, name: str) -> PartPaths:
        return cls(
            target=folder / name,
            plaintext=folder / f".{name}.part",
            resume=folder / f".{name}.part.resume",
        )

    def forget(self) -> None:
        """Nothing of this design left to resume from."""
        remove_quietly(self.plaintext)
        remove_quietly(self.resume)


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@dataclass(frozen=True)
class _Resume:
    """Where a resume starts: the first segment to fetch, of the file with this ETag."""

    etag: str
    header: StreamHeader
    segment: int

    @property
    def offset(self) -> int:
        return self.header.segment_offset(self.segment)


def _resume_point(paths: PartPaths, release: Release) -> _Resume | None:
    """Where the part left by an earlier run ends (at a whole segment, and before the final
    one), if it is of this file."""
    try:
        saved = safejson.loads(paths.resume.read_text(encoding="utf-8"))
        if saved["file_id"] != str(release.file_id) or not isinstance(saved["etag"], str):
            return None
        etag, header = saved["etag"], StreamHeader.parse(bytes.fromhex(saved["header"]))
    except (OSError, ValueError, KeyError, TypeError):  # EnvelopeError is a ValueError
        return None
    try:
        have = paths.plaintext.stat().st_size
    except FileNotFoundError:
        have = 0
    segment = min(have // header.segment_size, header.final_segment(release.ciphertext_bytes))
    return _Resume(etag, header, segment)


def _save_resume(paths: PartPaths, file_id: uuid.UUID, etag: str | None, header: bytes) -> None:
    if etag is None:  # without a validator a resume could splice two files: never resume
        remove_quietly(paths.resume)
        return
    saved = {"file_id": str(file_id), "etag": etag, "header": header.hex()}
    paths.resume.write_text(json.dumps(saved) + "\n", encoding="utf-8")


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

    The partial plaintext and what a resume needs are deleted when the ciphertext fails the
    envelope check, and kept on any other failure (a transfer broken or interrupted).
    """
    started = time.monotonic()
    try:
        resumed, fetched, size, sha256 = _fetch(client, release, data_key, paths, progress)
    except EnvelopeError as exc:
        paths.forget()
        raise EnvelopeFailed(
            f"{release.file_name} failed the envelope check: {exc}",
            details=["Nothing of it was kept; run the command again to download it afresh."],
        ) from None
    except OSError as exc:
        raise CliError(
            f"cannot write {release.file_name} in {paths.target.parent}: {exc.strerror or exc}"
        ) from None
    return Fetched(
        plaintext=paths.plaintext,
        sha256=sha256,
        size_bytes=size,
        resumed_from=resumed,
        fetched_bytes=fetched,
        seconds=time.monotonic() - started,
    )


def _fetch(
    client: CiphertextClient,
    release: Release,
    data_key: bytes,
    paths: PartPaths,
    progress: ByteProgress,
) -> tuple[int, int, int, str]:
    """Resume or start the transfer and decrypt it into the partial plaintext. Returns (bytes
    resumed from, bytes fetched, plaintext size, its SHA-256)."""
    total = release.ciphertext_bytes
    resume = _resume_point(paths, release)
    offset = resume.offset if resume else 0
    response = client.open(release.file_id, offset=offset, etag=resume.etag if resume else None)
    if response.status_code == 416:
        # Nothing past `offset`: the listing's size and the file disagree. Start over.
        response.close()
        paths.forget()
        resume, offset = None, 0
        response = client.open(release.file_id, offset=0, etag=None)
    with response:
        if response.status_code == 200:
            # A new file (If-Range did not match), or no range support: from the start.
            _check_length(response, total)
            resume, offset = None, 0
        else:
            _check_range(response, offset, release)
        progress.start(offset)
        if resume is None:
            header_bytes = bytearray(HEADER_SIZE)
            _read_into(response, memoryview(header_bytes), progress)
            header = StreamHeader.parse(header_bytes)
            first_segment = 0
        else:
            header, first_segment = resume.header, resume.segment
        segments = SegmentDecryptor(data_key, release.file_id.bytes, header)
        sink = DecryptingSink(segments, paths.plaintext, first_segment=first_segment)
        try:
            if resume is None:  # the part is now this file's: say how to resume it
                _save_resume(paths, release.file_id, response.headers.get("ETag"), header.raw)
            _receive(response, sink, header.segment_offset(first_segment), total, progress)
            size = sink.finish()
        finally:
            sink.close()
    return offset, total - offset, size, sink.digest.hexdigest()


def _receive(
    response: requests.Response,
    sink: DecryptingSink,
    offset: int,
    total: int,
    progress: ByteProgress,
) -> None:
    """Read the body from ``offset`` to ``total`` sealed segment by sealed segment, into one
    buffer, each decrypted by the sink before the next is read (the last is the final one)."""
    sealed_size = sink.segments.header.sealed_size
    buffer = memoryview(bytearray(sealed_size))
    while offset < total:
        sealed = buffer[: min(sealed_size, total - offset)]
        _read_into(response, sealed, progress)
        offset += len(sealed)
        sink.put(sealed, last=offset == total)
    progress.finish()


def _read_into(response: requests.Response, into: memoryview, progress: ByteProgress) -> None:
    """Fill ``into`` with the next bytes of the body, counted as done; DownloadBroken if the
    body ends or breaks first.

    Read with http.client's ``readinto`` under urllib3's response (its ``_fp``): urllib3's own
    reads return a new bytes object each time, and allocating a fresh MiB per segment cost this
    thread about as much as the socket's copy (bench/design_get.py)."""
    readinto = cast(http.client.HTTPResponse, response.raw._fp).readinto
    done = 0
    try:
        while done < len(into) and (read := readinto(into[done:])):
            done += read
    except (OSError, http.client.HTTPException) as exc:
        reason = _reason(exc)
    else:
        if done == len(into):
            progress.advance(done)
            return
        reason = "the connection closed before the end of the file"
    progress.finish()
    raise DownloadBroken(
        f"the download broke after {format_size(progress.done)} of {format_size(progress.total)}",
        details=[reason, RESUME_HINT],
    )


def _reason(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text if len(text) < 200 else text[:197] + "..."


def _check_length(response: requests.Response, expected: int) -> None:
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) != expected:
        raise CliError(
            f"PrintFair sends {length} bytes of ciphertext where it listed {expected}: "
            "try again later"
        )


def _check_range(response: requests.Response, offset: int, release: Release) -> None:
    match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if (
        match is None
        or int(match.group(1)) != offset
        or int(match.group(3)) != release.ciphertext_bytes
        or int(match.group(2)) != release.ciphertext_bytes - 1
    ):
        raise CliError(
            f"PrintFair answered the request for the rest of {release.file_name} with "
            f"{response.headers.get('Content-Range')!r}, not bytes {offset}- of "
            f"{release.ciphertext_bytes}"
        )
