"""Sizes in templates, in the binary units the CLI uses: `{{ f.size_bytes|binary_size }}` ->
'1.5 MiB' (Django's `filesizeformat` says 'MB' for the same 1,048,576 bytes)."""

from __future__ import annotations

from django import template

from printfair.sizes import format_size

register = template.Library()


@register.filter
def binary_size(size: int | None) -> str:
    return "—" if size is None else format_size(size)
