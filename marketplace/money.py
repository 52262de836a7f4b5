"""Amounts of the settlement token: prices go on chain in its base units, pages show dollars."""

from __future__ import annotations

from decimal import Decimal

#: The settlement token's decimals: prices go on chain in its base units.
SETTLEMENT_DECIMALS = 6


def format_amount(base_units: int | Decimal) -> str:
    """Base units of the settlement token as dollars, e.g. 1234500000 -> '1,234.50'."""
    return f"{Decimal(base_units) / 10**SETTLEMENT_DECIMALS:,.2f}"
