"""Tests for sealed-bid commitments and their EIP-712 typed data (printfair.eip712).

Three implementations must agree: ours, an independent one written out here from the EIP-712
definition with eth_abi and keccak, and ethers v6, which ``eip712_interop.mjs`` runs from
``node_modules`` with node (installed wherever the tests run).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from printfair.eip712 import (
    MAX_PRICE,
    SEALED_BID_TYPE,
    SIGNATURE_SIZE,
    Bid,
    BidError,
    domain_separator,
    new_salt,
    recover_sealed_bid_signer,
    sealed_bid_digest,
    sealed_bid_typed_data,
    sign_sealed_bid,
    verify_sealed_bid_signature,
)
from printfair.withdrawals import recover_withdrawal_signer, sign_withdrawal, withdrawal_typed_data

ROOT_DIR = Path(__file__).resolve().parents[2]
INTEROP_SCRIPT = Path(__file__).with_name("eip712_interop.mjs")

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UINT256_MAX = 2**256 - 1
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1

SHOP_KEY = "0x" + "11" * 32
SHOP = Account.from_key(SHOP_KEY).address
OTHER_SHOP = Account.from_key("0x" + "22" * 32).address
CONTRACT = to_checksum_address("0x" + "ab" * 20)
CHAIN_ID = 31337

# A known answer made with ethers 6.17.0 (eip712_interop.mjs): shop key 0x11…11 bids 1.5 tokens
# (6 decimals) and 5 days on job 7 with the salt 0x0001…1f, version 1, chain 31337, contract
# 0xabab…ab. Also a fixture for the contract's own tests.
KAT_BID = Bid(job_id=7, shop=SHOP, price=1_500_000, lead_time_days=5, salt=bytes(range(32)))
KAT_COMMITMENT = "daa8702024c52f5dffa1a465fb39769f4f035debaac593f058571e145962947b"
KAT_DIGEST = "63d2aa513114187bed45243af0b4483f18eaf3454cfae25749327eb18cc800a5"
KAT_SIGNATURE = (
    "d5dca103abc454b0b0e9d6dae25e4c5394d45e26725ee2a9bf17725bba340835"
    "143cd31fe6b9d33649c6c0604663f89d599b2813463705233eb87f62fbf4e9c11c"
)

# --- strategies ----------------------------------------------------------------------------------

private_keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(
    lambda k: "0x" + k.to_bytes(32, "big").hex()
)
addresses = (
    st.binary(min_size=20, max_size=20)
    .filter(lambda b: any(b))
    .map(lambda b: to_checksum_address("0x" + b.hex()))
)
uint256s = st.integers(min_value=0, max_value=UINT256_MAX)
chain_ids = st.integers(min_value=1, max_value=UINT256_MAX)
# Versions start at 1: the contract takes only versions above the last, which starts at 0.
versions = st.integers(min_value=1, max_value=UINT64_MAX)
hashes = st.binary(min_size=32, max_size=32)
commitments = hashes.filter(any)


@st.composite
def sealed_bids(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments of a sealed bid signed by a random key: ``key`` plus the fields."""
    key = draw(private_keys)
    return {
        "key": key,
        "chain_id": draw(chain_ids),
        "contract": draw(addresses),
        "job_id": draw(uint256s),
        "shop": Account.from_key(key).address,
        "commitment": draw(commitments),
        "version": draw(versions),
    }


def fields(bid: dict[str, Any]) -> dict[str, Any]:
    """The sealed-bid fields of ``bid``, without the key."""
    return {name: value for name, value in bid.items() if name != "key"}


# --- an independent EIP-712 implementation -------------------------------------------------------


def expected_domain_separator(chain_id: int, contract: str) -> bytes:
    domain_type = (
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(domain_type.encode()),
                keccak(b"PrintFair AuctionHouse"),
                keccak(b"1"),
                chain_id,
                contract,
            ],
        )
    )


def expected_digest(
    *, chain_id: int, contract: str, job_id: int, shop: str, commitment: bytes, version: int
) -> bytes:
    bid_type = b"SealedBid(uint256 jobId,address shop,bytes32 commitment,uint64 version)"
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "bytes32", "uint64"],
            [keccak(bid_type), job_id, shop, commitment, version],
        )
    )
    return keccak(b"\x19\x01" + expected_domain_separator(chain_id, contract) + struct_hash)


def expected_commitment(
    job_id: int, shop: str, price: int, lead_time_days: int, salt: bytes
) -> bytes:
    return keccak(
        abi_encode(
            ["uint256", "address", "uint256", "uint32", "bytes32"],
            [job_id, shop, price, lead_time_days, salt],
        )
    )


# --- interop with ethers v6 ----------------------------------------------------------------------


def to_js(value: Any) -> Any:
    """Return ``value`` for JSON read by JavaScript: integers as decimal strings (no precision
    loss above 2**53), bytes as 0x-hex."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {key: to_js(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_js(item) for item in value]
    return value


def run_ethers(sign: list[dict[str, Any]], verify: list[dict[str, Any]]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is needed for the interop tests (and installed in CI)"
    # Our own script and arguments we built: nothing untrusted reaches the command.
    result = subprocess.run(  # noqa: S603
        [node, str(INTEROP_SCRIPT), json.dumps(to_js({"sign": sign, "verify": verify}))],
        cwd=ROOT_DIR,
        check=True,
        capture_output=True,
        text=True,
    )
    output: dict[str, Any] = json.loads(result.stdout)
    return output


def unhex(value: str) -> bytes:
    assert value.startswith("0x")
    return bytes.fromhex(value[2:])


# Bids signed by ethers: the known answer, the extremes of every field, and ordinary values.
ETHERS_CASES: list[dict[str, Any]] = [
    {
        "privateKey": SHOP_KEY,
        "chainId": CHAIN_ID,
        "contract": CONTRACT,
        "jobId": 7,
        "price": 1_500_000,
        "leadTimeDays": 5,
        "salt": bytes(range(32)),
        "version": 1,
    },
    {
        "privateKey": "0x" + (SECP256K1_N - 1).to_bytes(32, "big").hex(),
        "chainId": UINT256_MAX,
        "contract": to_checksum_address("0x" + "ff" * 20),
        "jobId": UINT256_MAX,
        "price": MAX_PRICE,
        "leadTimeDays": UINT32_MAX,
        "salt": b"\xff" * 32,
        "version": UINT64_MAX,
    },
    {
        "privateKey": "0x" + (1).to_bytes(32, "big").hex(),
        "chainId": 1,
        "contract": to_checksum_address("0x" + "00" * 19 + "01"),
        "jobId": 0,
        "price": 1,
        "leadTimeDays": 0,
        "salt": bytes(32),
        "version": 1,
    },
    *(
        {
            "privateKey": "0x" + keccak(b"shop %d" % i).hex(),
            "chainId": [1, 10, 8453, 84532, 11155111, 31337][i % 6],
            "contract": to_checksum_address("0x" + keccak(b"contract %d" % i)[:20].hex()),
            "jobId": int.from_bytes(keccak(b"job %d" % i)[: 1 + i * 3], "big"),
            "price": 1_000_000 * (i + 1) + i,
            "leadTimeDays": 1 + i * 7,
            "salt": keccak(b"salt %d" % i),
            "version": 1 + i * 1_000_003,
        }
        for i in range(10)
    ),
]
CASE_IDS = ["known answer", "maximum values", "minimum values"] + [
    f"ordinary {i}" for i in range(10)
]


def python_bid(case: dict[str, Any]) -> tuple[Bid, dict[str, Any]]:
    """The ``Bid`` of an ethers case and the keyword arguments of its sealed bid."""
    shop = Account.from_key(case["privateKey"]).address
    bid = Bid(
        job_id=case["jobId"],
        shop=shop,
        price=case["price"],
        lead_time_days=case["leadTimeDays"],
        salt=case["salt"],
    )
    sealed = {
        "chain_id": case["chainId"],
        "contract": case["contract"],
        "job_id": case["jobId"],
        "shop": shop,
        "commitment": bid.commitment(),
        "version": case["version"],
    }
    return bid, sealed


@pytest.fixture(scope="module")
def ethers() -> dict[str, Any]:
    """One node run for all interop tests: ethers signs every case, then verifies our
    signatures of the same cases, made from the typed data we would hand to a wallet."""
    verify = []
    for case in ETHERS_CASES:
        _, sealed = python_bid(case)
        verify.append(
            {
                "typedData": sealed_bid_typed_data(**sealed),
                "signature": sign_sealed_bid(case["privateKey"], **sealed),
            }
        )
    return run_ethers(ETHERS_CASES, verify)


@pytest.mark.parametrize("index", range(len(ETHERS_CASES)), ids=CASE_IDS)
def test_ethers_bid_has_our_commitment_digest_and_signer(
    ethers: dict[str, Any], index: int
) -> None:
    # given a bid that ethers committed to and signed
    theirs = ethers["sign"][index]
    bid, sealed = python_bid(ETHERS_CASES[index])

    # then our commitment and digest are ethers', and we recover the ethers wallet's address
    assert theirs["address"] == bid.shop
    assert bid.commitment() == unhex(theirs["commitment"])
    assert sealed_bid_digest(**sealed) == unhex(theirs["digest"])
    assert recover_sealed_bid_signer(unhex(theirs["signature"]), **sealed) == theirs["address"]
    verify_sealed_bid_signature(unhex(theirs["signature"]), **sealed)
    # both sign deterministically (RFC 6979) with low s, so even the signatures are identical
    assert sign_sealed_bid(ETHERS_CASES[index]["privateKey"], **sealed) == unhex(
        theirs["signature"]
    )


@pytest.mark.parametrize("index", range(len(ETHERS_CASES)), ids=CASE_IDS)
def test_ethers_verifies_our_signature_and_accepts_our_typed_data(
    ethers: dict[str, Any], index: int
) -> None:
    # given our signature of a bid and the typed data we made for it, verified by ethers
    theirs = ethers["verify"][index]
    _, sealed = python_bid(ETHERS_CASES[index])
    ours = sealed_bid_typed_data(**sealed)

    # then ethers recovers the shop and hashes our structure to our digest
    assert theirs["signer"] == sealed["shop"]
    assert unhex(theirs["digest"]) == sealed_bid_digest(**sealed)
    # and the payload ethers would send to eth_signTypedData_v4 is ours, up to number formats
    payload = theirs["payload"]
    assert payload["primaryType"] == ours["primaryType"]
    assert payload["types"] == ours["types"]
    assert payload["domain"] == {
        "name": "PrintFair AuctionHouse",
        "version": "1",
        "chainId": hex(sealed["chain_id"]),
        "verifyingContract": sealed["contract"].lower(),
    }
    assert payload["message"] == {
        "jobId": str(sealed["job_id"]),
        "shop": sealed["shop"].lower(),
        "commitment": "0x" + sealed["commitment"].hex(),
        "version": str(sealed["version"]),
    }


# --- known answers -------------------------------------------------------------------------------


def test_known_answer() -> None:
    sealed = {
        "chain_id": CHAIN_ID,
        "contract": CONTRACT,
        "job_id": 7,
        "shop": SHOP,
        "commitment": KAT_BID.commitment(),
        "version": 1,
    }

    assert KAT_BID.commitment().hex() == KAT_COMMITMENT
    assert sealed_bid_digest(**sealed).hex() == KAT_DIGEST
    assert sign_sealed_bid(SHOP_KEY, **sealed).hex() == KAT_SIGNATURE
    assert recover_sealed_bid_signer(bytes.fromhex(KAT_SIGNATURE), **sealed) == SHOP


@given(
    job_id=uint256s,
    shop=addresses,
    price=st.integers(min_value=1, max_value=MAX_PRICE),
    lead_time_days=st.integers(min_value=0, max_value=UINT32_MAX),
    salt=hashes,
)
def test_commitment_is_keccak_of_the_abi_encoding(
    job_id: int, shop: str, price: int, lead_time_days: int, salt: bytes
) -> None:
    bid = Bid(job_id=job_id, shop=shop, price=price, lead_time_days=lead_time_days, salt=salt)

    assert bid.commitment() == expected_commitment(job_id, shop, price, lead_time_days, salt)


def test_commitment_abi_layout() -> None:
    # abi.encode of static types is five 32-byte words, each value right-aligned (bytes32 as is)
    salt = bytes(range(32))
    words = (
        (7).to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(SHOP[2:])
        + (1_500_000).to_bytes(32, "big")
        + (5).to_bytes(32, "big")
        + salt
    )

    assert KAT_BID.commitment() == keccak(words)


def test_sealed_bid_type_string_is_the_contracts() -> None:
    assert SEALED_BID_TYPE == (
        "SealedBid(uint256 jobId,address shop,bytes32 commitment,uint64 version)"
    )


@settings(max_examples=50)
@given(bid=sealed_bids())
def test_digest_matches_an_independent_eip712_encoding(bid: dict[str, Any]) -> None:
    assert sealed_bid_digest(**fields(bid)) == expected_digest(**fields(bid))
    assert domain_separator(
        chain_id=bid["chain_id"], contract=bid["contract"]
    ) == expected_domain_separator(bid["chain_id"], bid["contract"])


def eth_account_digest(typed_data: dict[str, Any]) -> bytes:
    """eth_account's EIP-712 digest of a typed-data dict, as a wallet signs it."""
    signable = encode_typed_data(full_message=typed_data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


@settings(max_examples=50)
@given(bid=sealed_bids())
def test_digest_is_eth_accounts_digest_of_the_typed_data(bid: dict[str, Any]) -> None:
    # The digest is hashed from the fields; a wallet signs the typed data: the two must agree.
    typed_data = sealed_bid_typed_data(**fields(bid))
    assert sealed_bid_digest(**fields(bid)) == eth_account_digest(typed_data)


@settings(max_examples=25)
@given(
    key=private_keys,
    chain_id=chain_ids,
    contract=addresses,
    nonce=uint256s,
    deadline=uint256s,
)
def test_withdrawal_signature_is_over_eth_accounts_digest_of_the_typed_data(
    key: str, chain_id: int, contract: str, nonce: int, deadline: int
) -> None:
    account = Account.from_key(key)
    signature = sign_withdrawal(
        key, chain_id=chain_id, contract=contract, nonce=nonce, deadline=deadline
    )
    typed_data = withdrawal_typed_data(
        chain_id=chain_id,
        contract=contract,
        account=account.address,
        nonce=nonce,
        deadline=deadline,
    )
    signable = encode_typed_data(full_message=typed_data)
    assert Account.recover_message(signable, signature=signature) == account.address
    assert (
        recover_withdrawal_signer(
            signature,
            chain_id=chain_id,
            contract=contract,
            account=account.address,
            nonce=nonce,
            deadline=deadline,
        )
        == account.address
    )


def test_typed_data_structure() -> None:
    commitment = KAT_BID.commitment()

    typed_data = sealed_bid_typed_data(
        chain_id=CHAIN_ID, contract=CONTRACT, job_id=7, shop=SHOP, commitment=commitment, version=1
    )

    assert typed_data == {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "SealedBid": [
                {"name": "jobId", "type": "uint256"},
                {"name": "shop", "type": "address"},
                {"name": "commitment", "type": "bytes32"},
                {"name": "version", "type": "uint64"},
            ],
        },
        "primaryType": "SealedBid",
        "domain": {
            "name": "PrintFair AuctionHouse",
            "version": "1",
            "chainId": CHAIN_ID,
            "verifyingContract": CONTRACT,
        },
        "message": {
            "jobId": 7,
            "shop": SHOP,
            "commitment": "0x" + KAT_COMMITMENT,
            "version": 1,
        },
    }


def test_typed_data_survives_json_and_signs_with_eth_account() -> None:
    # given the typed data as a client receives it, as JSON
    sealed = {
        "chain_id": CHAIN_ID,
        "contract": CONTRACT,
        "job_id": 7,
        "shop": SHOP,
        "commitment": KAT_BID.commitment(),
        "version": 1,
    }
    received = json.loads(json.dumps(sealed_bid_typed_data(**sealed)))

    # when the client signs it with eth_account's own typed-data signer
    signed = Account.sign_typed_data(SHOP_KEY, full_message=received)

    # then it is the signature we make, and it verifies here
    assert bytes(signed.signature) == sign_sealed_bid(SHOP_KEY, **sealed)
    verify_sealed_bid_signature(bytes(signed.signature), **sealed)


def test_typed_data_is_a_fresh_copy() -> None:
    sealed = {
        "chain_id": CHAIN_ID,
        "contract": CONTRACT,
        "job_id": 7,
        "shop": SHOP,
        "commitment": b"\x01" * 32,
        "version": 1,
    }
    sealed_bid_typed_data(**sealed)["types"]["SealedBid"][0]["type"] = "uint8"

    assert sealed_bid_typed_data(**sealed)["types"]["SealedBid"][0]["type"] == "uint256"


# --- signing and recovery ------------------------------------------------------------------------


@settings(max_examples=50)
@given(bid=sealed_bids())
def test_sign_recover_round_trip(bid: dict[str, Any]) -> None:
    signature = sign_sealed_bid(bid["key"], **fields(bid))

    assert len(signature) == SIGNATURE_SIZE
    assert signature[64] in (27, 28)
    assert int.from_bytes(signature[32:64], "big") <= SECP256K1_N // 2
    assert recover_sealed_bid_signer(signature, **fields(bid)) == bid["shop"]
    verify_sealed_bid_signature(signature, **fields(bid))


@settings(max_examples=25)
@given(bid=sealed_bids())
def test_shop_defaults_to_the_key_address(bid: dict[str, Any]) -> None:
    without_shop = {name: value for name, value in fields(bid).items() if name != "shop"}

    assert sign_sealed_bid(bid["key"], **without_shop) == sign_sealed_bid(bid["key"], **fields(bid))


REPLAY_FIELDS = {
    "job_id": uint256s,
    "shop": addresses,
    "commitment": commitments,
    "version": versions,
    "chain_id": chain_ids,
    "contract": addresses,
}


@pytest.mark.parametrize("field", REPLAY_FIELDS)
@settings(max_examples=25)
@given(data=st.data(), bid=sealed_bids())
def test_signature_does_not_carry_over_to_another_field_value(
    field: str, data: st.DataObject, bid: dict[str, Any]
) -> None:
    # given a shop's signature of a sealed bid
    signature = sign_sealed_bid(bid["key"], **fields(bid))
    # when it is replayed with one field changed: another job, shop, commitment, version (an
    # older bid), chain or AuctionHouse deployment
    other = data.draw(REPLAY_FIELDS[field], label=field)
    assume(other != bid[field])
    replayed = {**fields(bid), field: other}

    # then it recovers to someone else, and does not verify for the shop
    assert recover_sealed_bid_signer(signature, **replayed) != bid["shop"]
    with pytest.raises(BidError, match="not by the shop"):
        verify_sealed_bid_signature(signature, **replayed)


@settings(max_examples=25)
@given(bid=sealed_bids(), other_key=private_keys)
def test_signature_by_another_key_does_not_verify(bid: dict[str, Any], other_key: str) -> None:
    forger = Account.from_key(other_key).address
    assume(forger != bid["shop"])
    # sign_sealed_bid refuses a key that is not the shop's, so the forger signs the digest itself
    digest = sealed_bid_digest(**fields(bid))
    signature = bytes(Account.unsafe_sign_hash(digest, other_key).signature)

    assert recover_sealed_bid_signer(signature, **fields(bid)) == forger
    with pytest.raises(BidError, match=f"signed by {forger}, not by the shop {bid['shop']}"):
        verify_sealed_bid_signature(signature, **fields(bid))


def kat_sealed() -> dict[str, Any]:
    return {
        "chain_id": CHAIN_ID,
        "contract": CONTRACT,
        "job_id": 7,
        "shop": SHOP,
        "commitment": KAT_BID.commitment(),
        "version": 1,
    }


def test_high_s_twin_is_refused() -> None:
    # given the other valid signature of the same digest: s' = n - s with the parity flipped
    signature = bytes.fromhex(KAT_SIGNATURE)
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])

    # then it is refused, as OpenZeppelin's ECDSA.recover refuses it
    with pytest.raises(BidError, match="lower half"):
        recover_sealed_bid_signer(twin, **kat_sealed())


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        pytest.param(bytes.fromhex(KAT_SIGNATURE)[:64], "65 bytes", id="64 bytes"),
        pytest.param(bytes.fromhex(KAT_SIGNATURE) + b"\x00", "65 bytes", id="66 bytes"),
        pytest.param(b"", "65 bytes", id="empty"),
        pytest.param(KAT_SIGNATURE, "must be bytes", id="hex string"),
        pytest.param(bytes.fromhex(KAT_SIGNATURE)[:64] + b"\x00", "27 or 28", id="v = 0"),
        pytest.param(bytes.fromhex(KAT_SIGNATURE)[:64] + b"\x01", "27 or 28", id="v = 1"),
        pytest.param(bytes.fromhex(KAT_SIGNATURE)[:64] + b"\x25", "27 or 28", id="v = 37"),
        pytest.param(bytes(32) + bytes.fromhex(KAT_SIGNATURE)[32:], "out of range", id="r = 0"),
        pytest.param(
            bytes.fromhex(KAT_SIGNATURE)[:32] + bytes(32) + b"\x1b", "out of range", id="s = 0"
        ),
        pytest.param(
            SECP256K1_N.to_bytes(32, "big") + bytes.fromhex(KAT_SIGNATURE)[32:],
            "out of range",
            id="r = n",
        ),
    ],
)
def test_malformed_signature_is_refused(signature: Any, message: str) -> None:
    with pytest.raises(BidError, match=message):
        recover_sealed_bid_signer(signature, **kat_sealed())


@settings(max_examples=50)
@given(
    r=st.integers(1, SECP256K1_N - 1),
    s=st.integers(1, SECP256K1_N // 2),
    v=st.sampled_from([27, 28]),
)
def test_random_signature_never_verifies(r: int, s: int, v: int) -> None:
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])

    # Not every r is the x coordinate of a point, so recovery may also fail outright.
    with pytest.raises(BidError):
        verify_sealed_bid_signature(signature, **kat_sealed())


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("0x" + "00" * 32, id="zero"),
        pytest.param("0x" + SECP256K1_N.to_bytes(32, "big").hex(), id="n"),
        pytest.param("0x1234", id="short"),
        pytest.param("not a key", id="not hex"),
        pytest.param(b"\x11" * 31, id="31 bytes"),
    ],
)
def test_invalid_private_key_is_refused(key: Any) -> None:
    unsigned = {name: value for name, value in kat_sealed().items() if name != "shop"}

    with pytest.raises(BidError, match="private key"):
        sign_sealed_bid(key, **unsigned)


def test_signing_for_another_shop_is_refused() -> None:
    with pytest.raises(BidError, match="not of the shop"):
        sign_sealed_bid(SHOP_KEY, **{**kat_sealed(), "shop": OTHER_SHOP})


def test_private_key_as_bytes_or_hex_signs_alike() -> None:
    assert sign_sealed_bid(bytes.fromhex(SHOP_KEY[2:]), **kat_sealed()) == sign_sealed_bid(
        SHOP_KEY, **kat_sealed()
    )


# --- validation ----------------------------------------------------------------------------------

VALID_BID: dict[str, Any] = {
    "job_id": 7,
    "shop": SHOP,
    "price": 1_500_000,
    "lead_time_days": 5,
    "salt": bytes(32),
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("job_id", -1, "uint256"),
        ("job_id", 2**256, "uint256"),
        ("job_id", True, "must be an int"),
        ("job_id", "7", "must be an int"),
        ("shop", SHOP.lower(), "checksum address"),
        ("shop", SHOP.upper().replace("0X", "0x"), "checksum address"),
        ("shop", SHOP[:-1], "checksum address"),
        ("shop", bytes.fromhex(SHOP[2:]), "checksum address"),
        ("shop", "0x" + "00" * 20, "zero address"),
        ("price", 0, "between 1 and"),
        ("price", -1, "between 1 and"),
        # the contract keeps prices in 128 bits and would refuse to reveal this bid
        ("price", 2**128, "between 1 and"),
        ("price", True, "must be an int"),
        ("price", 1.5, "must be an int"),
        ("lead_time_days", -1, "uint32"),
        ("lead_time_days", 2**32, "uint32"),
        ("salt", bytes(31), "32 bytes"),
        ("salt", bytes(33), "32 bytes"),
        ("salt", "0x" + "00" * 32, "must be bytes"),
    ],
)
def test_invalid_bid_is_refused(field: str, value: Any, message: str) -> None:
    with pytest.raises(BidError, match=message):
        Bid(**{**VALID_BID, field: value})


def test_extreme_valid_bids_are_accepted() -> None:
    Bid(job_id=0, shop=SHOP, price=1, lead_time_days=0, salt=bytes(32))
    Bid(job_id=UINT256_MAX, shop=SHOP, price=MAX_PRICE, lead_time_days=UINT32_MAX, salt=bytes(32))


def test_bid_is_frozen() -> None:
    bid = Bid(**VALID_BID)

    with pytest.raises(dataclasses.FrozenInstanceError):
        bid.price = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("chain_id", 0, "positive"),
        ("chain_id", -1, "uint256"),
        ("chain_id", 2**256, "uint256"),
        ("contract", CONTRACT.lower(), "checksum address"),
        ("contract", "0x" + "00" * 20, "zero address"),
        ("job_id", 2**256, "uint256"),
        ("shop", SHOP.lower(), "checksum address"),
        ("commitment", bytes(31), "32 bytes"),
        ("commitment", bytes(32), "must not be zero"),
        ("commitment", "0x" + KAT_COMMITMENT, "must be bytes"),
        ("version", 0, "positive"),
        ("version", -1, "uint64"),
        ("version", 2**64, "uint64"),
        ("version", False, "must be an int"),
    ],
)
def test_invalid_sealed_bid_fields_are_refused(field: str, value: Any, message: str) -> None:
    sealed = {**kat_sealed(), field: value}

    with pytest.raises(BidError, match=message):
        sealed_bid_typed_data(**sealed)
    with pytest.raises(BidError, match=message):
        sealed_bid_digest(**sealed)
    with pytest.raises(BidError, match=message):
        recover_sealed_bid_signer(bytes.fromhex(KAT_SIGNATURE), **sealed)
    if field != "shop":
        with pytest.raises(BidError, match=message):
            sign_sealed_bid(SHOP_KEY, **sealed)


def test_bid_error_is_a_value_error() -> None:
    assert issubclass(BidError, ValueError)


def test_new_salt_is_32_random_bytes() -> None:
    salts = {new_salt() for _ in range(100)}

    assert len(salts) == 100
    assert all(len(salt) == 32 for salt in salts)
