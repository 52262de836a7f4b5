"""Tests for the shop's key proofs (printfair.keys): the EIP-55 checksum done without eth_utils."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from printfair.keys import KeyProofError, checksum

# EIP-55's own examples: all caps, all lower, and mixed.
EIP55_EXAMPLES = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_checksums_as_eip55_says(address: str) -> None:
    assert checksum(address) == address
    assert checksum(address.lower()) == address
    assert checksum(address[2:].upper()) == address


@given(raw=st.binary(min_size=20, max_size=20), case=st.sampled_from(["lower", "upper", "mixed"]))
def test_checksums_as_eth_utils_does(raw: bytes, case: str) -> None:
    text = raw.hex()
    text = {"lower": text, "upper": text.upper(), "mixed": to_checksum_address(raw)[2:]}[case]
    for given_address in ("0x" + text, "0X" + text, text):
        assert checksum(given_address) == to_checksum_address(given_address)


@pytest.mark.parametrize(
    "value",
    ["", "0x", "0x" + "ab" * 19, "0x" + "ab" * 21, "0x" + "gg" * 20, " 0x" + "ab" * 20,
     "0x" + "ab" * 20 + "\n", "shop@printfair.example", "0x" + "ab" * 32],
)  # fmt: skip
def test_refuses_what_is_not_an_address(value: str) -> None:
    with pytest.raises(KeyProofError, match="is not an Ethereum address"):
        checksum(value)
    with pytest.raises(ValueError):  # eth_utils refuses the same
        to_checksum_address(value)
