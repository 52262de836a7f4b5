from __future__ import annotations

from typing import Any

from django import forms

from config.forms import BootstrapForm
from marketplace.catalog import Certification, Material, Process
from marketplace.forms import DateTimeInput
from printshops.models import PrintShopProfile
from printshops.services import ShopCapabilities


class ShopProfileForm(BootstrapForm, forms.ModelForm):  # type: ignore[type-arg]
    website = forms.URLField(required=False, assume_scheme="https")
    processes = forms.MultipleChoiceField(
        choices=Process.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    materials = forms.MultipleChoiceField(
        choices=Material.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    certifications = forms.MultipleChoiceField(
        choices=Certification.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = PrintShopProfile
        fields = [
            "description",
            "website",
            "country",
            "city",
            "processes",
            "materials",
            "certifications",
            "build_x_mm",
            "build_y_mm",
            "build_z_mm",
            "name_public",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def capabilities(self) -> ShopCapabilities:
        return ShopCapabilities(
            **{name: self.cleaned_data[name] for name in ShopCapabilities.__dataclass_fields__}
        )


class ApiKeyForm(BootstrapForm, forms.Form):
    name = forms.CharField(max_length=100, initial="CLI on the shop floor")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Leave empty for a key that does not expire (revoke it when no longer needed).",
        widget=DateTimeInput(),
    )

    def clean_name(self) -> Any:
        return self.cleaned_data["name"].strip()
