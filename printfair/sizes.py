"""Sizes as people read them, in binary units (1 KiB = 1,024 bytes) everywhere PrintFair shows
one: the CLI's progress and messages, and the web pages (the `binary_size` template filter)."""

from __future__ import annotations


def format_size(size: float) -> str:
    """`size` bytes in the largest unit it reaches: '512 bytes', '1.5 KiB', '2.0 GiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
