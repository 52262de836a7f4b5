from __future__ import annotations

from django import forms

from config.converters import MAX_ID
from config.forms import BootstrapForm
from machines.models import Machine


class MachineForm(BootstrapForm, forms.ModelForm):  # type: ignore[type-arg]
    # The API's bounds (machines/apis.py): a build volume of whole millimetres, up to 100 m.
    build_x_mm = forms.IntegerField(min_value=1, max_value=100_000, label="Build X (mm)")
    build_y_mm = forms.IntegerField(min_value=1, max_value=100_000, label="Y (mm)")
    build_z_mm = forms.IntegerField(min_value=1, max_value=100_000, label="Z (mm)")

    class Meta:
        model = Machine
        fields = [
            "make", "model", "process", "build_x_mm", "build_y_mm", "build_z_mm", "serial",
            "location",
        ]  # fmt: skip


class PairingCodeForm(BootstrapForm, forms.Form):
    pairing_code = forms.CharField(
        max_length=20,
        label="Pairing code",
        help_text="The code `printfair agent pair` shows beside the machine, e.g. ABCD-EFGH.",
    )


#: The hours of samples the machine's chart shows unless asked for others, the choices its page
#: offers, and the most it shows.
CHART_HOURS = 6
CHART_HOUR_CHOICES = (1, 6, 12, 24, 48)
CHART_HOURS_MAX = 48


_WRONG = ("invalid", "min_value", "max_value")


class SamplesQueryForm(forms.Form):
    """The query string of the machine's chart data (`?hours=6&after=1234`); each field has one
    message for every way its value can be wrong."""

    hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=CHART_HOURS_MAX,
        error_messages=dict.fromkeys(
            _WRONG, f"Give the hours as a whole number from 1 to {CHART_HOURS_MAX}."
        ),
    )
    # The newest sequence number the chart already has: only samples after it are sent.
    after = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_ID,
        error_messages=dict.fromkeys(
            _WRONG, "Give after as a sequence number: a whole number from 0."
        ),
    )
