from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.contrib.auth.password_validation import (
    password_validators_help_text_html,
    validate_password,
)
from django.utils import timezone
from django.utils.functional import lazy

from config.forms import BootstrapForm
from marketplace.catalog import PROCESS_MATERIALS, Certification, Process
from marketplace.models import Job, Organization
from marketplace.services import JOB_SPEC_FIELDS, JobSpec, job_spec_errors


class SignUpForm(BootstrapForm, forms.Form):
    name = forms.CharField(label="Your name", max_length=150)
    email = forms.EmailField(label="Work email")
    # The rules shown before the first try, as the validators that check them word them.
    password = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        help_text=lazy(password_validators_help_text_html, str)(),
    )
    organization_name = forms.CharField(label="Company", max_length=200)
    kind = forms.ChoiceField(
        label="I am",
        choices=[
            (Organization.Kind.CUSTOMER, "A customer: I order parts"),
            (Organization.Kind.PRINT_SHOP, "A print shop: I make parts"),
        ],
        widget=forms.RadioSelect,
        initial=Organization.Kind.CUSTOMER,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password"):
            try:
                validate_password(data["password"])
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class LoginForm(BootstrapForm, AuthenticationForm):
    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))


class SignUpConfirmForm(BootstrapForm, forms.Form):
    """Finishing a sign-up in a browser other than the one that started it."""

    password = forms.CharField(
        label="Password chosen at sign-up",
        widget=forms.PasswordInput(attrs={"autofocus": True, "autocomplete": "current-password"}),
        strip=False,
    )


class ResetPasswordForm(BootstrapForm, PasswordResetForm):
    pass


class NewPasswordForm(BootstrapForm, SetPasswordForm):  # type: ignore[type-arg]
    pass


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class LinesField(forms.CharField):
    """A list of names, one per line (blank lines and surrounding spaces ignored)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in str(text).splitlines() if line.strip()]


class JobForm(BootstrapForm, forms.ModelForm):  # type: ignore[type-arg]
    required_characteristics = LinesField(
        required=False,
        label="Quality gate: required measurements",
        help_text="One characteristic per line (e.g. “Bore diameter”). Every part needs a "
        "passing measurement of each, anchored on chain, before you can accept the order.",
    )
    required_certifications = forms.MultipleChoiceField(
        choices=Certification.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Required certifications",
    )

    class Meta:
        model = Job
        fields = list(JOB_SPEC_FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "needed_by": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "commit_deadline": DateTimeInput(),
            "reveal_deadline": DateTimeInput(),
            "pricing_rule": forms.RadioSelect,
        }
        labels = {
            "commit_deadline": "Bidding deadline",
            "reveal_deadline": "Reveal deadline",
            "funding_window_hours": "Funding window (hours)",
            "award_passes_to_runner_up": "Pass an unfunded award to the runner-up",
            "requires_machine_attestation": "Require machine-attested prints",
        }
        help_texts = {
            "process": "",
            "material": "Only materials the chosen process prints are accepted.",
            "commit_deadline": "Sealed bids are accepted until then.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["quantity"].widget.attrs["min"] = 1
        self.fields["spares"].widget.attrs["min"] = 0
        self.fields["tolerance_mm"].widget.attrs.update(min="0.001", step="0.001")
        self.fields["reserve_price"].widget.attrs.update(min="0.01", step="0.01")
        # The browser narrows the material list to the process (static/js/job_form.js).
        self.fields["material"].widget.attrs["data-process-materials"] = ";".join(
            f"{process}:{','.join(sorted(materials))}"
            for process, materials in PROCESS_MATERIALS.items()
        )

    def spec(self) -> JobSpec:
        return JobSpec(**{name: self.cleaned_data[name] for name in JOB_SPEC_FIELDS})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            for name, messages in job_spec_errors(self.spec(), now=timezone.now()).items():
                for message in messages:
                    self.add_error(name, message)
        return data


class JobFilterForm(BootstrapForm, forms.Form):
    query = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(choices=[("", "Any status"), *Job.Status.choices], required=False)
    process = forms.ChoiceField(choices=[("", "Any process"), *Process.choices], required=False)
