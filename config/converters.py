"""Path converters. Ids in URLs are bounded to what their columns hold: a number beyond a
64-bit primary key is no row of ours (404), not a database error (500)."""

from __future__ import annotations

#: The largest value of a BigAutoField (a signed 64-bit integer), on PostgreSQL and SQLite alike.
MAX_ID = 2**63 - 1


class IdConverter:
    """`<id:name>`: a row id, 0 to 2^63 - 1; anything longer or larger matches no URL."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("beyond a 64-bit id")  # Django then tries the next pattern: 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)
