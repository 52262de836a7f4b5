"""An industrial additive-manufacturing machine speaking OPC UA (OPC 40540, "OPC UA for Additive
Manufacturing" 1.0.0), watched with subscriptions rather than polled.

OPC 40540's machine is an `AdditiveManufacturingType` (a subtype of OPC 40501-1's
`MachineToolType`) under Machinery's `Machines` folder (OPC 40001-1). What this connector reads
of it, by BrowseName (namespace: name):

- the print jobs from Machinery Job Management (OPC 40001-3):
  `Machinery:MachineryBuildingBlocks/Jobs:JobManagement`, whose `Jobs:JobOrderControl` holds the
  job orders (`ISA95:JobOrderList`, ISA95JobOrderAndStateDataType[]) and whose
  `Jobs:JobOrderResults` holds what became of them (`ISA95:JobOrderResponseList`,
  ISA95JobResponseDataType[]). A job order's state is the ISA-95 job order state machine
  (OPC 10031-4): NotAllowedToStart, AllowedToStart, Running, Interrupted, Ended, Aborted.
  OPC 40540 section 9 adds the parameters `LayersPlanned` (job order) and `Runs`
  (RunInfoDataType[] with `CurrentLayer` and `RemainingTime`, job response); OPC 40001-3 adds
  `JobResult` and `ProcessIrregularity` to the response.
- the lifetime counters `DI:OperationCounters` (OPC 40001-1's MachineryOperationCounterType:
  `DI:PowerOnDuration`, `DI:OperationDuration`, `DI:OperationCycleCounter`), referenced from
  `MachineryBuildingBlocks` and, in a machine tool, from `MachineTool:Monitoring/MachineTool`.
- the process temperatures: `ProcessValueAMType` objects in `MachineTool:Monitoring/
  Machinery:Process`, each with an `AnalogSignal` whose `EngineeringUnits` say °C or K.
- the identification `DI:Identification` (Manufacturer, Model, SerialNumber).

How the job states map: Running (or Interrupted, a pause) → `JobStarted`; Ended → "finished",
or "failed" when the response's `JobResult` is Unsuccessful; Aborted (the ISA-95 Abort, an
operator's or a client's command) → "cancelled", or "failed" when the response reports a
`ProcessIrregularity` Detected, i.e. the machine stopped the job itself on a fault.

The structures are decoded with the DataTypeDefinitions the server publishes (OPC UA 1.04), so
no nodeset file ships with PrintFair.
"""

from __future__ import annotations

try:
    import asyncua  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "The OPC UA connector needs the asyncua package (pip install asyncua)."
    ) from exc

from printfair.agent.connectors.opcua.connector import OpcUaConnector
from printfair.agent.connectors.opcua.values import FILE_SHA256_PARAMETER, FILE_SIZE_PARAMETER

__all__ = ["FILE_SHA256_PARAMETER", "FILE_SIZE_PARAMETER", "OpcUaConnector"]
