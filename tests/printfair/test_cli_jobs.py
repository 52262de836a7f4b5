"""How ``printfair jobs show`` states a design file's volume (printfair/cli/commands/jobs.py)."""

from __future__ import annotations

from typing import Any

import pytest

from printfair.cli.commands.jobs import format_volume


@pytest.mark.parametrize(
    ("design_file", "shown"),
    [
        ({"volume_cm3": 38.2299, "watertight": True, "consistently_wound": True}, "38.23 cm³"),
        (
            {"volume_cm3": None, "watertight": True, "consistently_wound": False},
            "not closed (not consistently wound): volume not meaningful",
        ),
        (
            {"volume_cm3": None, "watertight": False, "consistently_wound": False},
            "not closed (not watertight, not consistently wound): volume not meaningful",
        ),
        # A mesh too large to check, or uploaded before the checks existed.
        (
            {"volume_cm3": 1.5, "watertight": None, "consistently_wound": None},
            "1.50 cm³ (closure not checked)",
        ),
        # A STEP file, and a server that does not send the checks at all.
        ({"volume_cm3": None, "watertight": None, "consistently_wound": None}, "-"),
        ({"volume_cm3": 2.0}, "2.00 cm³ (closure not checked)"),
    ],
)
def test_the_volume_column_says_why_there_is_none(design_file: dict[str, Any], shown: str) -> None:
    assert format_volume(design_file) == shown
