"""The shop API for production and quality (DESIGN.md section 3 step 9): evidence files, production
events and quality measurements per part serial, the part records with their anchoring state,
and the job's quality gate."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, parsers, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger.services.verification import AnchorState, anchor_states
from marketplace.models import User
from marketplace.services.quality_gate import quality_gate
from printfair.production import EVENT_KINDS
from printshops import selectors
from printshops.apis.permissions import HasScope, IsVerifiedShop
from printshops.models import ApiKey, EvidenceFile, PartRecord
from printshops.services import production


class EvidenceOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = EvidenceFile
        fields = ["id", "name", "content_type", "size_bytes", "sha256", "created_at"]


class AnchorOutput(serializers.Serializer):  # type: ignore[type-arg]
    state = serializers.ChoiceField(choices=["waiting", "sent", "included", "final"])
    batch = serializers.IntegerField(allow_null=True)
    root = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    tx_hash = serializers.CharField(allow_null=True)
    block_number = serializers.IntegerField(allow_null=True)


class PartRecordOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A production event or quality measurement of a part, with its anchoring state. `passed`
    is computed from the tolerance (null for production events)."""

    job = serializers.IntegerField(source="order.job_id")
    evidence = EvidenceOutput(many=True)
    record_hash = serializers.SerializerMethodField()
    anchor = serializers.SerializerMethodField()
    verify_url = serializers.SerializerMethodField()

    class Meta:
        model = PartRecord
        fields = [
            "id",
            "job",
            "part_serial",
            "seq",
            "kind",
            "occurred_at",
            "data",
            "characteristic",
            "passed",
            "evidence",
            "created_at",
            "record_hash",
            "anchor",
            "verify_url",
        ]

    def _state(self, record: PartRecord) -> AnchorState:
        # A page's states come in one query (set by the list view); a single record asks alone.
        states: dict[str, AnchorState] = cast(dict[str, Any], self.context).setdefault(
            "anchor_states", {}
        )
        key = str(record.pk)
        if key not in states:
            states.update(anchor_states("part_record", [key]))
        return states[key]

    def get_record_hash(self, record: PartRecord) -> str | None:
        return self._state(record).record_hash

    @extend_schema_field(AnchorOutput)
    def get_anchor(self, record: PartRecord) -> dict[str, Any]:
        state = self._state(record)
        return {
            "state": state.state,
            "batch": state.batch,
            "root": state.root,
            "tx_hash": state.tx_hash,
            "block_number": state.block_number,
        }

    def get_verify_url(self, record: PartRecord) -> str:
        request = self.context.get("request")
        path = reverse("verify_record", args=[record.pk])
        return request.build_absolute_uri(path) if request is not None else path


def _user(request: Request) -> User:
    return cast(User, request.user)


class JobEvidenceApi(APIView):
    """Upload an evidence file (a photo, a PDF report, a measurement CSV) for your order's
    records; cite its id in a record's `evidence`. Its SHA-256 goes into every record that cites
    it."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE
    parser_classes = [parsers.MultiPartParser]

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        file = serializers.FileField()

    @extend_schema(
        operation_id="evidence_upload", request=InputSerializer, responses=EvidenceOutput
    )
    def post(self, request: Request, job_id: int) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        evidence = production.evidence_upload(
            actor=_user(request), job_id=job_id, upload=given.validated_data["file"]
        )
        return Response(EvidenceOutput(evidence).data, status=201)


class _RecordInput(serializers.Serializer):  # type: ignore[type-arg]
    part_serial = serializers.CharField(max_length=100)
    occurred_at = serializers.DateTimeField(required=False, default_timezone=None)
    evidence = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)


class JobEventsApi(APIView):
    """Report a production event of a part (the part needs a print ticket first): print started
    or finished (machine, material lot), post-processing, inspection, packed, shipped (carrier,
    tracking number), delivered. Each kind's `data` is checked; the record is numbered per part
    and anchored on chain."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE

    class InputSerializer(_RecordInput):
        kind = serializers.ChoiceField(choices=list(EVENT_KINDS))
        data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]

    @extend_schema(
        operation_id="events_report", request=InputSerializer, responses=PartRecordOutput
    )
    def post(self, request: Request, job_id: int) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values = given.validated_data
        record = production.part_record_add(
            actor=_user(request),
            job_id=job_id,
            part_serial=values["part_serial"],
            kind=values["kind"],
            data=values["data"],
            occurred_at=values.get("occurred_at"),
            evidence_ids=cast(list[uuid.UUID], values["evidence"]),
        )
        output = PartRecordOutput(record, context={"request": request})
        return Response(output.data, status=201)


class JobQualityApi(APIView):
    """Report a quality measurement of a part: characteristic, nominal, tolerance (± as
    `tolerance`, or `tolerance_minus` and `tolerance_plus`), measured value, unit (default mm)
    and instrument. PrintFair computes pass or fail from the tolerance."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE

    class InputSerializer(_RecordInput):
        characteristic = serializers.CharField(max_length=100)
        nominal = serializers.CharField(max_length=40)
        tolerance = serializers.CharField(max_length=40, required=False)
        tolerance_minus = serializers.CharField(max_length=40, required=False)
        tolerance_plus = serializers.CharField(max_length=40, required=False)
        measured = serializers.CharField(max_length=40)
        unit = serializers.CharField(max_length=20, required=False)
        instrument = serializers.CharField(max_length=100)

    @extend_schema(
        operation_id="quality_report", request=InputSerializer, responses=PartRecordOutput
    )
    def post(self, request: Request, job_id: int) -> Response:
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values = dict(given.validated_data)
        # Fields this endpoint does not know (`passed`, a typo) go on to be refused by name.
        raw = cast(dict[str, Any], request.data)
        values.update({k: v for k, v in raw.items() if k not in given.fields})
        common = {name: values.pop(name, None) for name in ("part_serial", "occurred_at")}
        evidence = cast(list[uuid.UUID], values.pop("evidence"))
        record = production.part_record_add(
            actor=_user(request),
            job_id=job_id,
            part_serial=str(common["part_serial"]),
            kind=PartRecord.Kind.QUALITY,
            data=values,
            occurred_at=common["occurred_at"],
            evidence_ids=evidence,
        )
        output = PartRecordOutput(record, context={"request": request})
        return Response(output.data, status=201)


class JobRecordsApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Your order's part records (production events and quality measurements), by part serial and
    number, each with its anchoring state."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE
    serializer_class = PartRecordOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("part_serial", str, description="Only this part's records"),
            OpenApiParameter("kind", str, description="Only records of this kind"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.part_records_for_shop(
            user=_user(self.request),
            job_id=int(self.kwargs["job_id"]),
            part_serial=params.get("part_serial") or None,
            kind=params.get("kind") or None,
        )

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        # One query for the anchoring states of the whole page.
        if args and isinstance(args[0], list):
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["anchor_states"] = anchor_states(
                "part_record", [str(record.pk) for record in args[0]]
            )
        return super().get_serializer(*args, **kwargs)


class QualityGateOutput(serializers.Serializer):  # type: ignore[type-arg]
    required = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    needed = serializers.IntegerField()
    passing = serializers.IntegerField()
    met = serializers.BooleanField()
    explanation = serializers.CharField()
    parts = serializers.ListField(child=serializers.DictField())


class JobQualityGateApi(APIView):
    """Whether the job's quality gate is met: the characteristics it requires, and per part what
    is still missing (not measured, failed, or not anchored and final yet). Delivery and
    acceptance wait for it."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE

    @extend_schema(operation_id="quality_gate", responses=QualityGateOutput)
    def get(self, request: Request, job_id: int) -> Response:
        order = selectors.order_for_shop(user=_user(request), job_id=job_id)
        gate = quality_gate(order=order)
        return Response(
            {
                "required": gate.required,
                "needed": gate.needed,
                "passing": gate.passing,
                "met": gate.met,
                "explanation": gate.explain(),
                "parts": [
                    {
                        "part_serial": part.part_serial,
                        "passes": part.passes,
                        "problems": part.problems,
                    }
                    for part in gate.parts
                ],
            }
        )
