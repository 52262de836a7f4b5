"""Reading the chain directly, without PrintFair in between: a plain JSON-RPC client for any node
and the DesignRegistry's proof of existence of a design hash. ``verify-design`` checks a local
file with it; ``design get`` checks each design it decrypts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from printfair import safejson
from printfair.cli.api import ApiClient
from printfair.cli.errors import CliError, UsageError
from printfair.keys import KeyProofError, checksum

__all__ = [
    "Node",
    "Registration",
    "lookup_registration",
    "public_chain_info",
    "registry_address",
]

# The selectors of DesignRegistry's `registration(bytes32)` (the first registration of a hash)
# and `registrationBy(bytes32,bytes32)` (one owner's): the first 4 bytes of the signature's
# Keccak-256 (tests/printfair/test_cli.py checks them). They answer `(bytes32, uint64)` and
# `uint64`, ABI words decoded by hand: eth_abi would cost the CLI more memory than the download
# it checks.
REGISTRATION: Final = bytes.fromhex("8a2be940")
REGISTRATION_BY: Final = bytes.fromhex("7e710fc8")
RPC_TIMEOUT: Final = 30.0
_WORD: Final = 32
_UINT64_PADDING: Final = bytes(_WORD - 8)


class Node:
    """Plain JSON-RPC to one node: the checks need no web3 client."""

    def __init__(self, url: str) -> None:
        import requests  # only once a node is asked: see printfair/cli/api.py

        self.url = url
        self.session = requests.Session()

    def call(self, method: str, params: list[Any]) -> Any:
        import requests

        try:
            response = self.session.post(
                self.url,
                json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                timeout=RPC_TIMEOUT,
            )
            answer = safejson.loads(response.content)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach the node at {self.url}: {exc}") from None
        except ValueError:
            raise CliError(f"{self.url} did not answer JSON-RPC: is it a node?") from None
        if not isinstance(answer, dict) or "error" in answer or "result" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise CliError(f"the node at {self.url} refused {method}: {error}")
        return answer["result"]

    def chain_id(self) -> int:
        answer = self.call("eth_chainId", [])
        try:
            return int(answer, 16)
        except (TypeError, ValueError):
            raise CliError(f"the node at {self.url} gave no chain id ({answer!r})") from None


@dataclass(frozen=True)
class Registration:
    """What the DesignRegistry holds for one SHA-256, the first registration or one owner's: a
    timestamp of 0 means no registration."""

    chain_id: int
    registry: str
    sha256: str
    owner_ref: bytes
    timestamp: int

    @property
    def registered(self) -> bool:
        return self.timestamp != 0

    @property
    def registered_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.timestamp, tz=UTC) if self.timestamp else None

    def when(self) -> str:
        """The registration's block time for people, in UTC (as the chain has it)."""
        at = self.registered_at
        return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "never"


def public_chain_info(api_url: str) -> Mapping[str, Any]:
    """PrintFair's public description of its chain (``GET /api/v1/chain/``, no key needed)."""
    info = ApiClient(api_url, None).get("chain/")
    if not isinstance(info, dict):
        raise CliError(f"PrintFair at {api_url} describes its chain oddly")
    return info


def registry_address(
    *,
    given: str | None,
    api_url: str,
    chain_id: int,
    published: Mapping[str, Any] | None = None,
) -> str:
    """The DesignRegistry to ask: ``given`` (``--registry``), or the one PrintFair publishes
    (``published``, else fetched from ``api_url``), which must be on the node's chain."""
    if given:
        try:
            return checksum(given)
        except KeyProofError:
            raise UsageError(f"--registry {given!r} is not an Ethereum address") from None
    info = published if published is not None else public_chain_info(api_url)
    try:
        address, published_chain = info["contracts"]["DesignRegistry"], int(info["chain_id"])
    except (KeyError, TypeError, ValueError):
        raise CliError(
            f"PrintFair at {api_url} publishes no DesignRegistry: give --registry"
        ) from None
    if published_chain != chain_id:
        raise CliError(
            f"PrintFair at {api_url} is on chain {published_chain}, the node on {chain_id}"
        )
    return checksum(address)


def lookup_registration(
    node: Node, *, chain_id: int, registry: str, sha256: str, owner_ref: bytes | None = None
) -> Registration:
    """Ask the DesignRegistry at ``registry`` through ``node`` about the SHA-256 ``sha256``
    (hex): its first registration, or ``owner_ref``'s (32 bytes) when given; a CliError if
    there is no contract there or it does not answer as one."""
    if node.call("eth_getCode", [registry, "latest"]) in ("0x", "0x0", None):
        raise CliError(f"there is no contract at {registry} on chain {chain_id}")
    try:
        key = bytes.fromhex(sha256)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CliError(f"{sha256!r} is not a SHA-256 (64 hex digits)")
    data = REGISTRATION + key if owner_ref is None else REGISTRATION_BY + key + owner_ref
    answer = node.call("eth_call", [{"to": registry, "data": "0x" + data.hex()}, "latest"])
    try:
        returned = bytes.fromhex(answer[2:])
        if owner_ref is None:
            owner_ref, timestamp = _decode_registration(returned)
        else:
            timestamp = _decode_uint64(returned)
    except (ValueError, TypeError) as exc:
        raise CliError(f"{registry} on chain {chain_id} is not a DesignRegistry ({exc})") from None
    return Registration(
        chain_id=chain_id,
        registry=registry,
        sha256=key.hex(),
        owner_ref=owner_ref,
        timestamp=timestamp,
    )


def _decode_registration(data: bytes) -> tuple[bytes, int]:
    """ABI-decode ``(bytes32 owner_ref, uint64 timestamp)`` as eth_abi's strict decoder does:
    two words (anything after them is ignored), the uint64 right-aligned in zero padding."""
    if len(data) < 2 * _WORD:
        raise ValueError(f"{len(data)} bytes of return data, not the 64 of (bytes32, uint64)")
    return data[:_WORD], _decode_uint64(data[_WORD : 2 * _WORD])


def _decode_uint64(data: bytes) -> int:
    """ABI-decode one ``uint64`` word, right-aligned in zero padding (anything after ignored)."""
    if len(data) < _WORD:
        raise ValueError(f"{len(data)} bytes of return data, not the 32 of a uint64")
    word = data[:_WORD]
    if word[: len(_UINT64_PADDING)] != _UINT64_PADDING:
        raise ValueError(f"the uint64 word 0x{word.hex()} has non-zero padding")
    return int.from_bytes(word[len(_UINT64_PADDING) :], "big")
