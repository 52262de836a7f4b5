"""Machines in the admin: what a shop registered, its keys and what the machine signed. Keys are
approved and revoked by the shop (API); events are never edited here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from machines.models import Machine, MachineEvent, MachineKey
from printshops.admin import ReadOnlyAdmin


class MachineKeyInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MachineKey
    extra = 0
    can_delete = False
    fields = (
        "address",
        "status",
        "first_sequence",
        "retired_from_sequence",
        "approved_at",
        "approve_tx",
        "revoke_tx",
    )
    # All of them, the chain writes too: never picked from every ChainTx in a select.
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Machine)
class MachineAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "make", "model", "serial", "operator", "owner", "last_sequence"]
    list_filter = ["process"]
    search_fields = ["serial", "make", "model", "operator__name"]
    # The registration is the outbox's (machines.chain), shown and never picked in a select.
    readonly_fields = ["last_sequence", "meters", "created_at", "register_tx"]
    inlines = [MachineKeyInline]


@admin.register(MachineEvent)
class MachineEventAdmin(ReadOnlyAdmin):
    list_display = ["machine", "sequence", "kind", "occurred_at", "received_at"]
    list_filter = ["kind"]
    search_fields = ["machine__serial"]


@admin.register(MachineKey)
class MachineKeyAdmin(ReadOnlyAdmin):
    """Every machine key, to find one by its address: the shop approves and revokes them (with
    the pairing code), the chain holds them; here they are only looked at."""

    list_display = ["address", "machine", "status", "first_sequence", "approved_at", "revoked_at"]
    list_filter = ["status"]
    search_fields = ["address", "machine__serial"]
    readonly_fields = [f.name for f in MachineKey._meta.fields]
