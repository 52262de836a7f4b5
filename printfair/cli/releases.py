"""What the API says of a design released to the shop (``GET /api/v1/releases/``), checked as
it is read: a name that could land outside the output folder, or a release without a SHA-256,
is refused before anything is downloaded."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from printfair.cli.errors import CliError
from printfair.hpke import HpkePrivateKey, unwrap_for_shop

__all__ = ["Release", "safe_file_name"]


@dataclass(frozen=True)
class Release:
    """One design released to the shop (``GET /api/v1/releases/``)."""

    file_id: uuid.UUID
    job: int
    title: str
    shop: int
    file_name: str
    sha256: str
    size_bytes: int
    ciphertext_bytes: int
    kem: str
    wrapped_key: bytes
    revoked: bool
    prints_allowed: int
    prints_taken: int
    licence_open: bool

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Release:
        try:
            licence = item["licence"]
            release = cls(
                file_id=uuid.UUID(str(item["id"])),
                job=int(item["job"]),
                title=str(item.get("title") or ""),
                shop=int(item["shop"]),
                file_name=safe_file_name(str(item["file_name"])),
                sha256=str(item["sha256"]).lower(),
                size_bytes=int(item["size_bytes"]),
                ciphertext_bytes=int(item["ciphertext_bytes"]),
                kem=str(item["kem"]),
                wrapped_key=base64.b64decode(str(item["wrapped_key"]), validate=True),
                revoked=bool(item["revoked"]),
                prints_allowed=int(licence["prints_allowed"]),
                prints_taken=int(licence["prints_taken"]),
                licence_open=bool(licence["open"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise CliError(f"PrintFair described a released design oddly ({exc})") from None
        if not re.fullmatch(r"[0-9a-f]{64}", release.sha256):
            raise CliError(f"PrintFair gave {release.file_name} no SHA-256 ({release.sha256!r})")
        return release

    def data_key(self, private_key: HpkePrivateKey) -> bytes:
        """The file's data key, unwrapped with the shop's HPKE private key (printfair/hpke.py);
        ReleaseKeyError if it was not wrapped to that key for this job, shop and file."""
        return unwrap_for_shop(
            self.wrapped_key,
            kem=self.kem,
            private_key=private_key,
            job_id=self.job,
            shop_id=self.shop,
            file_id=self.file_id.bytes,
        )


def safe_file_name(name: str) -> str:
    """The server's name for a file, refused if it would land outside the output folder."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base != name or base in ("", ".", "..") or "\x00" in base:
        raise CliError(f"PrintFair named a design {name!r}, which is not a plain file name")
    return name
