"""Production events and quality records of a part (DESIGN.md section 3 step 9): which kinds
exist, what each carries, and how a measurement is judged against its tolerance.

The server validates what a shop reports with these functions and the CLI checks its input with
the same ones before sending, so both give the same errors. Values come back normalised the way
they are hashed (printfair/canonical.py): strings stripped, measurements as decimal strings
exactly as given (``"10.050"`` keeps its three places: they say how precisely it was measured).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, localcontext
from typing import Any, Final

__all__ = [
    "EVENT_KINDS",
    "QUALITY",
    "QUALITY_BATCH_MAX",
    "FieldSpec",
    "RecordInvalid",
    "batch_entry_field",
    "batch_entry_label",
    "batch_entry_named",
    "measurement_passes",
    "validate_event",
    "validate_quality",
    "without_batch_entry_label",
]

TEXT_MAX = 100
NOTE_MAX = 1000
DECIMAL_PLACES_MAX = 9
DECIMAL_DIGITS_MAX = 20
_TOO_PRECISE = f"At most {DECIMAL_PLACES_MAX} decimal places and {DECIMAL_DIGITS_MAX} digits."
# A value's text longer than any number within those bounds can be (sign, point, digits and a
# generous exponent) is refused before it is read.
_DECIMAL_TEXT_MAX = DECIMAL_DIGITS_MAX + 16
# Enough digits for any sum or difference of two values within the bounds to be exact, and
# traps on, so that nothing is ever rounded silently.
_CONTEXT = Context(prec=2 * DECIMAL_DIGITS_MAX + 2, traps=[InvalidOperation, Inexact, Overflow])

# The record kind of a quality measurement (production events use EVENT_KINDS' keys).
QUALITY = "quality"
# The most quality measurements one request to the batch endpoint may carry
# (POST /api/v1/jobs/{id}/quality/batch/): a measurement sheet goes up in requests of this many.
QUALITY_BATCH_MAX: Final = 500
# How a batch's refusal names the entry refused: its fields as `records.{index}.{field}` (index
# from 0; `records.{index}` for the entry as a whole), its message led by batch_entry_label.
BATCH_FIELD: Final = "records"
_BATCH_ENTRY_FIELD: Final = re.compile(rf"^{BATCH_FIELD}\.(\d+)(?:\.(.+))?$")
_BATCH_ENTRY_LABEL: Final = re.compile(r"^Record \d+ \((?:part [^)]*|no part serial)\): ")


def batch_entry_label(index: int, part_serial: str) -> str:
    """How an error names the entry at `index` (0-based) of a batch: "Record 4 (part P-2)"."""
    serial = (part_serial or "").strip()
    return f"Record {index + 1} " + (f"(part {serial})" if serial else "(no part serial)")


def batch_entry_field(index: int, name: str | None = None) -> str:
    """`records.{index}.{name}`, or `records.{index}` for the entry as a whole."""
    return f"{BATCH_FIELD}.{index}" + (f".{name}" if name else "")


def batch_entry_named(field: str) -> tuple[int, str | None] | None:
    """(index, the entry's own field name or None) of a field batch_entry_field made."""
    match = _BATCH_ENTRY_FIELD.match(field)
    return (int(match.group(1)), match.group(2)) if match else None


def without_batch_entry_label(message: str) -> str:
    """A batch refusal's message as the one entry's own (batch_entry_label taken off)."""
    return _BATCH_ENTRY_LABEL.sub("", message, count=1)


class RecordInvalid(ValueError):
    """What is wrong with a reported record, per field (as the API's error format has it)."""

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self.fields = dict(fields)
        super().__init__(
            "; ".join(f"{name}: {' '.join(problems)}" for name, problems in self.fields.items())
        )


@dataclass(frozen=True)
class FieldSpec:
    name: str
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int = TEXT_MAX


def _note() -> FieldSpec:
    return FieldSpec("note", "free text", max_length=NOTE_MAX)


# What each production event carries. The server rejects fields not listed here.
EVENT_KINDS: dict[str, tuple[FieldSpec, ...]] = {
    "print_started": (
        FieldSpec("machine", "the machine printing the part", required=True),
        FieldSpec("material_lot", "the material's lot or batch number", required=True),
        _note(),
    ),
    "print_finished": (
        FieldSpec("machine", "the machine that printed the part", required=True),
        FieldSpec("material_lot", "the material's lot or batch number", required=True),
        FieldSpec("outcome", "how the print ended", required=True, choices=("completed", "failed")),
        _note(),
    ),
    "post_processing": (
        FieldSpec("step", "e.g. support removal, curing, heat treatment", required=True),
        _note(),
    ),
    "inspection": (
        FieldSpec("inspector", "who inspected the part"),
        FieldSpec(
            "outcome", "the inspection's verdict", required=True, choices=("passed", "failed")
        ),
        _note(),
    ),
    "packed": (FieldSpec("package", "the package's label or id"), _note()),
    "shipped": (
        FieldSpec("carrier", "who carries the part", required=True),
        FieldSpec("tracking_number", "the carrier's tracking number", required=True),
        _note(),
    ),
    "delivered": (FieldSpec("received_by", "who received the part"), _note()),
}


def _clean_text(value: Any, spec: FieldSpec) -> tuple[str | None, str | None]:
    """(normalised value, problem)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        return None, "Must be text."
    value = value.strip()
    if not value:
        return None, ("This field is required." if spec.required else None)
    if len(value) > spec.max_length:
        return None, f"At most {spec.max_length} characters."
    allowed_newlines = spec.max_length == NOTE_MAX
    if not value.replace("\n", "" if allowed_newlines else "\n").isprintable():
        return None, "Only printable characters."
    if spec.choices and value not in spec.choices:
        return None, f"One of: {', '.join(spec.choices)}."
    return value, None


def validate_event(kind: str, data: Mapping[str, Any]) -> dict[str, str]:
    """The event's data, normalised (empty optional fields left out), or RecordInvalid."""
    specs = EVENT_KINDS.get(kind)
    if specs is None:
        raise RecordInvalid({"kind": [f"One of: {', '.join(EVENT_KINDS)}."]})
    if not isinstance(data, Mapping):
        raise RecordInvalid({"data": ["Must be an object."]})
    problems: dict[str, list[str]] = {}
    known = {spec.name for spec in specs}
    for name in data:
        if name not in known:
            allowed = ", ".join(sorted(known))
            problems[str(name)] = [f"Not a field of a {kind} event (it has {allowed})."]
    clean: dict[str, str] = {}
    for spec in specs:
        value, problem = _clean_text(data.get(spec.name), spec)
        if problem:
            problems[spec.name] = [problem]
        elif value is not None:
            clean[spec.name] = value
    if problems:
        raise RecordInvalid(problems)
    return clean


def _decimal(value: Any) -> tuple[Decimal | None, str | None]:
    if isinstance(value, bool) or value is None or value == "":
        return None, "A number is required."
    if isinstance(value, float):
        value = repr(value)  # the shortest form that reads back as the same float
    text = str(value).strip()
    if len(text) > _DECIMAL_TEXT_MAX:
        return None, _TOO_PRECISE
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, "Not a number."
    if not number.is_finite():
        return None, "Not a finite number."
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite numbers have an integer exponent
    # Digits before the point, and after it: "1E+30" has 31 before, "1E-12" 12 after. Bounded
    # here, before any arithmetic, so a number like 1e999999 is refused rather than computed.
    places = max(-exponent, 0)
    whole = max(len(digits) + exponent, 0)
    if places > DECIMAL_PLACES_MAX or whole + places > DECIMAL_DIGITS_MAX:
        return None, _TOO_PRECISE
    # No exponent in the canonical form: "1E+1" becomes "10".
    return (number.quantize(Decimal(1), context=_CONTEXT) if exponent > 0 else number), None


def measurement_passes(
    *, nominal: Decimal, tolerance_minus: Decimal, tolerance_plus: Decimal, measured: Decimal
) -> bool:
    """Within nominal - tolerance_minus .. nominal + tolerance_plus, both ends included (exactly:
    the context holds every digit the bounds on each value allow)."""
    with localcontext(_CONTEXT):
        return nominal - tolerance_minus <= measured <= nominal + tolerance_plus


def validate_quality(data: Mapping[str, Any]) -> dict[str, str | bool]:
    """A quality measurement, normalised, with ``passed`` computed from the tolerance (a client
    cannot say whether it passed), or RecordInvalid.

    Give the tolerance as ``tolerance`` (±) or as ``tolerance_minus`` and ``tolerance_plus``
    (each a non-negative amount below and above nominal).
    """
    if not isinstance(data, Mapping):
        raise RecordInvalid({"data": ["Must be an object."]})
    problems: dict[str, list[str]] = {}
    allowed = {
        "characteristic",
        "unit",
        "nominal",
        "tolerance",
        "tolerance_minus",
        "tolerance_plus",
        "measured",
        "instrument",
    }
    fields = sorted(allowed)
    allowed.add("passed")
    for name in data:
        if name not in allowed:
            problems[str(name)] = [
                f"Not a field of a quality record (it has {', '.join(sorted(fields))})."
            ]
    if "passed" in data:
        problems["passed"] = ["PrintFair computes this from the tolerance; leave it out."]
    clean: dict[str, str | bool] = {}
    for spec in (
        FieldSpec("characteristic", "what was measured", required=True),
        FieldSpec("instrument", "the instrument used", required=True),
        FieldSpec("unit", "the unit of the values", max_length=20),
    ):
        value, problem = _clean_text(data.get(spec.name), spec)
        if problem:
            problems[spec.name] = [problem]
        elif value is not None:
            clean[spec.name] = value
    clean.setdefault("unit", "mm")
    numbers: dict[str, Decimal] = {}
    for name in ("nominal", "measured"):
        number, problem = _decimal(data.get(name))
        if problem:
            problems[name] = [problem]
        elif number is not None:
            numbers[name] = number
    symmetric = data.get("tolerance") not in (None, "")
    split = any(data.get(name) not in (None, "") for name in ("tolerance_minus", "tolerance_plus"))
    if symmetric and split:
        problems["tolerance"] = [
            "Give tolerance (±) or tolerance_minus and tolerance_plus, not both."
        ]
    elif not symmetric and not split:
        problems["tolerance"] = ["Give tolerance (±) or tolerance_minus and tolerance_plus."]
    else:
        names = ("tolerance",) if symmetric else ("tolerance_minus", "tolerance_plus")
        for name in names:
            number, problem = _decimal(data.get(name))
            if problem is None and number is not None and number < 0:
                problem = "Give the amount below or above nominal, not a signed limit (>= 0)."
            if problem:
                problems[name] = [problem]
            elif number is not None:
                numbers[name] = number
        if symmetric and "tolerance" in numbers:
            numbers["tolerance_minus"] = numbers["tolerance_plus"] = numbers.pop("tolerance")
    if problems:
        raise RecordInvalid(problems)
    for name in ("nominal", "tolerance_minus", "tolerance_plus", "measured"):
        clean[name] = str(numbers[name])
    clean["passed"] = measurement_passes(
        nominal=numbers["nominal"],
        tolerance_minus=numbers["tolerance_minus"],
        tolerance_plus=numbers["tolerance_plus"],
        measured=numbers["measured"],
    )
    return clean
