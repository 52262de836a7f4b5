"""Amounts of the settlement token in templates: `{{ order.price|usd }}` -> '1,234.50'."""

from __future__ import annotations

from decimal import Decimal

from django import template

from marketplace.money import format_amount

register = template.Library()


@register.filter
def usd(base_units: int | Decimal | str | None) -> str:
    if base_units is None or base_units == "":
        return "—"
    return format_amount(Decimal(base_units))
