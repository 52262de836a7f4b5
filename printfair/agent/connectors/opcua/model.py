"""Finding an OPC 40540 machine in a server's address space: the machine under Machinery's
`Machines` folder, its job management, its operation counters, its process temperatures and its
identification, by BrowseName."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.uaerrors import UaStatusCodeError

from printfair.agent.connectors import HostUnavailable
from printfair.agent.connectors.opcua.values import CELSIUS_ID, KELVIN_ID, describe, text

# Namespace URIs as the nodesets in OPCFoundation/UA-Nodeset and OPC 40540 declare them.
OPC_UA = "http://opcfoundation.org/UA/"
DI = "http://opcfoundation.org/UA/DI/"
MACHINERY = "http://opcfoundation.org/UA/Machinery/"
MACHINE_TOOL = "http://opcfoundation.org/UA/MachineTool/"
JOBS = "http://opcfoundation.org/UA/Machinery/Jobs/"
ISA95 = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/"
ADDITIVE_MANUFACTURING = "http://opcfoundation.org/UA/AdditiveManufacturing/"
PADIM = "http://opcfoundation.org/UA/PADIM/"

_NODE_ID = re.compile(r"^(ns=\d+;)?[isgb]=.+$")


@dataclass
class Job:
    """What the connector knows of one job order (by JobOrderID)."""

    order: Any = None
    response: Any = None
    #: None until reported as started; "started" after JobStarted; "ended" after JobEnded or
    #: when it had ended before the connector came.
    phase: Literal["started", "ended"] | None = None
    started_at: datetime | None = None
    #: (completion, layer) of the last Progress sent.
    last_progress: tuple[float | None, int | None] | None = None


@dataclass
class Sensor:
    name: str
    kelvin: bool


@dataclass
class Model:
    """The machine's nodes this connector watches."""

    machine: Node
    machine_name: str
    job_order_list: Node
    job_response_list: Node | None
    counters: dict[str, Node] = field(default_factory=dict)
    sensors: dict[ua.NodeId, Sensor] = field(default_factory=dict)


async def _children(node: Node, namespaces: Sequence[str]) -> dict[tuple[str, str], Node]:
    """A node's children by (namespace URI, name) of their BrowseName."""
    found: dict[tuple[str, str], Node] = {}
    for reference in await node.get_children_descriptions():
        qname = reference.BrowseName
        index = qname.NamespaceIndex
        uri = namespaces[index] if index < len(namespaces) else ""
        found.setdefault((uri, qname.Name), Node(node.session, reference.NodeId))
    return found


def _pick(children: dict[tuple[str, str], Node], uri: str, name: str) -> Node | None:
    """The child with that BrowseName; one of that name in another namespace if none has it,
    because vendors often declare the companion names in their own namespace."""
    exact = children.get((uri, name))
    if exact is not None:
        return exact
    same_name = [node for (_, child_name), node in children.items() if child_name == name]
    return same_name[0] if len(same_name) == 1 else None


async def _path(
    start: Node, namespaces: Sequence[str], steps: Iterable[tuple[str, str]]
) -> Node | None:
    node: Node | None = start
    for uri, name in steps:
        if node is None:
            return None
        node = _pick(await _children(node, namespaces), uri, name)
    return node


async def find_model(
    client: Client, namespaces: Sequence[str], machine: str | None, endpoint: str
) -> Model:
    node, name = await _find_machine(client, namespaces, machine, endpoint)
    building_blocks = await _path(node, namespaces, [(MACHINERY, "MachineryBuildingBlocks")])
    order_list, response_list = await _find_job_lists(node, building_blocks, namespaces)
    if order_list is None:
        raise HostUnavailable(
            f"machine {name!r} at {endpoint} has no job management: this connector follows jobs "
            "through MachineryBuildingBlocks/JobManagement/JobOrderControl/JobOrderList "
            "(OPC 40001-3)"
        )
    model = Model(
        machine=node, machine_name=name, job_order_list=order_list, job_response_list=response_list
    )
    model.counters = await _find_counters(node, building_blocks, namespaces)
    model.sensors = await _find_temperatures(node, namespaces)
    return model


async def _find_machine(
    client: Client, namespaces: Sequence[str], machine: str | None, endpoint: str
) -> tuple[Node, str]:
    machines = await _path(client.nodes.objects, namespaces, [(MACHINERY, "Machines")])
    if machine is not None and _NODE_ID.match(machine):
        node = client.get_node(machine)
        try:
            name = str((await node.read_browse_name()).Name)
        except UaStatusCodeError as exc:
            raise HostUnavailable(
                f"OPC UA server at {endpoint} has no machine node {machine}: {describe(exc)}"
            ) from exc
    else:
        if machines is None:
            raise HostUnavailable(
                f"OPC UA server at {endpoint} has no Machines folder "
                f"(OPC 40001-1: Objects/Machines in {MACHINERY})"
            )
        candidates = {
            key[1]: child for key, child in (await _children(machines, namespaces)).items()
        }
        if machine is not None:
            found = candidates.get(machine)
            if found is None:
                raise HostUnavailable(
                    f"OPC UA server at {endpoint} has no machine {machine!r} in its Machines "
                    f"folder; it has: {', '.join(sorted(candidates)) or 'none'}"
                )
            node, name = found, str(machine)
        else:
            if len(candidates) > 1:
                # The folder may also hold the plant around the printer (a sieving station, a
                # depowdering unit): an only AM machine among them is the one.
                candidates = {
                    key: child
                    for key, child in candidates.items()
                    if await _is_am_machine(child, namespaces)
                } or candidates
            if len(candidates) != 1:
                raise HostUnavailable(
                    f"OPC UA server at {endpoint} has {len(candidates)} machines in its Machines "
                    f"folder ({', '.join(sorted(candidates)) or 'none'}); name one with machine="
                )
            name, node = next(iter(candidates.items()))
    return node, name


async def _find_job_lists(
    machine: Node, building_blocks: Node | None, namespaces: Sequence[str]
) -> tuple[Node | None, Node | None]:
    """JobOrderList and JobOrderResponseList of the machine's JobManagement (OPC 40001-3), an
    AddIn in MachineryBuildingBlocks (some servers also put it on the machine itself)."""
    job_management = None
    if building_blocks is not None:
        job_management = await _path(building_blocks, namespaces, [(JOBS, "JobManagement")])
    if job_management is None:
        job_management = await _path(machine, namespaces, [(JOBS, "JobManagement")])
    if job_management is None:
        return None, None
    order_list = await _path(
        job_management, namespaces, [(JOBS, "JobOrderControl"), (ISA95, "JobOrderList")]
    )
    response_list = await _path(
        job_management, namespaces, [(JOBS, "JobOrderResults"), (ISA95, "JobOrderResponseList")]
    )
    return order_list, response_list


async def _find_counters(
    machine: Node, building_blocks: Node | None, namespaces: Sequence[str]
) -> dict[str, Node]:
    """OperationDuration and OperationCycleCounter of the machine's OperationCounters AddIn:
    in MachineryBuildingBlocks (OPC 40001-1), else where a machine tool has it (OPC 40501-1)."""
    counters = None
    if building_blocks is not None:
        counters = await _path(building_blocks, namespaces, [(DI, "OperationCounters")])
    if counters is None:
        counters = await _path(
            machine,
            namespaces,
            [
                (MACHINE_TOOL, "Monitoring"),
                (MACHINE_TOOL, "MachineTool"),
                (DI, "OperationCounters"),
            ],
        )
    if counters is None:
        return {}
    children = await _children(counters, namespaces)
    found: dict[str, Node] = {}
    for name in ("OperationDuration", "OperationCycleCounter"):
        node = _pick(children, DI, name)
        if node is not None:
            found[name] = node
    return found


async def _find_temperatures(machine: Node, namespaces: Sequence[str]) -> dict[ua.NodeId, Sensor]:
    """The AnalogSignals of the process values in Monitoring/Process (OPC 40540 8.4) whose
    EngineeringUnits are °C or K, by the process value's name."""
    process = await _path(
        machine, namespaces, [(MACHINE_TOOL, "Monitoring"), (MACHINERY, "Process")]
    )
    if process is None:
        return {}
    sensors: dict[ua.NodeId, Sensor] = {}
    for (_, sensor_name), process_value in (await _children(process, namespaces)).items():
        signal = _pick(await _children(process_value, namespaces), PADIM, "AnalogSignal")
        if signal is None:
            continue
        units = _pick(await _children(signal, namespaces), OPC_UA, "EngineeringUnits")
        unit_id = None
        if units is not None:
            with contextlib.suppress(UaStatusCodeError):
                unit_id = getattr(await units.read_value(), "UnitId", None)
        if unit_id in (CELSIUS_ID, KELVIN_ID):
            sensors[signal.nodeid] = Sensor(name=sensor_name, kelvin=unit_id == KELVIN_ID)
    return sensors


async def _is_am_machine(node: Node, namespaces: Sequence[str]) -> bool:
    """Whether the node is an OPC 40540 AdditiveManufacturingType (not one of its subtypes: a
    vendor's subtype is found by naming the machine)."""
    type_id = await node.read_type_definition()
    if type_id is None:
        return False
    index = type_id.NamespaceIndex
    uri = namespaces[index] if index < len(namespaces) else ""
    if uri != ADDITIVE_MANUFACTURING:
        return False
    type_name = (await Node(node.session, type_id).read_browse_name()).Name
    return str(type_name) == "AdditiveManufacturingType"


async def read_identification(namespaces: Sequence[str], model: Model) -> dict[str, str]:
    identification = await _path(model.machine, namespaces, [(DI, "Identification")])
    if identification is None:
        return {}
    found: dict[str, str] = {}
    children = await _children(identification, namespaces)
    for name in ("Manufacturer", "Model", "SerialNumber"):
        node = _pick(children, DI, name)
        if node is not None:
            with contextlib.suppress(UaStatusCodeError):
                found[name] = text(await node.read_value())
    return found
