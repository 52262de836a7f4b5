"""Key-encryption key (KEK) rotation: rewrap every wrapped key under the current KEK version.

Design files' data keys and custodial wallets' private keys are kept wrapped under a versioned
KEK from settings (printfair/envelope.py; the wrap authenticates the version and what the key
belongs to). Rotating unwraps each key with the KEK it was wrapped under and wraps it again under
``PRINTFAIR_KEK_CURRENT``. The keys themselves do not change, so the ciphertext blobs are never
read or written: rotation costs the same for a 1 KB file as for a 1 GB one.

The procedure for operators is in the README ("Design files and keys").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet

from config.errors import DomainError
from marketplace.models import AuditEvent, CustomerWallet, DesignFile
from marketplace.services.wallets import wallet_binding
from marketplace.uploads import kek_for_version
from printfair.envelope import EnvelopeError, unwrap_data_key, wrap_data_key

#: Rows rewrapped per transaction: bounds how long row locks are held.
BATCH_SIZE = 200
AUDIT_VERB = "kek.rotated"

Row = TypeVar("Row", DesignFile, CustomerWallet)


@dataclass(frozen=True)
class _KeyHolder(Generic[Row]):
    """A model whose rows hold a wrapped key, and what each key is bound to."""

    model: type[Row]
    kind: str  # the key in RotationReport.by_kind and the audit event
    noun: str  # singular, for messages
    rows: Callable[[], QuerySet[Row]]  # the rows that hold a wrapped key
    binding: Callable[[Row], bytes]  # the `file_id` the wrap authenticates


_HOLDERS: tuple[_KeyHolder[Any], ...] = (
    _KeyHolder[DesignFile](
        model=DesignFile,
        kind="design_files",
        noun="design file",
        rows=DesignFile.objects.all,
        # The file id, as for the file's segments: the envelope's own binding, not a label.
        binding=lambda design_file: design_file.id.bytes,
    ),
    _KeyHolder[CustomerWallet](
        model=CustomerWallet,
        kind="custodial_wallets",
        noun="custodial wallet",
        # A wallet the customer brought holds no key (both fields are null).
        rows=lambda: CustomerWallet.objects.filter(
            wrapped_key__isnull=False, kek_version__isnull=False
        ).select_related("organization"),
        binding=lambda wallet: wallet_binding(wallet.organization),
    ),
)


@dataclass
class RotationReport:
    """What a rotation did: rows rewrapped per old KEK version and per kind of row."""

    kek_version: int
    rewrapped: dict[int, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rewrapped.values())


def kek_usage() -> dict[int, int]:
    """Rows holding a wrapped key, per KEK version (ascending)."""
    usage: Counter[int] = Counter()
    for holder in _HOLDERS:
        usage.update(_usage(holder))
    return dict(sorted(usage.items()))


def kek_rotate(
    *, batch_size: int = BATCH_SIZE, progress: Callable[[int, int], None] | None = None
) -> RotationReport:
    """Rewrap every key that is not under ``PRINTFAIR_KEK_CURRENT``, in batches of ``batch_size``
    rows, each batch in its own transaction; ``progress(done, total)`` is called after each one.

    Before anything changes, every KEK version in use must be configured and must open the keys
    wrapped under it; otherwise DomainError says which version and how to configure it. Safe to
    run again, and alongside uploads and downloads: a reader sees either the old wrapped key and
    version or the new ones, and both open while the old KEK stays configured. One audit event
    records the rotation; it is written with the first batch and brought up to date with each.
    """
    if batch_size < 1:
        raise DomainError(f"The batch size must be at least 1, got {batch_size}.")
    current = settings.PRINTFAIR_KEK_CURRENT
    _check_keks(current)
    report = RotationReport(kek_version=current)
    total = sum(_stale(holder, current).count() for holder in _HOLDERS)
    event: AuditEvent | None = None
    for holder in _HOLDERS:
        # Until none is left rather than one pass over the ids: a row wrapped under the old
        # version by a process that has not yet seen the new setting is caught too. Each batch
        # rewraps its rows or finds them already rewrapped, so the loop ends.
        while candidates := list(
            _stale(holder, current).order_by("pk").values_list("pk", flat=True)[:batch_size]
        ):
            with transaction.atomic():
                rewrapped = _rewrap(holder, candidates, current)
                after = _merged(report, holder, rewrapped) if rewrapped else report
                if rewrapped:
                    event = _audit(event, after, complete=False)
            report = after
            # Rows wrapped under an old version while this ran are counted when found.
            total = max(total, report.total)
            if progress is not None:
                progress(report.total, total)
    if event is not None:
        _audit(event, report, complete=True)
    return report


def _usage(holder: _KeyHolder[Any]) -> dict[int, int]:
    rows = holder.rows().order_by().values_list("kek_version").annotate(n=Count("pk"))
    return dict(rows.values_list("kek_version", "n"))


def _stale(holder: _KeyHolder[Row], current: int) -> QuerySet[Row]:
    return holder.rows().exclude(kek_version=current)


def _check_keks(current: int) -> None:
    """Refuse, before changing anything, unless every KEK needed is configured and correct."""
    keks = settings.PRINTFAIR_KEKS
    if current not in keks:
        raise DomainError(
            f"PRINTFAIR_KEK_CURRENT is {current}, but PRINTFAIR_KEKS has no key for version "
            f'{current}. Add "{current}:<base64 of 32 random bytes>" to PRINTFAIR_KEKS (a '
            "comma-separated list, or the file PRINTFAIR_KEKS_FILE names) on every server, "
            "then run rotate_kek again. Nothing was changed.",
            code="kek_not_configured",
        )
    in_use: dict[int, list[str]] = {}
    for holder in _HOLDERS:
        for version, rows in _usage(holder).items():
            if version != current:
                in_use.setdefault(version, []).append(_rows(rows, holder.noun))
    missing = sorted(version for version in in_use if version not in keks)
    if missing:
        listed = "; ".join(
            f"version {version} wraps {' and '.join(in_use[version])}" for version in missing
        )
        raise DomainError(
            f"Key-encryption keys are missing from PRINTFAIR_KEKS: {listed}. Add each back "
            f'("<version>:<base64 key>", comma-separated, in PRINTFAIR_KEKS or the file '
            "PRINTFAIR_KEKS_FILE names) with the key it had, then run rotate_kek again. "
            "Nothing was changed.",
            code="kek_not_configured",
        )
    # One key per version and kind is enough to catch a version configured with the wrong key,
    # which would otherwise stop the rotation halfway through.
    for holder in _HOLDERS:
        for version in in_use:
            sample = _stale(holder, current).filter(kek_version=version).first()
            if sample is not None and _unwrap(holder, sample) is None:
                raise DomainError(
                    f"The key configured for KEK version {version} in PRINTFAIR_KEKS does not "
                    f"open the key of {holder.noun} {sample.pk}: it is not the key that wrapped "
                    f"it. Configure version {version} with its original key. Nothing was changed.",
                    code="kek_wrong",
                )


def _unwrap(holder: _KeyHolder[Row], row: Row) -> bytes | None:
    """The row's key, or None if its KEK does not open it."""
    assert row.wrapped_key is not None and row.kek_version is not None  # noqa: S101 - by rows()
    try:
        return unwrap_data_key(
            kek_for_version(row.kek_version),
            bytes(row.wrapped_key),
            file_id=holder.binding(row),
            kek_version=row.kek_version,
        )
    except EnvelopeError:
        return None


def _rewrap(holder: _KeyHolder[Row], candidates: list[Any], current: int) -> Counter[int]:
    """Rewrap the candidates under the current KEK; rows rewrapped per old version."""
    kek = kek_for_version(current)
    # of=("self",): the wallet's organisation is read, not changed, so it stays unlocked.
    rows = holder.rows().select_for_update(of=("self",)).filter(pk__in=candidates).order_by("pk")
    rewrapped: Counter[int] = Counter()
    changed = []
    for row in rows:
        old_version = row.kek_version
        # Checked again under the lock: another rotation may have rewrapped the row since it
        # was picked, or the organisation may have switched to an address of its own.
        if old_version is None or row.wrapped_key is None or old_version == current:
            continue
        key = _unwrap(holder, row)
        if key is None:
            raise DomainError(
                f"The wrapped key of {holder.noun} {row.pk} does not open under KEK version "
                f"{old_version}: it was damaged or altered. Nothing in its batch was changed; "
                "batches before it were rewrapped. Restore the row from a backup and run "
                "rotate_kek again.",
                code="wrapped_key_invalid",
            )
        # Key and version are written in one UPDATE, so a reader never sees one without the other.
        row.wrapped_key = wrap_data_key(kek, key, file_id=holder.binding(row), kek_version=current)
        row.kek_version = current
        changed.append(row)
        rewrapped[old_version] += 1
    holder.model.objects.bulk_update(changed, ["wrapped_key", "kek_version"])
    return rewrapped


def _merged(
    report: RotationReport, holder: _KeyHolder[Any], rewrapped: Counter[int]
) -> RotationReport:
    by_version = Counter(report.rewrapped)
    by_version.update(rewrapped)
    by_kind = dict(report.by_kind)
    by_kind[holder.kind] = by_kind.get(holder.kind, 0) + sum(rewrapped.values())
    return RotationReport(
        kek_version=report.kek_version, rewrapped=dict(sorted(by_version.items())), by_kind=by_kind
    )


def _audit(event: AuditEvent | None, report: RotationReport, *, complete: bool) -> AuditEvent:
    """The rotation's one audit event, written in each batch's transaction so that it always
    matches what was committed. audit_record() needs a row as its target; the target here is
    the KEK version, which lives in settings."""
    data = {
        "kek_version": report.kek_version,
        "rewrapped": {str(version): n for version, n in report.rewrapped.items()},
        **report.by_kind,
        "complete": complete,
    }
    if event is None:
        return AuditEvent.objects.create(
            actor=None,
            organization=None,
            verb=AUDIT_VERB,
            target_type="printfair.kek",
            target_id=str(report.kek_version),
            data=data,
        )
    event.data = data
    event.save(update_fields=["data"])
    return event


def _rows(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
