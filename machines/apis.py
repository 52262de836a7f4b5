"""The shop API's machines: register a machine, pair the key its agent made, and deliver the
events the machine signed (the agent does the last two; `printfair agent`)."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import Pattern, Text
from config.errors import DomainError
from machines import services
from machines.models import Machine, MachineKey
from machines.selectors import machine_get_for_shop, machine_list_for_shop
from marketplace.catalog import Process
from marketplace.models import User
from printfair.machine_events import KINDS, pairing_code
from printshops.apis.chain import ChainTxOutput
from printshops.apis.permissions import HasScope, IsShop
from printshops.models import ApiKey


def _key(request: Request) -> ApiKey:
    return cast(ApiKey, request.auth)


class KeyOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    pairing_code = serializers.SerializerMethodField()
    approval = ChainTxOutput(
        source="approve_tx",
        allow_null=True,
        help_text="The key's approval on the MachineRegistry (null until the shop approves it)",
    )
    revocation = ChainTxOutput(
        source="revoke_tx",
        allow_null=True,
        help_text="The key's revocation on the MachineRegistry (null unless revoked there)",
    )

    class Meta:
        model = MachineKey
        fields = [
            "address", "status", "pairing_code", "first_sequence", "approval", "revocation",
            "created_at",
        ]  # fmt: skip
        ref_name = "MachineKeyOutput"

    def get_pairing_code(self, key: MachineKey) -> str:
        return pairing_code(machine_id=key.machine_id, address=key.address)


class MachineOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    keys = KeyOutput(many=True, read_only=True)
    owner = Text(source="owner.owner_ref", help_text="The owner's reference")
    meters = serializers.DictField(child=serializers.FloatField())
    registration = ChainTxOutput(
        source="register_tx",
        allow_null=True,
        help_text="The machine's registration on the MachineRegistry",
    )

    class Meta:
        model = Machine
        fields = [
            "id", "make", "model", "process", "build_x_mm", "build_y_mm", "build_z_mm", "serial",
            "location", "owner", "last_sequence", "meters", "keys", "registration", "created_at",
        ]  # fmt: skip
        ref_name = "MachineOutput"


class MachineApiBase(APIView):
    """What the machine endpoints share: shops' API keys with the machines:write scope, the
    shop's own machine (another shop's is a 404), and a body checked by a serializer."""

    permission_classes = [permissions.IsAuthenticated, IsShop, HasScope]
    required_scope = ApiKey.Scope.MACHINES_WRITE

    def machine(self, request: Request, machine_id: int) -> Machine:
        return machine_get_for_shop(organization=_key(request).organization, machine_id=machine_id)

    def body(
        self,
        request: Request,
        serializer: type[serializers.Serializer],  # type: ignore[type-arg]
    ) -> dict[str, Any]:
        given = serializer(data=request.data)
        given.is_valid(raise_exception=True)
        return cast(dict[str, Any], given.validated_data)


class MachinesApi(MachineApiBase):
    """Your shop's machines; register one (its owner is your shop)."""

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        make = Text(max_length=100)
        model = Text(max_length=100)
        process = serializers.ChoiceField(choices=Process.choices)
        build_x_mm = serializers.IntegerField(min_value=1, max_value=100_000)
        build_y_mm = serializers.IntegerField(min_value=1, max_value=100_000)
        build_z_mm = serializers.IntegerField(min_value=1, max_value=100_000)
        serial = Text(max_length=100)
        location = Text(max_length=200, required=False, allow_blank=True)

        class Meta:
            ref_name = "MachineInput"

    @extend_schema(operation_id="machines_list", responses=MachineOutput(many=True))
    def get(self, request: Request) -> Response:
        machines = machine_list_for_shop(organization=_key(request).organization)
        return Response(MachineOutput(machines, many=True).data)

    @extend_schema(
        operation_id="machines_create", request=InputSerializer, responses={201: MachineOutput}
    )
    def post(self, request: Request) -> Response:
        given = self.body(request, self.InputSerializer)
        machine = services.machine_create(actor=cast(User, request.user), **given)
        return Response(MachineOutput(machine).data, status=201)


class MachineDetailApi(MachineApiBase):
    """One of your shop's machines, with its keys, last event number and meters."""

    @extend_schema(operation_id="machines_retrieve", responses=MachineOutput)
    def get(self, request: Request, machine_id: int) -> Response:
        machine = self.machine(request, machine_id)
        return Response(MachineOutput(machine).data)


class MachineKeysApi(MachineApiBase):
    """Propose the machine's new key (the agent does this): the key signs
    `printfair.machine_events.pairing_message`. The answer's pairing code is the one the agent
    shows; the shop approves the key with it."""

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        address = Pattern(r"^0x[0-9a-fA-F]{40}$")
        signature = Pattern(r"^0x[0-9a-fA-F]{130}$", help_text="65 bytes, 0x-hex")

        class Meta:
            ref_name = "MachineKeyInput"

    @extend_schema(
        operation_id="machine_keys_propose", request=InputSerializer, responses={201: KeyOutput}
    )
    def post(self, request: Request, machine_id: int) -> Response:
        machine = self.machine(request, machine_id)
        given = self.body(request, self.InputSerializer)
        key = services.machine_key_propose(
            actor=cast(User, request.user),
            machine=machine,
            address=given["address"],
            signature=bytes.fromhex(given["signature"][2:]),
        )
        return Response(KeyOutput(key).data, status=201)


class MachineKeyApproveApi(MachineApiBase):
    """Approve the machine's waiting key with the pairing code its agent shows; the key active
    before is replaced."""

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        pairing_code = Text(max_length=20)

        class Meta:
            ref_name = "MachineKeyApproveInput"

    @extend_schema(
        operation_id="machine_keys_approve", request=InputSerializer, responses={200: KeyOutput}
    )
    def post(self, request: Request, machine_id: int) -> Response:
        machine = self.machine(request, machine_id)
        given = self.body(request, self.InputSerializer)
        key = services.machine_key_approve(
            actor=cast(User, request.user),
            machine=machine,
            code=given["pairing_code"],
        )
        return Response(KeyOutput(key).data)


class MachineKeyRevokeApi(MachineApiBase):
    """Revoke a key of the machine (lost or compromised): nothing it signed is taken any more."""

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        address = Pattern(r"^0x[0-9a-fA-F]{40}$")

        class Meta:
            ref_name = "MachineKeyRevokeInput"

    @extend_schema(
        operation_id="machine_keys_revoke", request=InputSerializer, responses={200: KeyOutput}
    )
    def post(self, request: Request, machine_id: int) -> Response:
        machine = self.machine(request, machine_id)
        given = self.body(request, self.InputSerializer)
        key = services.machine_key_revoke(
            actor=cast(User, request.user), machine=machine, address=given["address"]
        )
        return Response(KeyOutput(key).data)


class EventInput(serializers.Serializer):  # type: ignore[type-arg]
    sequence = serializers.IntegerField(min_value=1, max_value=2**64 - 1)
    occurred_at_ms = serializers.IntegerField(min_value=1, max_value=2**64 - 1)
    kind = serializers.ChoiceField(choices=[(kind, kind) for kind in KINDS])
    # The wire name is `data`; DRF takes declared fields out of the class, so Serializer.data is
    # not shadowed at run time, only in the type checker's eyes.
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="The kind's fields (printfair/machine_events.py)"
    )
    signature = Pattern(r"^0x[0-9a-fA-F]{130}$", help_text="65 bytes, 0x-hex")

    class Meta:
        ref_name = "MachineEventInput"


class EventNote(serializers.Serializer):  # type: ignore[type-arg]
    sequence = serializers.IntegerField()
    message = Text()

    class Meta:
        ref_name = "MachineEventNote"


class MachineEventsApi(MachineApiBase):
    """Deliver events the machine signed, oldest first (up to 500). They apply once and in
    order: an event delivered again is counted as a duplicate; the first one refused stops the
    delivery (409 for a sequence that is taken or skipped ahead, 400 otherwise), with the events
    before it applied and its index and reason in the answer."""

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        events: serializers.ListSerializer[Any] = serializers.ListSerializer(
            child=EventInput(), allow_empty=False, max_length=services.MAX_EVENTS_PER_REQUEST
        )

        class Meta:
            ref_name = "MachineEventsInput"

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        stored = serializers.IntegerField()
        duplicates = serializers.IntegerField()
        last_sequence = serializers.IntegerField()
        # Print starts and ends applied that did not go on their ticket's timeline, and why.
        notes = EventNote(many=True)

        class Meta:
            ref_name = "MachineEventsOutput"

    @extend_schema(
        operation_id="machine_events_deliver",
        request=InputSerializer,
        responses={200: OutputSerializer},
    )
    def post(self, request: Request, machine_id: int) -> Response:
        machine = self.machine(request, machine_id)
        given = self.body(request, self.InputSerializer)
        events = [
            services.Delivered(
                sequence=entry["sequence"],
                occurred_at_ms=entry["occurred_at_ms"],
                kind=entry["kind"],
                data=dict(entry["data"]),
                signature=bytes.fromhex(entry["signature"][2:]),
            )
            for entry in cast(list[dict[str, Any]], given["events"])
        ]
        applied = services.machine_events_apply(machine=machine, events=events)
        summary = {
            "stored": applied.stored,
            "duplicates": applied.duplicates,
            "last_sequence": applied.last_sequence,
            "notes": [
                {"sequence": sequence, "message": message} for sequence, message in applied.notes
            ],
        }
        if applied.refused is not None:
            refusal = applied.refused
            raise DomainError(
                f"{refusal.message} ({applied.stored} applied before it.)",
                code=refusal.code,
                fields={f"events.{applied.refused_index}": [refusal.message]},
                status=refusal.status,
            )
        return Response(self.OutputSerializer(summary).data)
