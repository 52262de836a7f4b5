"""The ledger tests' own fixture: the AuctionHouse deployed on its own (tests/ledger/house.py)."""

from __future__ import annotations

import pytest

from ledger.anvil import Anvil
from tests.ledger.house import House, deploy_house


@pytest.fixture
def ah(chain: Anvil) -> House:
    """The test token and an AuctionHouse deployed from their artifacts on the session's anvil
    (reverted after the test), three verified shops and two funded customers."""
    return deploy_house(chain)
