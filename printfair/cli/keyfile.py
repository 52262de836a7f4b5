"""The shop's keys, encrypted at rest under a passphrase, in one JSON file (mode 0600).

- The Ethereum signing key (secp256k1; bids and key registration are signed with it) is a
  standard Web3 Secret Storage (v3) keystore made by ``eth_account.Account.encrypt`` with scrypt,
  so any Ethereum wallet can import it.
- The HPKE release key (RFC 9180; designs are released to its public key) is sealed with
  AES-256-GCM under a key derived from the passphrase by scrypt, with the keystore's work factor.
  The address, key type and public key are authenticated with it, so the parts of the file
  cannot be mixed with another file's. Its type (``hpke.kem``) is X25519 or the
  ML-KEM-768 + X25519 hybrid; what is sealed is the key as ``printfair.hpke`` keeps it
  (``generate_private_key_bytes``): the raw X25519 private key, or the ML-KEM-768 seed followed
  by the raw X25519 private key.

The file's ``version``: 1 holds an X25519 HPKE key only; 2 may hold either type. X25519 keys are
still written as version 1 (the same bytes as before, which every version of the CLI reads); a
hybrid key makes a version 2 file, which a CLI too old to use it refuses plainly.

Public parts (address, HPKE public key) are in the clear: showing or registering them needs no
passphrase. Each secret is decrypted only by the command that needs it, and the libraries for
it (eth_account, cryptography) are imported only then.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from printfair import safejson
from printfair.cli.errors import CliError
from printfair.keys import HpkeKem, check_hpke_public_key, checksum

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from printfair.hpke import HpkePrivateKey

__all__ = [
    "FORMAT_VERSION",
    "KEYS_FILE",
    "KeyFile",
    "check_can_create",
    "create_keyfile",
    "load_keyfile",
]

KEYS_FILE: Final = "keys.json"
FORMAT: Final = "printfair-shop-keys"
#: The newest version written; ``_VERSION_KEMS`` says which HPKE key types each version holds.
FORMAT_VERSION: Final = 2
_VERSION_KEMS: Final = {1: {HpkeKem.X25519}, 2: set(HpkeKem)}
# scrypt work factors: the Web3 Secret Storage default (about 0.5 s and 256 MiB here), and a
# light one for throwaway keys (tests, demos), as geth's --lightkdf.
SCRYPT_N: Final = 1 << 18
SCRYPT_N_LIGHT: Final = 1 << 12
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
# The same in both file versions: the key type it authenticates fixes what the sealed bytes are.
_HPKE_AAD_LABEL: Final = b"printfair shop HPKE key v1\n"


def _wrong_passphrase(path: Path) -> CliError:
    return CliError(f"wrong passphrase for the keys in {path}")


@dataclass(frozen=True)
class KeyFile:
    """A keys file as read from disk: the public parts, and the sealed secrets."""

    path: Path
    address: str
    hpke_kem: HpkeKem
    hpke_public_key: bytes
    _data: dict[str, Any]

    def unlock_ethereum(self, passphrase: str) -> LocalAccount:
        """The shop's signing account; a ``CliError`` for a wrong passphrase."""
        from eth_account import Account

        try:
            key = Account.decrypt(self._data["ethereum"], passphrase)
        except ValueError:  # eth_keyfile: "MAC mismatch"
            raise _wrong_passphrase(self.path) from None
        account: LocalAccount = Account.from_key(key)
        if account.address != self.address:
            raise CliError(f"{self.path} is damaged: its keystore is not of {self.address}")
        return account

    def unlock_hpke(self, passphrase: str) -> HpkePrivateKey:
        """The shop's HPKE private key (to open designs released to it), of type ``hpke_kem``."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from printfair.hpke import ReleaseKeyError, private_key_from_bytes

        sealed = self._data["hpke"]["private_key"]
        params = sealed["kdfparams"]
        derived = _scrypt(
            passphrase, bytes.fromhex(params["salt"]), n=params["n"], r=params["r"], p=params["p"]
        )
        try:
            raw = AESGCM(derived).decrypt(
                bytes.fromhex(sealed["nonce"]),
                bytes.fromhex(sealed["ciphertext"]),
                _hpke_aad(self.address, self.hpke_kem, self.hpke_public_key),
            )
        except InvalidTag:
            raise _wrong_passphrase(self.path) from None
        try:
            private_key, public_key = private_key_from_bytes(self.hpke_kem, raw)
        except ReleaseKeyError as exc:
            raise CliError(f"{self.path} is damaged: its HPKE key cannot be used ({exc})") from None
        if public_key != self.hpke_public_key:
            raise CliError(
                f"{self.path} is damaged: its HPKE private key is not that of its public key"
            )
        return private_key


def _scrypt(passphrase: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def _hpke_aad(address: str, kem: str, public_key: bytes) -> bytes:
    return _HPKE_AAD_LABEL + f"{address}\n{kem}\n".encode() + public_key


def check_can_create(path: Path, *, force: bool) -> None:
    """Refuse to replace a keys file unless ``force``: the keys in it may be the only copy."""
    if path.exists() and not force:
        raise CliError(
            f"{path} already exists: these may be your shop's only keys. "
            "Use --force to replace them (keep a copy first)."
        )


def create_keyfile(
    path: Path,
    passphrase: str,
    *,
    force: bool,
    light: bool = False,
    kem: HpkeKem = HpkeKem.X25519,
) -> KeyFile:
    """Make a new Ethereum key and HPKE key of type ``kem`` and store them encrypted at
    ``path``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from eth_account import Account

    from printfair.hpke import generate_private_key_bytes, private_key_from_bytes

    check_can_create(path, force=force)
    n = SCRYPT_N_LIGHT if light else SCRYPT_N
    account: LocalAccount = Account.create()
    keystore = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=n)
    private_raw = generate_private_key_bytes(kem)
    _, public_key = private_key_from_bytes(kem, private_raw)
    salt, nonce = os.urandom(16), os.urandom(12)
    ciphertext = AESGCM(_scrypt(passphrase, salt, n=n, r=SCRYPT_R, p=SCRYPT_P)).encrypt(
        nonce, private_raw, _hpke_aad(account.address, kem, public_key)
    )
    data: dict[str, Any] = {
        "format": FORMAT,
        # Version 1 for X25519 keys, so that older CLIs still read what they can use.
        "version": 1 if kem is HpkeKem.X25519 else FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "address": account.address,
        "ethereum": keystore,
        "hpke": {
            "kem": str(kem),
            "public_key": base64.b64encode(public_key).decode(),
            "private_key": {
                "cipher": "aes-256-gcm",
                "nonce": nonce.hex(),
                "ciphertext": ciphertext.hex(),
                "kdf": "scrypt",
                "kdfparams": {"n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex()},
            },
        },
    }
    write_private(path, json.dumps(data, indent=2) + "\n", replace=force)
    return load_keyfile(path)


def write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write a 0600 file atomically; without ``replace``, fail if it appeared meanwhile."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp made it 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            tmp.replace(path)
        else:
            try:
                os.link(tmp, path)  # atomic, and fails if the name exists
            except FileExistsError:
                raise CliError(f"{path} already exists; use --force to replace it") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_keyfile(path: Path) -> KeyFile:
    """Read a keys file (no passphrase needed: secrets stay sealed)."""
    try:
        data = safejson.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"no keys in {path}: run `printfair keys init` first") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"cannot read the keys in {path}: {exc}") from None
    try:
        if data["format"] != FORMAT or data["version"] not in _VERSION_KEMS:
            raise ValueError(f"format {data['format']!r} version {data['version']!r}")
        kem = HpkeKem(data["hpke"]["kem"])
        if kem not in _VERSION_KEMS[data["version"]]:
            raise ValueError(f"version {data['version']} holds no {kem} keys")
        public_key = base64.b64decode(data["hpke"]["public_key"], validate=True)
        return KeyFile(
            path=path,
            address=checksum(data["address"]),
            hpke_kem=check_hpke_public_key(kem, public_key),
            hpke_public_key=public_key,
            _data=data,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(f"{path} is not a PrintFair keys file this version reads ({exc})") from None
