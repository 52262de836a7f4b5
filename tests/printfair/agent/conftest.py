"""The OPC UA machine the agent's tests watch (tests/opcua_machine.py): one per worker, reset for
each test, since an asyncua server builds its whole standard address space when it starts
(seconds of a core each time)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.opcua_machine import OpcUaMachine


@pytest.fixture(scope="session")
def served_machine() -> Iterator[OpcUaMachine]:
    with OpcUaMachine() as machine:
        yield machine


@pytest.fixture
def opcua_machine(served_machine: OpcUaMachine) -> OpcUaMachine:
    """The machine, idle and with no job history."""
    served_machine.reset()
    return served_machine
