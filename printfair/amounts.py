"""Currency amounts as text: at least two decimals and none of the trailing zeros beyond
("500.000000" -> "500.00", "0.123450" -> "0.12345"), never rounded. The CLI's tables and the
API's amounts in currency units (a job's reserve price) say them the same way."""

from __future__ import annotations

from decimal import Decimal


def format_amount(amount: Decimal | str, *, grouping: bool = True) -> str:
    """`amount` in currency units; thousands grouped for people (`grouping`), not for programs."""
    amount = Decimal(amount)
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{amount:{',' if grouping else ''}.{places}f}"
