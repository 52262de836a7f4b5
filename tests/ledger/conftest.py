"""The ledger tests' own fixture: the AuctionHouse deployed on its own (tests/ledger/house.py)."""

from __future__ import annotations

import pytest

from ledger.anvil import Anvil
from tests.ledger.house import House, deploy_house


@pytest.fixture(scope="session")
def _house_on_chain(anvil_node: Anvil) -> House:
    """`deploy_house` once per session (per xdist worker), on the session's anvil: each test's
    `chain` reverts to the state right after it (session fixtures are set up before function
    ones, so `chain`'s snapshot is taken after the deployment and its revert keeps it)."""
    return deploy_house(anvil_node)


@pytest.fixture
def ah(_house_on_chain: House, chain: Anvil) -> House:
    """The test token and an AuctionHouse deployed from their artifacts on the session's anvil
    (reverted after the test), three verified shops and two funded customers."""
    return _house_on_chain
