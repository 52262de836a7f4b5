"""Machines' writes: registering a machine, pairing its key, and applying the events it signed.

Every event is applied once and in order, under the machine's row lock: its signature must be
the machine's key's (approved, not revoked, and for a replaced key only before the sequence
where its successor took over), its sequence the next one (a number already used is a
duplicate only if it is the very same signed event), its meters no lower than the last, and a
job's end must name the samples that were received for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import DomainError
from ledger.services.anchoring import LeafItem, record_leaves_add
from machines.attestation import machine_event_attest
from machines.chain import (
    machine_key_approve_enqueue,
    machine_key_revoke_enqueue,
    machine_register_enqueue,
)
from machines.models import Machine, MachineEvent, MachineKey
from machines.records import KIND, machine_event_content, machine_event_record_id
from marketplace.models import User
from marketplace.services.audit import audit_record
from printfair.keys import KeyProofError, checksum, registration_signer
from printfair.machine_events import (
    JOB_ENDED,
    JOB_STARTED,
    METER_NAMES,
    METERS,
    PROGRESS,
    MachineEventError,
    pairing_code,
    pairing_message,
    samples_digest,
)
from printfair.machine_events import (
    MachineEvent as SignedEvent,
)
from printfair.signatures import SIGNATURE_SIZE
from printshops.services import require_shop

#: The most events one request may deliver (an agent back from hours offline sends several).
MAX_EVENTS_PER_REQUEST = 500
#: How far ahead of the server's clock a machine's clock may be.
CLOCK_SKEW = timedelta(minutes=5)


@transaction.atomic
def machine_create(*, actor: User, **fields: Any) -> Machine:
    """A machine the actor's shop runs; it owns it unless `owner` is given."""
    operator = require_shop(actor).organization
    fields.setdefault("owner", operator)
    if Machine.objects.filter(
        operator=operator, make=fields["make"], model=fields["model"], serial=fields["serial"]
    ).exists():
        raise DomainError(
            "This shop already registered a machine with that make, model and serial number.",
            code="machine_exists",
            fields={"serial": ["Already registered."]},
            status=409,
        )
    machine = Machine.objects.create(operator=operator, **fields)
    machine_register_enqueue(machine=machine)
    audit_record(actor=actor, verb="machine.registered", target=machine, serial=machine.serial)
    return machine


@transaction.atomic
def machine_key_propose(
    *, actor: User, machine: Machine, address: str, signature: bytes
) -> MachineKey:
    """The agent's new key, waiting for the shop to approve it with its pairing code. The key
    proves itself by signing `pairing_message`; proposing the same key again returns it."""
    try:
        address = checksum(address)
        signer = registration_signer(
            pairing_message(machine_id=machine.pk, address=address, chain_id=settings.CHAIN_ID),
            signature,
        )
    except (KeyProofError, ValueError):
        signer = None
    if signer != address:
        raise DomainError(
            "The signature is not this key's signature of the machine's pairing message.",
            code="bad_key_proof",
            fields={"signature": ["Does not prove the key."]},
        )
    existing = MachineKey.objects.filter(address=address).first()
    if existing is not None:
        if existing.machine_id == machine.pk and existing.status == MachineKey.Status.PENDING:
            return existing
        # A key is one machine's, once: reusing it would let old signatures count again.
        raise DomainError(
            "This key was already used by a machine. The agent makes a new key for each pairing.",
            code="key_used",
            fields={"address": ["Already used."]},
            status=409,
        )
    key = MachineKey.objects.create(machine=machine, address=address)
    audit_record(actor=actor, verb="machine.key_proposed", target=machine, address=address)
    return key


@transaction.atomic
def machine_key_approve(*, actor: User, machine: Machine, code: str) -> MachineKey:
    """Approve the pending key whose pairing code the shop read off the agent; a key that was
    active before is retired (its events still count up to the sequence where this one starts)."""
    machine = Machine.objects.select_for_update().get(pk=machine.pk)
    wanted = code.strip().upper().replace(" ", "")
    pending = [
        key
        for key in machine.keys.filter(status=MachineKey.Status.PENDING)
        if pairing_code(machine_id=machine.pk, address=key.address) == wanted
    ]
    if not pending:
        raise DomainError(
            "No key of this machine waits with that pairing code. Check the code the agent shows.",
            code="pairing_code_unknown",
            fields={"pairing_code": ["No waiting key has this code."]},
        )
    now = timezone.now()
    start = machine.last_sequence + 1
    machine.keys.filter(status=MachineKey.Status.ACTIVE).update(
        status=MachineKey.Status.RETIRED, retired_at=now, retired_from_sequence=start
    )
    key = pending[0]
    key.status = MachineKey.Status.ACTIVE
    key.first_sequence = start
    key.approved_at = now
    key.approved_by = actor
    key.save(update_fields=["status", "first_sequence", "approved_at", "approved_by"])
    machine_key_approve_enqueue(machine=machine, key=key)
    audit_record(actor=actor, verb="machine.key_approved", target=machine, address=key.address)
    return key


@transaction.atomic
def machine_key_revoke(*, actor: User, machine: Machine, address: str) -> MachineKey:
    """Revoke a key (lost or compromised): no event it signed is taken from now on, whenever it
    was signed. The events already applied stay, as what was received while it was trusted."""
    key = machine.keys.filter(address__iexact=address).first()
    if key is None:
        # 400, not 404: the machine is there, the address given is not one of its keys.
        raise DomainError(
            "This machine has no key with this address.",
            code="key_unknown",
            fields={"address": ["Not a key of this machine."]},
        )
    if key.status != MachineKey.Status.REVOKED:
        key.status = MachineKey.Status.REVOKED
        key.revoked_at = timezone.now()
        key.save(update_fields=["status", "revoked_at"])
        machine_key_revoke_enqueue(key=key)
        audit_record(actor=actor, verb="machine.key_revoked", target=machine, address=key.address)
    return key


@dataclass(frozen=True)
class Delivered:
    """One delivered event: its fields as signed, and the signature."""

    sequence: int
    occurred_at_ms: int
    kind: str
    data: dict[str, Any]
    signature: bytes


@dataclass(frozen=True)
class Applied:
    """What became of a delivery: how many events were applied, how many were already there,
    and the refusal that stopped it (the events after a refused one are not looked at: they
    cannot apply before it)."""

    stored: int
    duplicates: int
    last_sequence: int
    refused: DomainError | None = None
    refused_index: int | None = None
    #: (sequence, reason) of each applied print start or end that could not attest its ticket.
    notes: tuple[tuple[int, str], ...] = ()


def machine_events_apply(*, machine: Machine, events: Sequence[Delivered]) -> Applied:
    """Apply the events in order, stopping at the first that is refused (see the module)."""
    if not 0 < len(events) <= MAX_EVENTS_PER_REQUEST:
        raise DomainError(
            f"Send between 1 and {MAX_EVENTS_PER_REQUEST} events at a time.",
            code="batch_size",
            fields={"events": [f"1 to {MAX_EVENTS_PER_REQUEST} events."]},
        )
    duplicates = 0
    applied: list[MachineEvent] = []
    refusal: DomainError | None = None
    refused_index: int | None = None
    with transaction.atomic():
        machine = Machine.objects.select_for_update().get(pk=machine.pk)
        keys = {key.address: key for key in machine.keys.all()}
        for index, delivered in enumerate(events):
            try:
                stored = _apply(machine, keys, delivered)
            except DomainError as refused:
                refusal, refused_index = refused, index
                break
            if stored is None:
                duplicates += 1
            else:
                applied.append(stored)
        machine.save(update_fields=["last_sequence", "meters"])
        # Each start, end and meter reading is anchored as it was signed (DESIGN section 8).
        record_leaves_add(
            kind=KIND,
            items=[
                LeafItem(
                    machine_event_record_id(event),
                    machine_event_content(event),
                    scope=f"machine:{machine.pk}",
                )
                for event in applied
                if event.kind != PROGRESS
            ],
        )
    notes = tuple(
        (event.sequence, event.attestation_note) for event in applied if event.attestation_note
    )
    return Applied(len(applied), duplicates, machine.last_sequence, refusal, refused_index, notes)


def _refuse(code: str, message: str) -> DomainError:
    return DomainError(message, code=code, status=409 if code.startswith("sequence") else 400)


def _apply(
    machine: Machine, keys: dict[str, MachineKey], delivered: Delivered
) -> MachineEvent | None:
    """The event applied, or None when it was applied before (the same signed event)."""
    try:
        event = SignedEvent(
            machine_id=machine.pk,
            sequence=delivered.sequence,
            occurred_at_ms=delivered.occurred_at_ms,
            kind=delivered.kind,
            data=delivered.data,
        )
        if len(delivered.signature) != SIGNATURE_SIZE:
            raise MachineEventError(f"a signature is {SIGNATURE_SIZE} bytes")
        signer = event.signer(delivered.signature, chain_id=settings.CHAIN_ID)
    except (MachineEventError, ValueError) as exc:
        raise _refuse("malformed_event", f"Event {delivered.sequence}: {exc}.") from None
    signature = "0x" + delivered.signature.hex()
    if event.sequence <= machine.last_sequence:
        # Delivered again (the agent did not hear the answer): fine if it is the same event.
        same = MachineEvent.objects.filter(
            machine=machine, sequence=event.sequence, signature=signature
        ).exists()
        if same:
            return None
        raise _refuse(
            "sequence_taken",
            f"Event {event.sequence}: this machine already has a different event with that "
            "number (a replayed or forged event).",
        )
    if event.sequence != machine.last_sequence + 1:
        raise _refuse(
            "sequence_gap",
            f"Event {event.sequence}: the next event of this machine is "
            f"{machine.last_sequence + 1}; events apply in order, none may be skipped.",
        )
    key = _check_key(keys.get(signer), event)
    occurred_at = datetime.fromtimestamp(event.occurred_at_ms / 1000, tz=UTC)
    if occurred_at > timezone.now() + CLOCK_SKEW:
        raise _refuse(
            "clock_ahead",
            f"Event {event.sequence}: it says it happened at {occurred_at.isoformat()}, in the "
            "future; check the machine's clock.",
        )
    if event.kind == METERS:
        _check_meters(machine, event)
    if event.kind == JOB_ENDED:
        _check_samples(machine, event)
    stored = MachineEvent.objects.create(
        machine=machine,
        key=key,
        sequence=event.sequence,
        kind=event.kind,
        occurred_at=occurred_at,
        occurred_at_ms=event.occurred_at_ms,
        data=dict(event.data),
        data_hash="0x" + event.data_hash.hex(),
        signature=signature,
    )
    machine.last_sequence = event.sequence
    machine_event_attest(machine, stored)
    return stored


def _check_key(key: MachineKey | None, event: SignedEvent) -> MachineKey:
    """The key that signed the event, if it may sign it."""
    if key is None:
        raise _refuse(
            "unknown_key",
            f"Event {event.sequence}: it is not signed by a key of this machine.",
        )
    if key.status == MachineKey.Status.REVOKED:
        raise _refuse(
            "revoked_key", f"Event {event.sequence}: it is signed by a revoked key ({key.address})."
        )
    if key.status == MachineKey.Status.PENDING:
        raise _refuse(
            "key_not_approved",
            f"Event {event.sequence}: its key ({key.address}) waits for the shop's approval.",
        )
    if key.retired_from_sequence is not None and event.sequence >= key.retired_from_sequence:
        raise _refuse(
            "key_replaced",
            f"Event {event.sequence}: its key ({key.address}) was replaced from event "
            f"{key.retired_from_sequence} on.",
        )
    return key


def _check_meters(machine: Machine, event: SignedEvent) -> None:
    meters = dict(machine.meters)
    for name in METER_NAMES:
        value = event.data.get(name)
        if value is None:
            continue
        last = meters.get(name)
        if last is not None and value < last:
            raise _refuse(
                "meter_backwards",
                f"Event {event.sequence}: the meter {name} went backwards (was {last}, now "
                f"{value}); lifetime counters only grow.",
            )
        meters[name] = value
    machine.meters = meters


def _check_samples(machine: Machine, event: SignedEvent) -> None:
    """A job's end names the samples taken since it started; they must be the ones received."""
    started = (
        MachineEvent.objects.filter(machine=machine, kind=JOB_STARTED)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    ended = (
        MachineEvent.objects.filter(machine=machine, kind=JOB_ENDED)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    if started is None or (ended is not None and ended > started):
        raise _refuse(
            "job_not_started",
            f"Event {event.sequence}: a job ended that this machine never said it started.",
        )
    claimed = event.data.get("samples")
    if claimed is None:
        return
    samples = list(
        MachineEvent.objects.filter(
            machine=machine, kind=PROGRESS, sequence__gt=started
        ).values_list("data", flat=True)
    )
    if samples_digest(samples) != claimed:
        raise _refuse(
            "samples_differ",
            f"Event {event.sequence}: the job's samples digest does not match the "
            f"{len(samples)} samples received for it.",
        )
