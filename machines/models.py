"""Machines, their keys and the events they signed (DESIGN.md section 8)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketplace.catalog import Process
from marketplace.models import Organization
from printfair.machine_events import KINDS


class Machine(models.Model):
    """A printer a shop operates. Its owner may be another organisation (a leased machine)."""

    operator = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="machines", db_index=False
    )
    owner = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="owned_machines")
    make = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    process = models.CharField(max_length=20, choices=Process.choices)
    build_x_mm = models.PositiveIntegerField()
    build_y_mm = models.PositiveIntegerField()
    build_z_mm = models.PositiveIntegerField()
    serial = models.CharField(max_length=100)
    location = models.CharField(max_length=200, blank=True)
    #: The sequence number of the last event applied (0: none yet). Events apply in order.
    last_sequence = models.PositiveBigIntegerField(default=0)
    #: The last reading of each lifetime counter (`printfair.machine_events.METER_NAMES`).
    meters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    #: Its registration on the MachineRegistry, with its owner and operator (machines.chain).
    register_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "make", "model", "serial"], name="machine_unique_per_shop"
            )
        ]

    def __str__(self) -> str:
        return f"{self.make} {self.model} #{self.serial}"

    def pairing_status(self) -> str:
        """ "paired" with an active key, else "waiting" with a key to approve, else "unpaired"
        (from `keys.all()`, which the shop's list prefetches)."""
        statuses = {key.status for key in self.keys.all()}
        if MachineKey.Status.ACTIVE in statuses:
            return "paired"
        return "waiting" if MachineKey.Status.PENDING in statuses else "unpaired"


class MachineKey(models.Model):
    """A machine's signing key: proposed by its agent, approved by the shop with the pairing
    code the agent shows, then active until the next one is approved (retired) or it is revoked.
    An address is never used twice, on any machine."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the shop's approval"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Replaced by a newer key"
        REVOKED = "revoked", "Revoked"

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="keys")
    address = models.CharField(max_length=42, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    #: The first sequence number this key signed as the active key (set on approval).
    first_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    #: Set when a newer key takes over: this key's events must come before that sequence.
    retired_from_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    #: Its approval and its revocation on the MachineRegistry (machines.chain): what a verifier
    #: outside PrintFair checks a signature against.
    approve_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine"], condition=Q(status="active"), name="one_active_key_per_machine"
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"


class MachineEvent(models.Model):
    """One event a machine signed, applied once, in its sequence (`printfair.machine_events`)."""

    machine = models.ForeignKey(
        Machine, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    key = models.ForeignKey(MachineKey, on_delete=models.PROTECT, related_name="events")
    sequence = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=20, choices=[(kind, kind) for kind in KINDS])
    occurred_at = models.DateTimeField()
    occurred_at_ms = models.PositiveBigIntegerField()
    data = models.JSONField()
    #: keccak-256 of the data's canonical JSON, as signed (0x-hex).
    data_hash = models.CharField(max_length=66)
    #: 65 bytes r || s || v, 0x-hex.
    signature = models.CharField(max_length=132)
    received_at = models.DateTimeField(auto_now_add=True)
    #: The part record this print's start or end became on its ticket's timeline
    #: (machines.attestation), or why it did not (`attestation_note`).
    attested_record = models.ForeignKey(
        "printshops.PartRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attestation_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["machine", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "sequence"], name="machine_event_once")
        ]
        indexes = [models.Index(fields=["machine", "kind", "sequence"])]

    def __str__(self) -> str:
        return f"{self.machine_id}#{self.sequence} {self.kind}"
