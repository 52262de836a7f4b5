"""An industrial additive-manufacturing machine for the tests: an asyncua OPC UA server in this
process, serving a small OPC 40540 ("OPC UA for Additive Manufacturing") machine under
Machinery's Machines folder, with methods the tests call to run print jobs on it.

The names and namespace URIs are the companion specifications' own (OPCFoundation/UA-Nodeset:
Machinery/, Machinery/Jobs/, Machinery/ProcessValues/, MachineTool/, ISA95-JOBCONTROL/, DI/;
OPC 40540 1.0.0 for AdditiveManufacturing, whose nodeset that repository does not hold yet).
The model is small: the types are stand-ins without their declared children, and the ISA-95
structures leave out the fields no one reads here (personnel, equipment and physical asset
requirements, sub-parameters, material properties). The connector decodes them from the
DataTypeDefinitions this server publishes, as it would from a real machine.

The machine keeps its own clock, which the tests move on (`after=` seconds), so that job times
and durations are exact without sleeping.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar, cast

from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.common.structures104 import new_enum, new_struct, new_struct_field

from ledger.anvil import free_port

_T = TypeVar("_T")

DI = "http://opcfoundation.org/UA/DI/"
MACHINERY = "http://opcfoundation.org/UA/Machinery/"
MACHINE_TOOL = "http://opcfoundation.org/UA/MachineTool/"
ISA95 = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/"
JOBS = "http://opcfoundation.org/UA/Machinery/Jobs/"
PROCESS_VALUES = "http://opcfoundation.org/UA/Machinery/ProcessValues/"
PADIM = "http://opcfoundation.org/UA/PADIM/"
AM = "http://opcfoundation.org/UA/AdditiveManufacturing/"
#: The machine builder's own namespace, for the instance and its vendor-named parts.
VENDOR = "urn:printfair:tests:opcua-machine"

MACHINE_NAME = "FusionLab-FL300"
OTHER_MACHINE_NAME = "PowderSieve-PS2"
SENSORS = ("NozzleTemperature", "BuildPlatformTemperature", "ChamberTemperature")

# The ISA-95 job order states (OPC 10031-4) by the text the connector goes by; the numbers are
# this machine's own.
_STATES = {
    "AllowedToStart": 2,
    "Running": 3,
    "Interrupted": 4,
    "Ended": 5,
    "Aborted": 6,
}
# JobResult and ProcessIrregularity (OPC 40001-3).
_SUCCESSFUL, _UNSUCCESSFUL = 1, 2
_DETECTED, _NOT_DETECTED = 1, 2


def _nid(identifier: int | str, namespace: int) -> ua.NodeId:
    # asyncua annotates NodeId's fields with its own NewTypes (ua.Int32, ua.Int16, ...).
    return ua.NodeId(cast(Any, identifier), cast(Any, namespace))


async def _cancel_other_tasks() -> None:
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def _unit(code: str, symbol: str) -> ua.EUInformation:
    """EUInformation for a UNECE common code, as OPC 10000-8 encodes it."""
    unit_id = 0
    for char in code:
        unit_id = (unit_id << 8) | ord(char)
    return ua.EUInformation(
        NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
        UnitId=unit_id,
        DisplayName=ua.LocalizedText(symbol, "en"),
        Description=ua.LocalizedText(symbol, "en"),
    )


CELSIUS = _unit("CEL", "°C")
CUBIC_CENTIMETRE = _unit("CMQ", "cm³")
PERCENT = _unit("P1", "%")


@dataclass
class _Job:
    job_id: str
    file_name: str
    layers_planned: int
    parameters: list[tuple[str, ua.Variant]]
    started: datetime
    state: str = "Running"
    substate: str | None = None
    layers_done: int = 0
    ended: datetime | None = None
    response_data: list[tuple[str, ua.Variant]] = field(default_factory=list)
    material_cm3: float | None = None


class OpcUaMachine:
    """The machine; `start()` serves it on a free port of 127.0.0.1, `stop()` ends it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/printfair/"
        self.clock = datetime.now(UTC).replace(microsecond=0)
        self._jobs: dict[str, _Job] = {}
        self._operation_ms = 0.0
        self._cycles = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._nodes: dict[str, Node] = {}
        self._ns: dict[str, int] = {}

    # --- running the server ------------------------------------------------------------------

    def start(self) -> OpcUaMachine:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="opcua test machine", daemon=True
        )
        self._thread.start()
        try:
            # Building the standard address space takes seconds of a core; more on a busy one.
            self._call(self._serve(), timeout=60.0)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._server is not None:
            self._call(self._server.stop())
            self._server = None
        # Sessions of clients that never said goodbye keep tasks; end them before the loop.
        self._call(_cancel_other_tasks())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> OpcUaMachine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        assert self._loop is not None, "the machine is not started"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # --- what the tests do to the machine ----------------------------------------------------

    def reset(self) -> None:
        """Back to an idle machine with no job history, for the next test."""
        self.clock = datetime.now(UTC).replace(microsecond=0)
        self._jobs.clear()
        self._operation_ms = 0.0
        self._cycles = 0
        self._call(self._publish_all())

    def start_job(
        self,
        job_id: str,
        file_name: str,
        *,
        layers_planned: int,
        sha256: str | None = None,
        size: int | None = None,
    ) -> None:
        """The operator starts a build job: its order goes straight to Running."""
        parameters = [("LayersPlanned", ua.Variant(layers_planned, ua.VariantType.UInt32))]
        if sha256 is not None:
            parameters.append(("FileSha256", ua.Variant(sha256, ua.VariantType.String)))
        if size is not None:
            parameters.append(("FileSize", ua.Variant(size, ua.VariantType.UInt64)))
        self._jobs[job_id] = _Job(
            job_id=job_id,
            file_name=file_name,
            layers_planned=layers_planned,
            parameters=parameters,
            started=self.clock,
        )
        self._call(self._publish_jobs())

    def advance(
        self, job_id: str, *, layers_done: int, after: float = 0.0, **temperatures: float
    ) -> None:
        """`after` seconds later, `layers_done` layers are built; temperatures by sensor name."""
        self._tick(after)
        if temperatures:
            self._call(self._write_temperatures(temperatures))
        self._jobs[job_id].layers_done = layers_done
        self._call(self._publish_jobs())

    def set_temperatures(self, after: float = 0.0, **temperatures: float) -> None:
        self._tick(after)
        self._call(self._write_temperatures(temperatures))

    def finish(self, job_id: str, *, after: float, material_cm3: float) -> None:
        """The job ends as planned, `after` seconds after its last change."""
        job = self._end(job_id, "Ended", after, material_cm3)
        job.substate = "Completed"
        job.response_data.append(("JobResult", ua.Variant(_SUCCESSFUL, ua.VariantType.Int32)))
        self._call(self._publish_all())

    def fail(self, job_id: str, *, after: float, reason: str, material_cm3: float) -> None:
        """The machine stops the job itself on a fault it detected."""
        job = self._end(job_id, "Aborted", after, material_cm3)
        job.response_data += [
            ("JobResult", ua.Variant(_UNSUCCESSFUL, ua.VariantType.Int32)),
            ("ProcessIrregularity", ua.Variant(_DETECTED, ua.VariantType.Int32)),
            ("ReasonForStateChange", ua.Variant(ua.LocalizedText(reason, "en"))),
        ]
        self._call(self._publish_all())

    def cancel(self, job_id: str, *, after: float, reason: str = "Aborted by the operator") -> None:
        """The operator aborts the job (the ISA-95 Abort)."""
        job = self._end(job_id, "Aborted", after, None)
        job.response_data += [
            ("JobResult", ua.Variant(_UNSUCCESSFUL, ua.VariantType.Int32)),
            ("ProcessIrregularity", ua.Variant(_NOT_DETECTED, ua.VariantType.Int32)),
            ("ReasonForStateChange", ua.Variant(ua.LocalizedText(reason, "en"))),
        ]
        self._call(self._publish_all())

    def set_counters(self, *, operation_seconds: float, cycles: int) -> None:
        """Sets the OperationCounters outright (a test of counters that go down uses it)."""
        self._operation_ms = operation_seconds * 1000.0
        self._cycles = cycles
        self._call(self._publish_counters())

    def _end(self, job_id: str, state: str, after: float, material_cm3: float | None) -> _Job:
        self._tick(after)
        job = self._jobs[job_id]
        job.state = state
        job.ended = self.clock
        job.material_cm3 = material_cm3
        # A build is one operation cycle; its time counts as operation time.
        self._operation_ms += (job.ended - job.started).total_seconds() * 1000.0
        self._cycles += 1
        return job

    def _tick(self, seconds: float) -> None:
        self.clock += timedelta(seconds=seconds)

    # --- the address space -------------------------------------------------------------------

    async def _serve(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("PrintFair test AM machine")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        # The server's once-a-second clock task makes stop() wait for it; nothing here needs it.
        server.disable_clock()
        for uri in (DI, MACHINERY, MACHINE_TOOL, ISA95, JOBS, PROCESS_VALUES, PADIM, AM, VENDOR):
            self._ns[uri] = await server.register_namespace(uri)
        await self._types(server)
        await server.load_data_type_definitions()
        await self._machine(server)
        await self._publish_all()
        await server.start()
        self._server = server

    def _q(self, uri: str, name: str) -> ua.QualifiedName:
        return ua.QualifiedName(name, self._ns[uri])

    def _id(self, path: str) -> ua.NodeId:
        return _nid(f"{MACHINE_NAME}/{path}", self._ns[VENDOR])

    async def _types(self, server: Server) -> None:
        """The structures and enumerations. Their NodeIds are strings: asyncua numbers the encoding
        nodes itself and would collide with the nodesets' numbers."""
        isa, am, jobs = self._ns[ISA95], self._ns[AM], self._ns[JOBS]
        string, text = ua.VariantType.String, ua.VariantType.LocalizedText
        eu = _nid(ua.ObjectIds.EUInformation, 0)

        def f(name: str, dtype: Any, *, array: bool = False, optional: bool = False) -> Any:
            return new_struct_field(name, dtype, array=array, optional=optional)

        async def struct(name: str, index: int, fields: list[Any]) -> Node:
            node, _ = await new_struct(
                server, _nid(name, index), ua.QualifiedName(name, index), fields
            )
            return node

        async def enum(name: str, index: int, values: list[str | ua.EnumField]) -> Node:
            return await new_enum(server, _nid(name, index), ua.QualifiedName(name, index), values)

        state = await struct(
            "ISA95StateDataType",
            isa,
            [
                f("BrowsePath", _nid(ua.ObjectIds.RelativePath, 0)),
                f("StateText", text),
                f("StateNumber", ua.VariantType.UInt32),
            ],
        )
        parameter = await struct(
            "ISA95ParameterDataType",
            isa,
            [
                f("ID", string),
                f("Value", _nid(ua.ObjectIds.BaseDataType, 0)),
                f("Description", text, array=True, optional=True),
                f("EngineeringUnits", eu, optional=True),
            ],
        )
        work_master = await struct(
            "ISA95WorkMasterDataType",
            isa,
            [
                f("ID", string),
                f("Description", text, optional=True),
                f("Parameters", parameter, array=True, optional=True),
            ],
        )
        material = await struct(
            "ISA95MaterialDataType",
            isa,
            [
                f("MaterialClassID", string, optional=True),
                f("MaterialDefinitionID", string, optional=True),
                f("MaterialLotID", string, optional=True),
                f("MaterialSublotID", string, optional=True),
                f("Description", text, array=True, optional=True),
                f("MaterialUse", string, optional=True),
                f("Quantity", _nid(ua.ObjectIds.DecimalString, 0), optional=True),
                f("EngineeringUnits", eu, optional=True),
            ],
        )
        order = await struct(
            "ISA95JobOrderDataType",
            isa,
            [
                f("JobOrderID", string),
                f("Description", text, array=True, optional=True),
                f("WorkMasterID", work_master, array=True, optional=True),
                f("StartTime", ua.VariantType.DateTime, optional=True),
                f("EndTime", ua.VariantType.DateTime, optional=True),
                f("Priority", ua.VariantType.Int16, optional=True),
                f("JobOrderParameters", parameter, array=True, optional=True),
                f("MaterialRequirements", material, array=True, optional=True),
            ],
        )
        self._order_and_state = await struct(
            "ISA95JobOrderAndStateDataType",
            isa,
            [f("JobOrder", order), f("State", state, array=True)],
        )
        self._response = await struct(
            "ISA95JobResponseDataType",
            isa,
            [
                f("JobResponseID", string),
                f("Description", text, optional=True),
                f("JobOrderID", string),
                f("StartTime", ua.VariantType.DateTime, optional=True),
                f("EndTime", ua.VariantType.DateTime, optional=True),
                f("JobState", state, array=True),
                f("JobResponseData", parameter, array=True, optional=True),
                f("MaterialActuals", material, array=True, optional=True),
            ],
        )
        await struct(
            "RunInfoDataType",
            am,
            [
                f("CurrentLayer", ua.VariantType.UInt32, optional=True),
                f("Identifier", string),
                f("State", state),
                f("RemainingTime", _nid(ua.ObjectIds.Duration, 0), optional=True),
            ],
        )
        await enum("JobResult", jobs, ["Unknown", "Successful", "Unsuccessful"])
        await enum(
            "ProcessIrregularity",
            jobs,
            ["CapabilityUnavailable", "Detected", "NotDetected", "NotYetDetermined"],
        )

    async def _machine(self, server: Server) -> None:
        ns, q, i = self._ns, self._q, self._id
        base = server.nodes.base_object_type
        am_type = await base.add_object_type(_nid(1005, ns[AM]), q(AM, "AdditiveManufacturingType"))
        machines = await server.nodes.objects.add_folder(
            _nid(1001, ns[MACHINERY]), q(MACHINERY, "Machines")
        )
        machine = await machines.add_object(
            i(""), q(VENDOR, MACHINE_NAME), objecttype=am_type.nodeid
        )
        # Not a printer: the connector, told no machine, must pick the AM machine by its type.
        await machines.add_object(_nid("SievingStation", ns[VENDOR]), q(VENDOR, OTHER_MACHINE_NAME))

        identification = await machine.add_object(i("Identification"), q(DI, "Identification"))
        for name, text in (("Manufacturer", "FusionLab Industries"), ("Model", "FL300")):
            await identification.add_property(
                i(f"Identification/{name}"), q(DI, name), ua.LocalizedText(text, "en")
            )
        await identification.add_property(
            i("Identification/SerialNumber"), q(DI, "SerialNumber"), "FL300-0042"
        )
        await identification.add_property(
            i("Identification/AMTechnologyIdentifier"), q(AM, "AMTechnologyIdentifier"), "MEX"
        )

        monitoring = await machine.add_object(i("Monitoring"), q(MACHINE_TOOL, "Monitoring"))
        machine_tool = await monitoring.add_object(
            i("Monitoring/MachineTool"), q(MACHINE_TOOL, "MachineTool")
        )
        counters = await machine_tool.add_object(i("OperationCounters"), q(DI, "OperationCounters"))
        for name, variant in (
            ("PowerOnDuration", ua.Variant(0.0, ua.VariantType.Double)),
            ("OperationDuration", ua.Variant(0.0, ua.VariantType.Double)),
            ("OperationCycleCounter", ua.Variant(0, ua.VariantType.UInt32)),
        ):
            self._nodes[name] = await counters.add_property(
                i(f"OperationCounters/{name}"), q(DI, name), variant
            )

        process = await monitoring.add_folder(i("Monitoring/Process"), q(MACHINERY, "Process"))
        sensors = [(name, CELSIUS, 20.0) for name in SENSORS]
        # Not a temperature: the connector leaves it out.
        sensors.append(("OxygenConcentration", PERCENT, 0.1))
        for name, unit, value in sensors:
            process_value = await process.add_object(i(f"Process/{name}"), q(VENDOR, name))
            await process_value.add_property(
                i(f"Process/{name}/Category"),
                q(AM, "Category"),
                ua.Variant(2, ua.VariantType.Int32),
            )
            signal = await process_value.add_variable(
                i(f"Process/{name}/AnalogSignal"),
                q(PADIM, "AnalogSignal"),
                ua.Variant(value, ua.VariantType.Double),
            )
            await signal.add_property(
                i(f"Process/{name}/AnalogSignal/EngineeringUnits"),
                ua.QualifiedName("EngineeringUnits", 0),
                unit,
            )
            self._nodes[name] = signal

        equipment = await machine.add_object(i("Equipment"), q(MACHINE_TOOL, "Equipment"))
        feedstocks = await equipment.add_object(i("Equipment/Feedstock"), q(AM, "Feedstock"))
        feedstock = await feedstocks.add_object(i("Feedstock/PLA-Black"), q(VENDOR, "PLA-Black"))
        await feedstock.add_property(
            i("Feedstock/PLA-Black/Identifier"), q(AM, "Identifier"), "PLA-BLK-1.75"
        )
        await feedstock.add_property(i("Feedstock/PLA-Black/Name"), q(AM, "Name"), "PLA black")
        await feedstock.add_variable(
            i("Feedstock/PLA-Black/Function"),
            q(AM, "Function"),
            ua.Variant(1, ua.VariantType.Int32),
        )
        remaining = await feedstock.add_variable(
            i("Feedstock/PLA-Black/RemainingQuantity"),
            q(AM, "RemainingQuantity"),
            ua.Variant(800.0, ua.VariantType.Double),
        )
        await remaining.add_property(
            i("Feedstock/PLA-Black/RemainingQuantity/EngineeringUnits"),
            ua.QualifiedName("EngineeringUnits", 0),
            CUBIC_CENTIMETRE,
        )

        blocks = await machine.add_folder(
            i("MachineryBuildingBlocks"), q(MACHINERY, "MachineryBuildingBlocks")
        )
        # OPC 40001-1: the building blocks are AddIns, referenced from this folder as well.
        for addin in (identification, counters):
            await blocks.add_reference(addin.nodeid, ua.ObjectIds.HasAddIn)
        job_management = await blocks.add_object(i("JobManagement"), q(JOBS, "JobManagement"))
        control = await job_management.add_object(
            i("JobManagement/JobOrderControl"), q(JOBS, "JobOrderControl")
        )
        await control.add_property(
            i("JobOrderControl/MaxDownloadableJobOrders"),
            q(ISA95, "MaxDownloadableJobOrders"),
            ua.Variant(1, ua.VariantType.UInt16),
        )
        self._nodes["JobOrderList"] = await control.add_variable(
            i("JobOrderControl/JobOrderList"),
            q(ISA95, "JobOrderList"),
            ua.Variant([], ua.VariantType.ExtensionObject),
            datatype=self._order_and_state.nodeid,
        )
        results = await job_management.add_object(
            i("JobManagement/JobOrderResults"), q(JOBS, "JobOrderResults")
        )
        self._nodes["JobOrderResponseList"] = await results.add_variable(
            i("JobOrderResults/JobOrderResponseList"),
            q(ISA95, "JobOrderResponseList"),
            ua.Variant([], ua.VariantType.ExtensionObject),
            datatype=self._response.nodeid,
        )
        for name in ("JobOrderList", "JobOrderResponseList"):
            await self._nodes[name].write_value_rank(ua.ValueRank.OneDimension)

    # --- publishing values -------------------------------------------------------------------

    def _stamp(self, variant: ua.Variant) -> ua.DataValue:
        """A value as the machine reports it: stamped with its own clock."""
        clock = cast(Any, self.clock)
        return ua.DataValue(variant, SourceTimestamp=clock, ServerTimestamp=clock)

    async def _publish_all(self) -> None:
        await self._publish_jobs()
        await self._publish_counters()

    async def _publish_counters(self) -> None:
        for name, variant in (
            ("OperationDuration", ua.Variant(self._operation_ms, ua.VariantType.Double)),
            ("OperationCycleCounter", ua.Variant(self._cycles, ua.VariantType.UInt32)),
        ):
            await self._nodes[name].write_value(self._stamp(variant))

    async def _write_temperatures(self, temperatures: dict[str, float]) -> None:
        for name, value in temperatures.items():
            await self._nodes[name].write_value(
                self._stamp(ua.Variant(value, ua.VariantType.Double))
            )

    async def _publish_jobs(self) -> None:
        # Response first: a client that sees the order change then finds the response ready.
        responses = [self._response_of(job) for job in self._jobs.values()]
        await self._nodes["JobOrderResponseList"].write_value(
            self._stamp(ua.Variant(responses, ua.VariantType.ExtensionObject))
        )
        # Ended and aborted orders leave the order list (the ISA-95 Clear); their responses stay.
        orders = [
            self._order_of(job)
            for job in self._jobs.values()
            if job.state not in ("Ended", "Aborted")
        ]
        await self._nodes["JobOrderList"].write_value(
            self._stamp(ua.Variant(orders, ua.VariantType.ExtensionObject))
        )

    def _states(self, job: _Job) -> list[Any]:
        states = [
            ua.ISA95StateDataType(
                BrowsePath=ua.RelativePath(),
                StateText=ua.LocalizedText(job.state, "en"),
                StateNumber=_STATES[job.state],
            )
        ]
        if job.substate is not None:
            path = ua.RelativePath(
                Elements=[
                    ua.RelativePathElement(TargetName=self._q(ISA95, name))
                    for name in (f"{job.state}Substates", job.substate)
                ]
            )
            states.append(
                ua.ISA95StateDataType(
                    BrowsePath=path,
                    StateText=ua.LocalizedText(job.substate, "en"),
                    StateNumber=0,
                )
            )
        return states

    def _parameters(self, pairs: list[tuple[str, ua.Variant]]) -> list[Any]:
        return [ua.ISA95ParameterDataType(ID=name, Value=value) for name, value in pairs]

    def _order_of(self, job: _Job) -> Any:
        order = ua.ISA95JobOrderDataType(
            JobOrderID=job.job_id,
            WorkMasterID=[ua.ISA95WorkMasterDataType(ID=job.file_name)],
            StartTime=job.started,
            JobOrderParameters=self._parameters(job.parameters),
        )
        return ua.ISA95JobOrderAndStateDataType(JobOrder=order, State=self._states(job))

    def _response_of(self, job: _Job) -> Any:
        run_state = ua.ISA95StateDataType(
            BrowsePath=ua.RelativePath(),
            StateText=ua.LocalizedText(job.state, "en"),
            StateNumber=_STATES[job.state],
        )
        run = ua.RunInfoDataType(
            CurrentLayer=job.layers_done, Identifier=f"{job.job_id}-run-1", State=run_state
        )
        data = [("Runs", ua.Variant([run], ua.VariantType.ExtensionObject)), *job.response_data]
        materials = []
        if job.material_cm3 is not None:
            materials.append(
                ua.ISA95MaterialDataType(
                    MaterialDefinitionID="PLA-BLK-1.75",
                    MaterialUse="Material consumed",
                    Quantity=f"{job.material_cm3:.3f}",
                    EngineeringUnits=CUBIC_CENTIMETRE,
                )
            )
        return ua.ISA95JobResponseDataType(
            JobResponseID=f"{job.job_id}-response",
            JobOrderID=job.job_id,
            StartTime=job.started,
            EndTime=job.ended,
            JobState=self._states(job),
            JobResponseData=self._parameters(data),
            MaterialActuals=materials or None,
        )
