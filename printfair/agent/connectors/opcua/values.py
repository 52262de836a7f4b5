"""Decoding what an OPC 40540 machine's values say: the ISA-95 job order and job response
structures (OPC 10031-4, OPC 40001-3, OPC 40540 section 9), engineering units, and the small
conversions of OPC UA variants, texts, numbers and timestamps."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from asyncua import ua

if TYPE_CHECKING:
    from printfair.agent.connectors.opcua.model import Job

# Neither OPC 40540 nor OPC 40001-3 has a parameter for the print file's hash or size; a machine
# that gives them out does so as these parameters of the job order (or of its WorkMaster),
# names PrintFair chose.
FILE_SHA256_PARAMETER = "FileSha256"
FILE_SIZE_PARAMETER = "FileSize"

#: ISA95StateDataType.StateText of the top-level job order states (OPC 10031-4). They are
#: compared by their English text: the state numbers are not in the public nodeset, and the
#: client asks for the "en" locale.
PENDING = frozenset({"notallowedtostart", "allowedtostart"})
ACTIVE = frozenset({"running", "interrupted"})
FINAL = frozenset({"ended", "aborted"})

# JobResult.Unsuccessful and ProcessIrregularity.Detected (OPC 40001-3, Machinery/Jobs nodeset).
_JOB_RESULT_UNSUCCESSFUL = 2
_PROCESS_IRREGULARITY_DETECTED = 1

# UNECE common codes as OPC UA EUInformation.UnitId numbers (OPC 10000-8).
_CELSIUS = "CEL"
_KELVIN = "KEL"
#: Volume units to cm³. A mass (kg) is left out: without the material's density it says
#: nothing of volume.
_CM3_PER_UNIT = {"CMQ": 1.0, "MLT": 1.0, "MMQ": 0.001, "LTR": 1000.0, "DMQ": 1000.0, "MTQ": 1e6}


def _unit_id(code: str) -> int:
    """EUInformation.UnitId for a UNECE common code ("CEL" → 4408652)."""
    number = 0
    for char in code:
        number = (number << 8) | ord(char)
    return number


CELSIUS_ID = _unit_id(_CELSIUS)
KELVIN_ID = _unit_id(_KELVIN)
_CM3_PER_UNIT_ID = {_unit_id(code): factor for code, factor in _CM3_PER_UNIT.items()}


# --- reading ISA-95 structures ---------------------------------------------------------------


def job_state(job: Job) -> str | None:
    """The job order's top-level state, lowercase; the response's when there is one, since it is
    where the machine reports what became of the job."""
    source = job.response if job.response is not None else job.order
    states = as_list(getattr(source, "JobState" if job.response is not None else "State", None))
    if not states:
        return None
    return text(getattr(states[0], "StateText", None)).replace(" ", "").lower() or None


def state_words(job: Job) -> str:
    """ "Aborted", or "Ended: Completed" — the states as the machine names them."""
    source = job.response if job.response is not None else job.order
    states = as_list(getattr(source, "JobState" if job.response is not None else "State", None))
    words = [text(getattr(state, "StateText", None)) for state in states]
    words = [word for word in words if word]
    if not words:
        return ""
    return words[0] + (": " + ", ".join(words[1:]) if len(words) > 1 else "")


def order_parameters(job: Job) -> list[Any]:
    order = getattr(job.order, "JobOrder", None)
    return as_list(getattr(order, "JobOrderParameters", None))


def current_run(job: Job) -> Any:
    """The run being built (OPC 40540 Runs, RunInfoDataType[]): the running one, else the last."""
    runs = as_list(parameter(as_list(getattr(job.response, "JobResponseData", None)), "Runs"))
    for run in runs:
        states = as_list(getattr(run, "State", None))
        if states and text(getattr(states[0], "StateText", None)).lower() == "running":
            return run
    return runs[-1] if runs else None


def job_file(job: Job, job_id: str) -> tuple[str, str | None, int | None]:
    """The print file: the WorkMaster's ID (OPC 40501-1 annex B maps a machine tool's program
    name to it), else the job's JobName, else its JobOrderID."""
    order = getattr(job.order, "JobOrder", None)
    work_masters = as_list(getattr(order, "WorkMasterID", None))
    parameters = order_parameters(job)
    if work_masters:
        parameters = as_list(getattr(work_masters[0], "Parameters", None)) + parameters
    name = text(getattr(work_masters[0], "ID", None)) if work_masters else ""
    name = name or text(parameter(parameters, "JobName")) or job_id
    sha256 = text(parameter(parameters, FILE_SHA256_PARAMETER)).lower()
    size = as_int(parameter(parameters, FILE_SIZE_PARAMETER))
    return name, sha256 if re.fullmatch(r"[0-9a-f]{64}", sha256) else None, size


def job_outcome(job: Job, state: str) -> tuple[Literal["finished", "failed", "cancelled"], str]:
    """How a job in a final state ("ended" or "aborted") came out, and why when not finished:
    Ended is "failed" when the response's JobResult is Unsuccessful, Aborted is "failed" when it
    reports a ProcessIrregularity Detected, else "finished" and "cancelled"."""
    data = as_list(getattr(job.response, "JobResponseData", None))
    outcome: Literal["finished", "failed", "cancelled"]
    if state == "ended":
        unsuccessful = as_int(parameter(data, "JobResult")) == _JOB_RESULT_UNSUCCESSFUL
        outcome = "failed" if unsuccessful else "finished"
    else:
        irregular = as_int(parameter(data, "ProcessIrregularity")) == _PROCESS_IRREGULARITY_DETECTED
        outcome = "failed" if irregular else "cancelled"
    reason = ""
    if outcome != "finished":
        reason = text(parameter(data, "ReasonForStateChange")) or state_words(job)
    return outcome, reason


def material_cm3(response: Any) -> float | None:
    """Material the job consumed, from the response's MaterialActuals whose MaterialUse says
    consumed, in volume units; None when the machine gives none."""
    total: float | None = None
    for material in as_list(getattr(response, "MaterialActuals", None)):
        use = text(getattr(material, "MaterialUse", None)).lower()
        if "consumed" not in use:
            continue
        quantity = as_float(text(getattr(material, "Quantity", None)) or None)
        unit_id = getattr(getattr(material, "EngineeringUnits", None), "UnitId", None)
        factor = _CM3_PER_UNIT_ID.get(unit_id) if isinstance(unit_id, int) else None
        if quantity is None or factor is None:
            continue
        total = (total or 0.0) + quantity * factor
    return round(total, 6) if total is not None else None


def parameter(parameters: Iterable[Any], parameter_id: str) -> Any:
    """The value of the ISA95ParameterDataType with that ID (Variant unwrapped), or None."""
    for entry in parameters:
        if text(getattr(entry, "ID", None)) == parameter_id:
            value = getattr(entry, "Value", None)
            return value.Value if isinstance(value, ua.Variant) else value
    return None


# --- small conversions -----------------------------------------------------------------------


def value(data_value: ua.DataValue | None) -> Any:
    variant = data_value.Value if data_value is not None else None
    return variant.Value if variant is not None else None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, ua.Variant):
        value = value.Value
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, ua.Variant):
        return text(value.Value)
    if isinstance(value, ua.LocalizedText):
        return value.Text or ""
    if isinstance(value, list | tuple):
        return text(value[0]) if value else ""
    return str(value)


def as_float(value: Any) -> float | None:
    if isinstance(value, ua.Variant):
        value = value.Value
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    number = as_float(value)
    return int(number) if number is not None else None


def as_datetime(value: Any) -> datetime | None:
    # OPC UA's null DateTime decodes to 1601-01-01; asyncua hands out UTC, naive or not.
    if not isinstance(value, datetime) or value.year <= 1601:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp(data_value: Any) -> datetime:
    """When the host says a value changed (its source, else its server timestamp), else now."""
    for name in ("SourceTimestamp", "ServerTimestamp"):
        moment = as_datetime(getattr(data_value, name, None))
        if moment is not None:
            return moment
    return datetime.now(UTC)


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def job_progress(job: Any, elapsed: float | None) -> tuple[float | None, int | None]:
    """(completion 0..100, layer being built) of a running job, as far as the machine says."""
    layers_planned = as_int(parameter(order_parameters(job), "LayersPlanned"))
    run = current_run(job)
    layers_done = as_int(getattr(run, "CurrentLayer", None))
    remaining_ms = as_float(getattr(run, "RemainingTime", None))
    completion: float | None = None
    if layers_done is not None and layers_planned:
        completion = min(100.0, 100.0 * layers_done / layers_planned)
    elif remaining_ms is not None and elapsed is not None:
        # No layer count: the machine's own estimate of the time left (RunInfo.RemainingTime).
        total = elapsed + remaining_ms / 1000.0
        completion = 100.0 * elapsed / total if total > 0 else None
    layer: int | None = None
    if layers_done is not None:
        # CurrentLayer counts completed layers (OPC 40540 10.1); the one being built is next.
        layer = layers_done + 1
        if layers_planned:
            layer = min(layer, layers_planned)
    return completion, layer
