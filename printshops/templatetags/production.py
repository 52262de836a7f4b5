"""Production wording in templates: `{{ "material_lot"|label }}` -> "material lot",
`{{ subject|subject_label }}` -> "certificate" or the record's kind."""

from __future__ import annotations

from django import template

from printshops.models import Certificate, PartRecord

register = template.Library()


@register.filter
def label(name: str) -> str:
    return str(name).replace("_", " ")


@register.filter
def subject_label(subject: PartRecord | Certificate) -> str:
    if isinstance(subject, Certificate):
        return "certificate of conformance"
    return f"{subject.get_kind_display().lower()} record"
