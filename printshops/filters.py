from __future__ import annotations

import re

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from marketplace.catalog import Material, Process
from marketplace.models import Job

_VOLUME = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*[xX×,]\s*(\d+(?:\.\d+)?)\s*[xX×,]\s*(\d+(?:\.\d+)?)\s*$"
)


class OpenJobFilter(filters.FilterSet):  # type: ignore[misc]
    process = filters.ChoiceFilter(choices=Process.choices)
    material = filters.ChoiceFilter(choices=Material.choices)
    fits = filters.CharFilter(
        method="filter_fits",
        label="Build volume in mm as XxYxZ, e.g. 250x210x210: only jobs whose every part fits "
        "(in any axis-aligned orientation).",
    )
    deadline_before = filters.DateFilter(
        field_name="needed_by", lookup_expr="lte", label="Needed by, on or before"
    )

    class Meta:
        model = Job
        fields = ["process", "material"]

    def filter_queryset(self, queryset: QuerySet[Job]) -> QuerySet[Job]:
        # django-filter skips a parameter given empty, as if absent: an empty value is not one
        # the document allows (`?material=` is not a material), so it is refused, not ignored.
        empty = [name for name in self.filters if name in self.data and self.data[name] == ""]
        if empty:
            raise ValidationError(
                {name: ["Give a value, or leave the parameter out."] for name in empty}
            )
        filtered: QuerySet[Job] = super().filter_queryset(queryset)
        return filtered

    def filter_fits(self, queryset: QuerySet[Job], name: str, value: str) -> QuerySet[Job]:
        match = _VOLUME.match(value)
        if match is None:
            raise ValidationError(
                {"fits": ["Give the build volume as XxYxZ in mm, e.g. 250x210x210."]}
            )
        a, b, c = sorted((float(v) for v in match.groups()), reverse=True)
        # Sorted part edges against sorted build edges decides an axis-aligned fit.
        return queryset.filter(
            Q(envelope_a_mm__isnull=True)
            | Q(envelope_a_mm__lte=a, envelope_b_mm__lte=b, envelope_c_mm__lte=c)
        )
