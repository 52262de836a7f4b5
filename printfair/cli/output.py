"""Amounts, times and tables for people (``--json`` gives the data for programs instead)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from printfair.amounts import format_amount
from printfair.cli.errors import UsageError

__all__ = ["format_amount", "format_time", "format_units", "shorten", "table", "to_base_units"]

TITLE_WIDTH = 32


def to_base_units(text: str, decimals: int) -> int:
    """``"120.50"`` in currency units as settlement-token base units (120500000 at 6 decimals).

    A usage error for anything that is not a positive amount in whole base units: a price is
    never rounded behind the shop's back.
    """
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise UsageError(
            f"{text!r} is not a price: give it in currency units, e.g. 120.50"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise UsageError(f"the price must be a positive amount, not {text!r}")
    base = amount.scaleb(decimals)
    if base != base.to_integral_value():
        raise UsageError(
            f"{text} has more than {decimals} decimal places, the settlement token's precision"
        )
    return int(base)


def format_units(base: int | str | None, decimals: int, *, grouping: bool = True) -> str:
    """Base units as currency units with at least two decimals (``120500000`` -> ``120.50``)."""
    if base is None:
        return "-"
    return format_amount(Decimal(base).scaleb(-decimals), grouping=grouping)


def format_time(iso: str | None, *, seconds: bool = False) -> str:
    """An API timestamp in the local time zone, to the minute (or to the second)."""
    if not iso:
        return "-"
    shape = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    return datetime.fromisoformat(iso).astimezone().strftime(shape)


def shorten(text: str, width: int = TITLE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned text columns (numbers right-aligned), ready to print line by line."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    numeric = [
        bool(rows) and all(_is_number(row[i]) or row[i] == "-" for row in rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width, right in zip(cells, widths, numeric, strict=True):
            out.append(cell.rjust(width) if right else cell.ljust(width))
        return "  ".join(out).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _is_number(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "", 1).isdigit()
