"""Talking to PrintFair for ``printfair report``: evidence files uploaded, one record posted,
and the rows of a measurement sheet sent in batches (POST jobs/{id}/quality/batch/), stopping at
the first row refused with every row before it recorded.

The API client is imported by the functions that use it: every run of the CLI imports this
package to build its parser."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from printfair.cli.commands.report.sheet import Measurement
from printfair.cli.errors import CliError
from printfair.production import batch_entry_named, without_batch_entry_label

if TYPE_CHECKING:
    from printfair.cli.api import ApiClient, ApiError
    from printfair.cli.context import Context

__all__ = ["Refused", "SheetUpload", "post_record", "record_body", "upload_evidence"]


def upload_evidence(api: ApiClient, job: int, path: Path) -> str:
    """Upload one evidence file; its id on PrintFair."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        with path.open("rb") as handle:
            answer = api.post_file(f"jobs/{job}/evidence/", "file", path.name, handle, content_type)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return str(answer["id"])
    except (KeyError, TypeError):
        raise CliError(f"PrintFair at {api.base_url} did not say which id {path} got") from None


def post_record(ctx: Context, path: str, body: Mapping[str, Any], serial: str, job: int) -> Any:
    from printfair.cli.api import AnswerLost

    try:
        return ctx.api.post(path, body)
    except AnswerLost as exc:
        raise AnswerLost(
            exc.message,
            details=[
                *exc.details,
                "The record may have been made: check "
                f"`printfair records {job} --serial {serial}` before reporting it again.",
            ],
        ) from None


def record_body(
    serial: str, fields: Mapping[str, Any], at: datetime | None, evidence: Sequence[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {"part_serial": serial, **fields, "evidence": list(evidence)}
    if at is not None:
        body["occurred_at"] = at.isoformat()
    return body


class Refused(Exception):
    """The rows PrintFair refused (or may not have recorded), why, and the rows recorded just
    before them."""

    def __init__(
        self,
        rows: Sequence[Measurement],
        error: CliError,
        done: Sequence[tuple[Measurement, Mapping[str, Any]]] = (),
    ) -> None:
        super().__init__(error.message)
        self.rows, self.error, self.done = rows, error, list(done)


class SheetUpload:
    """Rows of a measurement sheet sent to PrintFair in batches, each evidence file uploaded
    once."""

    def __init__(self, api: ApiClient, job: int) -> None:
        self.api, self.job = api, job
        self.uploaded: dict[Path, str] = {}

    def send(self, rows: Sequence[Measurement]) -> list[tuple[Measurement, Mapping[str, Any]]]:
        """Record `rows` in one request (their evidence uploaded first), each with its record.
        A batch is all or nothing; when a row is refused, the rows before it are sent again
        without it, so that a run stops at its first bad row with everything before it recorded
        (as rows sent one by one would). Refused for that row."""
        from printfair.cli.api import AnswerLost, ApiError

        bodies: list[dict[str, Any]] = []
        for row in rows:
            try:
                ids = [self._upload(path) for path in row.evidence]
            except CliError as exc:
                raise Refused(
                    [row], exc, self.send(rows[: len(bodies)]) if bodies else []
                ) from None
            bodies.append(record_body(row.part_serial, row.fields, row.occurred_at, ids))
        try:
            answer = self.api.post(f"jobs/{self.job}/quality/batch/", {"records": bodies})
        except AnswerLost as exc:
            raise Refused(rows, exc) from None
        except ApiError as exc:
            index = _refused_entry(exc, len(rows))
            if index is None:
                raise Refused(rows, exc) from None
            before = self.send(rows[:index]) if index else []
            raise Refused([rows[index]], _entry_error(exc, index), before) from None
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(rows):
            raise Refused(
                rows,
                CliError(f"PrintFair at {self.api.base_url} did not say what it recorded"),
            )
        return list(zip(rows, results, strict=True))

    def _upload(self, path: Path) -> str:
        key = path.resolve()
        if key not in self.uploaded:
            self.uploaded[key] = upload_evidence(self.api, self.job, path)
        return self.uploaded[key]


def _refused_entry(exc: ApiError, count: int) -> int | None:
    """The index of the first entry a batch refusal names, or None (the whole batch)."""
    named = [entry[0] for name in exc.fields if (entry := batch_entry_named(name))]
    index = min(named, default=None)
    return index if index is not None and index < count else None


def _entry_error(exc: ApiError, index: int) -> ApiError:
    """A batch's refusal of entry `index` as the refusal of that one row: its own message and
    field names (`measured`, not `records.3.measured`)."""
    from printfair.cli.api import ApiError

    fields: dict[str, Any] = {}
    for name, problems in exc.fields.items():
        entry = batch_entry_named(name)
        if entry is not None and entry[0] == index:
            fields[entry[1] or "non_field_errors"] = problems
    return ApiError(
        without_batch_entry_label(exc.message), status=exc.status, code=exc.code, fields=fields
    )
