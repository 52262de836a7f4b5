"""The shop API's open jobs (DESIGN.md section 6): what a shop sees before it bids, the spec,
geometry and file hashes, never the files' contents."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request

from config.api import Amount
from marketplace import selectors
from marketplace.models import DesignFile, Job
from marketplace.services import JOB_SPEC_FIELDS
from printshops.apis.permissions import HasScope, IsVerifiedShop
from printshops.filters import OpenJobFilter
from printshops.models import ApiKey


def _micrometres(lengths_mm: tuple[float, ...] | None) -> list[float] | None:
    """Lengths in mm to the micrometre: what a mesh's floating-point arithmetic adds beyond
    (167.99581000000003) is noise, far below what any printer holds."""
    return None if lengths_mm is None else [round(length, 3) for length in lengths_mm]


class DesignFileOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    """What a shop learns of a design before award: hashes and geometry, never contents."""

    size_mm = serializers.SerializerMethodField(
        help_text="The bounding box along the file's X, Y and Z axes (mm, to the micrometre)"
    )
    volume_cm3 = serializers.SerializerMethodField(
        help_text="Volume the mesh encloses (cm³, to the cubic millimetre); null if it does not "
        "enclose one (watertight or consistently_wound is false: the mesh is not closed, so no "
        "volume is meaningful) or the file is not a mesh"
    )

    class Meta:
        model = DesignFile
        fields = [
            "id",
            "original_name",
            "kind",
            "size_bytes",
            "sha256",
            "triangle_count",
            "size_mm",
            "volume_cm3",
            "watertight",
            "consistently_wound",
        ]
        extra_kwargs = {
            "triangle_count": {"help_text": "Null for files that are not meshes (STEP)"},
            "watertight": {
                "help_text": "Every edge is shared by exactly two facets; null if not checked "
                "(not a mesh, a mesh too large to check, or uploaded before the check)"
            },
            "consistently_wound": {
                "help_text": "Every edge shared by two facets is traversed in opposite "
                "directions by them, so all facets face the same side; null if not checked"
            },
        }

    def get_size_mm(self, obj: DesignFile) -> list[float] | None:
        return _micrometres(obj.size_mm)

    def get_volume_cm3(self, obj: DesignFile) -> float | None:
        return None if obj.volume_cm3 is None else round(obj.volume_cm3, 3)


# The API's names for fields the model names otherwise (the API keeps its names).
_API_NAMES = {"needed_by": "delivery_deadline"}


class JobOutput(serializers.ModelSerializer):  # type: ignore[type-arg]
    envelope_mm = serializers.SerializerMethodField(
        help_text="The largest part's bounding box, longest edge first (mm, to the micrometre)"
    )
    reserve_price = Amount(
        max_digits=18,
        decimal_places=6,
        help_text="The most the customer pays for the whole job, in currency units (USD)",
    )
    max_lead_time_days = serializers.IntegerField(
        read_only=True,
        help_text="The longest lead time a bid may reveal (from 1 day): the days from the end of "
        "the funding window after the reveal deadline to the date the parts are needed by. The "
        "AuctionHouse refuses any other.",
    )
    delivery_deadline = serializers.DateField(
        source="needed_by",
        help_text="The date the customer needs the parts by. The order's delivery deadline, "
        "which the contract enforces, is the funding time plus the winning lead time.",
    )

    class Meta:
        model = Job
        # The customer's free-text description is only in the detail view.
        fields = [
            "id",
            *(_API_NAMES.get(name, name) for name in JOB_SPEC_FIELDS if name != "description"),
            "status",
            "published_at",
            "envelope_mm",
            "max_lead_time_days",
        ]

    def get_envelope_mm(self, obj: Job) -> list[float] | None:
        return _micrometres(obj.envelope_mm)


class JobDetailOutput(JobOutput):
    files = DesignFileOutput(many=True, read_only=True)

    class Meta(JobOutput.Meta):
        fields = [*JobOutput.Meta.fields, "description", "files"]


class JobListApi(generics.ListAPIView):  # type: ignore[type-arg]
    """Open jobs, soonest bidding deadline first."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.JOBS_READ
    serializer_class = JobOutput
    filterset_class = OpenJobFilter

    def get_queryset(self) -> QuerySet[Job]:
        return selectors.job_list_open().order_by("commit_deadline", "id")

    @extend_schema(operation_id="jobs_list", summary="List open jobs")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)


class JobDetailApi(generics.RetrieveAPIView):  # type: ignore[type-arg]
    """One open job with its spec, geometry and file hashes. Closed or unknown jobs are 404."""

    permission_classes = [permissions.IsAuthenticated, IsVerifiedShop, HasScope]
    required_scope = ApiKey.Scope.JOBS_READ
    serializer_class = JobDetailOutput
    lookup_url_kwarg = "job_id"

    def get_queryset(self) -> QuerySet[Job]:
        return selectors.job_list_open()

    @extend_schema(operation_id="jobs_retrieve", summary="Get an open job")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)
