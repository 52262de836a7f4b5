"""The shop API for production and quality (DESIGN.md section 3 step 9): evidence files, production
events and quality measurements per part serial (measurements also in batches), the part records
with their anchoring state, and the job's quality gate."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, parsers, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config.api import (
    MULTIPART_OVERHEAD,
    Reused,
    Text,
    answered_in_its_transaction,
    refuse_body_over,
)
from config.errors import DomainError
from ledger.services.verification import AnchorState, anchor_states
from marketplace.models import User
from marketplace.services.evidence import EVIDENCE_MAX_BYTES
from printfair.production import BATCH_FIELD, EVENT_KINDS, QUALITY_BATCH_MAX, batch_entry_label
from printshops import selectors
from printshops.apis.permissions import HasScope, IsVerifiedShop
from printshops.models import ApiKey, EvidenceFile, PartRecord
from printshops.services import production
from printshops.services.quality_gate import quality_gate


class EvidenceOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = EvidenceFile
        fields = ["id", "name", "content_type", "size_bytes", "sha256", "created_at"]


class AnchorOutput(serializers.Serializer):  # type: ignore[type-arg]
    state = serializers.ChoiceField(choices=["waiting", "sent", "included", "final"])
    batch = serializers.IntegerField(allow_null=True)
    root = Text(allow_null=True)  # type: ignore[assignment]
    tx_hash = Text(allow_null=True)
    block_number = serializers.IntegerField(allow_null=True)


class PartRecordOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """A production event or quality measurement of a part, with its anchoring state. `passed`
    is computed from the tolerance (null for production events)."""

    job = serializers.IntegerField(source="order.job_id")
    evidence = EvidenceOutput(many=True, source="cited_evidence")
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
        # A record this request stored comes with its state; a page's come in one query (set by
        # the list view); any other record asks alone.
        if record.queued_anchor is not None:
            return record.queued_anchor
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


# The answer to a new record, its fields built once a thread (config.api.Reused).
_RECORD_SHOWN = Reused(PartRecordOutput)


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
        operation_id="evidence_upload", request=InputSerializer, responses={201: EvidenceOutput}
    )
    def post(self, request: Request, job_id: int) -> Response:
        # The file and the multipart framing around it (its headers, the boundaries).
        refuse_body_over(request, EVIDENCE_MAX_BYTES + MULTIPART_OVERHEAD)
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        evidence = production.evidence_upload(
            actor=_user(request), job_id=job_id, upload=given.validated_data["file"]
        )
        return Response(EvidenceOutput(evidence).data, status=201)


class _RecordInput(serializers.Serializer):  # type: ignore[type-arg]
    part_serial = Text(max_length=100)
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

    given = Reused(InputSerializer)

    @extend_schema(
        operation_id="events_report", request=InputSerializer, responses={201: PartRecordOutput}
    )
    @answered_in_its_transaction
    def post(self, request: Request, job_id: int) -> Response:
        values = self.given.check(request.data)
        record = production.part_record_add(
            actor=_user(request),
            job_id=job_id,
            part_serial=values["part_serial"],
            kind=values["kind"],
            data=values["data"],
            occurred_at=values.get("occurred_at"),
            evidence_ids=cast(list[uuid.UUID], values["evidence"]),
        )
        return Response(_RECORD_SHOWN.show(record, {"request": request}), status=201)


class JobQualityApi(APIView):
    """Report a quality measurement of a part: characteristic, nominal, tolerance (± as
    `tolerance`, or `tolerance_minus` and `tolerance_plus`), measured value, unit (default mm)
    and instrument. PrintFair computes pass or fail from the tolerance."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE

    class InputSerializer(_RecordInput):
        characteristic = Text(max_length=100)
        nominal = Text(max_length=40)
        tolerance = Text(max_length=40, required=False)
        tolerance_minus = Text(max_length=40, required=False)
        tolerance_plus = Text(max_length=40, required=False)
        measured = Text(max_length=40)
        unit = Text(max_length=20, required=False)
        instrument = Text(max_length=100)

        class Meta:
            # Its own name in the schema (the batch endpoint's entries are these too).
            ref_name = "QualityInput"

    given = Reused(InputSerializer)

    @extend_schema(
        operation_id="quality_report", request=InputSerializer, responses={201: PartRecordOutput}
    )
    @answered_in_its_transaction
    def post(self, request: Request, job_id: int) -> Response:
        values = self.given.check(request.data)
        entry = _quality_entry(values, request.data, known=self.given.fields)
        record = production.part_record_add(
            actor=_user(request),
            job_id=job_id,
            part_serial=entry.part_serial,
            kind=entry.kind,
            data=entry.data,
            occurred_at=entry.occurred_at,
            evidence_ids=entry.evidence_ids,
        )
        return Response(_RECORD_SHOWN.show(record, {"request": request}), status=201)


def _quality_entry(values: Any, raw: Any, *, known: Mapping[str, Any]) -> production.PartEntry:
    """A quality measurement as the service takes it, from one validated body of
    JobQualityApi.InputSerializer and the body as sent."""
    data = dict(values)
    # Fields this endpoint does not know (`passed`, a typo) go on to be refused by name.
    if isinstance(raw, Mapping):
        data.update({k: v for k, v in raw.items() if k not in known})
    part_serial = data.pop("part_serial")
    occurred_at = data.pop("occurred_at", None)
    evidence = cast(list[uuid.UUID], data.pop("evidence"))
    return production.PartEntry(
        part_serial=str(part_serial),
        kind=PartRecord.Kind.QUALITY,
        data=data,
        occurred_at=occurred_at,
        evidence_ids=evidence,
    )


def _flat_errors(detail: Any, name: str = "") -> dict[str, list[str]]:
    """DRF's nested errors (dicts of fields, lists of entries) as the API's one error format has
    them: dotted field names (`records.3.measured`), an entry's or a list's own errors under its
    name."""
    if isinstance(detail, Mapping):
        items: Iterable[tuple[Any, Any]] = detail.items()
    elif isinstance(detail, list) and any(isinstance(item, Mapping | list) for item in detail):
        items = enumerate(detail)
    else:
        return {name or api_settings.NON_FIELD_ERRORS_KEY: [str(message) for message in detail]}
    flat: dict[str, list[str]] = {}
    for key, value in items:
        if not value:
            continue
        if key == api_settings.NON_FIELD_ERRORS_KEY:
            inner = name
        else:
            inner = f"{name}.{key}" if name else str(key)
        for field, messages in _flat_errors(value, inner).items():
            flat.setdefault(field, []).extend(messages)
    return flat


def _batch_invalid(errors: Mapping[str, Any], body: Any) -> DomainError:
    """The batch's validation errors in the API's one error format, the message naming the first
    entry refused and what is wrong with it."""
    message = "The request has invalid fields."
    # The entries' errors, by index (DRF gives a dict of the refused ones), beside the list's own
    # (too long, not a list) under non_field_errors.
    entries = errors.get(BATCH_FIELD)
    if isinstance(entries, list):
        entries = dict(enumerate(entries))
    refused = {
        index: problems
        for index, problems in (entries.items() if isinstance(entries, Mapping) else ())
        if isinstance(index, int) and isinstance(problems, Mapping) and problems
    }
    if refused:
        index = min(refused)
        given = body[BATCH_FIELD][index]
        serial = given.get("part_serial") if isinstance(given, Mapping) else None
        label = batch_entry_label(index, serial if isinstance(serial, str) else "")
        message = f"{label}: " + "; ".join(
            f"{field}: {' '.join(messages)}"
            for field, messages in _flat_errors(refused[index]).items()
        )
    return DomainError(message, code="validation_error", fields=_flat_errors(errors))


class JobQualityBatchApi(APIView):
    """Report many quality measurements of the order's parts at once (a measurement sheet): up to
    500 entries (QUALITY_BATCH_MAX), each the body JobQualityApi takes. All or nothing: an entry
    that is refused refuses the batch, with the entry named (fields `records.{i}.{field}`, i from
    0). Each part's measurements are numbered in the order given; the results come back in that
    order."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.PRODUCTION_WRITE

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        # Named BATCH_FIELD: errors name an entry's fields `records.{i}.{field}` (_flat_errors).
        records: serializers.ListSerializer[Any] = serializers.ListSerializer(
            child=JobQualityApi.InputSerializer(), allow_empty=False, max_length=QUALITY_BATCH_MAX
        )

        class Meta:
            ref_name = "QualityBatchInput"

    class OutputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        results = PartRecordOutput(many=True)

        class Meta:
            ref_name = "QualityBatchOutput"

    @extend_schema(
        operation_id="quality_batch_add",
        request=InputSerializer,
        responses={201: OutputSerializer},
    )
    @answered_in_its_transaction
    def post(self, request: Request, job_id: int) -> Response:
        given = self.InputSerializer(data=request.data)
        if not given.is_valid():
            raise _batch_invalid(given.errors, request.data)
        bodies = cast(dict[str, list[Any]], request.data)[BATCH_FIELD]
        known = JobQualityApi.InputSerializer().fields
        entries = [
            _quality_entry(values, body, known=known)
            for values, body in zip(given.validated_data[BATCH_FIELD], bodies, strict=True)
        ]
        # The records come with their evidence and their anchoring states.
        records = production.part_records_add(actor=_user(request), job_id=job_id, entries=entries)
        output = PartRecordOutput(records, many=True, context={"request": request})
        return Response({"results": output.data}, status=201)


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
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI document is being made
            return PartRecord.objects.none()
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
    required = serializers.ListField(child=Text())  # type: ignore[assignment]
    needed = serializers.IntegerField()
    passing = serializers.IntegerField()
    met = serializers.BooleanField()
    explanation = Text()
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
