"""Numbers in quality records are bounded before any arithmetic (issue 13, item 3): values like
-1e30, 1e999999 or a tolerance of 1e400 once raised decimal.InvalidOperation (a 500 on the server,
a traceback in the CLI, which share printfair/production.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from printfair.production import RecordInvalid, measurement_passes, validate_quality


def measurement(**changes: Any) -> dict[str, Any]:
    return {
        "characteristic": "Bore",
        "instrument": "CMM",
        "nominal": "10.00",
        "tolerance": "0.05",
        "measured": "10.02",
        **changes,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("measured", -1e30),
        ("measured", 1e30),
        ("measured", "1e999999"),
        ("measured", "-1E+999999999"),
        ("measured", "1e-999999999"),
        ("nominal", "9" * 21),
        ("nominal", "1" * 10_000),
        ("tolerance", "1e400"),
        ("tolerance", 1e300),
        ("measured", "0.0000000001"),
    ],
)
def test_numbers_beyond_twenty_digits_or_nine_places_are_refused_by_name(
    field: str, value: object
) -> None:
    with pytest.raises(RecordInvalid) as refused:
        validate_quality(measurement(**{field: value}))
    assert refused.value.fields == {field: ["At most 9 decimal places and 20 digits."]}


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", float("inf"), float("nan")])
def test_numbers_that_are_not_finite_are_refused(value: object) -> None:
    with pytest.raises(RecordInvalid) as refused:
        validate_quality(measurement(measured=value))
    assert refused.value.fields["measured"] == ["Not a finite number."]


def test_the_largest_and_finest_allowed_values_are_judged_exactly() -> None:
    # 20 digits, 9 of them after the point, with a tolerance of one in the last place: the
    # bounds need more than the default 28 digits of precision to be exact.
    clean = validate_quality(
        measurement(
            nominal="99999999999.000000001", tolerance="0.000000001", measured="99999999999"
        )
    )
    assert clean["passed"] is True
    outside = validate_quality(
        measurement(nominal="99999999999.000000001", tolerance="0", measured="99999999999")
    )
    assert outside["passed"] is False
    assert validate_quality(measurement(measured="1E+19"))["measured"] == "10000000000000000000"
    assert measurement_passes(
        nominal=Decimal("-99999999999.999999999"),
        tolerance_minus=Decimal("99999999999.999999999"),
        tolerance_plus=Decimal("0"),
        measured=Decimal("-199999999999.999999998"),
    )
