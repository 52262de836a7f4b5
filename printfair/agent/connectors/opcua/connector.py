"""The connector itself: a connection to an OPC 40540 machine on a private event loop, its
subscription, and the job orders' states turned into observations."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import (
    DataChangeEvent,
    OverflowPolicy,
    StatusChangeEvent,
    Subscription,
)
from asyncua.ua.uaerrors import UaError

from printfair.agent.connectors import (
    HostUnavailable,
    JobEnded,
    JobStarted,
    Meters,
    Observation,
    Progress,
)
from printfair.agent.connectors.opcua.model import (
    Job,
    Model,
    Sensor,
    find_model,
    read_identification,
)
from printfair.agent.connectors.opcua.values import (
    ACTIVE,
    FINAL,
    PENDING,
    as_datetime,
    as_float,
    as_list,
    describe,
    job_file,
    job_outcome,
    job_progress,
    job_state,
    material_cm3,
    text,
    timestamp,
    value,
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class OpcUaConnector:
    """An OPC 40540 machine behind an `opc.tcp://` endpoint.

    `machine` names the machine under Machinery's `Machines` folder by its BrowseName's name
    (or a NodeId string such as "ns=4;s=AM1"); None takes the only machine there. The
    connection and the machine are checked here: an endpoint that does not answer, or a server
    without that machine or its job management, raises `HostUnavailable`.
    """

    kind = "opcua"

    def __init__(
        self,
        endpoint: str,
        *,
        machine: str | None = None,
        timeout: float = 10.0,
        publishing_interval: float = 0.5,
        open_job: Mapping[str, Any] | None = None,
    ) -> None:
        """`open_job`: the job the agent had open when it last stopped (the `resume` of its
        JobStarted). It is taken as started: still running, it goes on without a second start;
        ended meanwhile, its end is reported from the machine's job response list, where a job
        that ended before the connector came is otherwise history."""
        self.endpoint = endpoint
        self._machine = machine
        self._timeout = timeout
        self._publishing_interval = publishing_interval
        #: Manufacturer, Model and SerialNumber as the machine's DI:Identification gives them.
        self.identification: dict[str, str] = {}

        self._out: collections.deque[Observation] = collections.deque()
        self._ready = threading.Condition()
        self._lost: str | None = None
        self._closed = False

        self._jobs: dict[str, Job] = {}
        if open_job and isinstance(open_job.get("job_id"), str):
            started_at = open_job.get("started_at")
            self._jobs[open_job["job_id"]] = Job(
                phase="started",
                started_at=datetime.fromtimestamp(started_at, tz=UTC)
                if isinstance(started_at, int | float)
                else None,
            )
        self._temperatures: dict[str, float] = {}
        self._counter_values: dict[str, float] = {}
        self._meters: Meters | None = None
        self._model: Model | None = None
        self._client: Client | None = None
        self._subscription: Subscription | None = None
        self._consumer: asyncio.Task[None] | None = None

        # A private loop on its own thread: asyncua is asyncio, the agent calls observe() from
        # plain threads, and the subscription must keep being served between those calls.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"opcua {endpoint}", daemon=True
        )
        self._thread.start()
        try:
            # Connecting, browsing the machine and loading its data types: several round trips.
            self._call(self._open(), 3 * self._timeout)
        except BaseException:
            self.close()
            raise

    # --- the Connector interface -------------------------------------------------------------

    def observe(self, timeout: float) -> list[Observation]:
        with self._ready:
            self._ready.wait_for(lambda: bool(self._out) or self._lost is not None, timeout)
            if self._out:
                # What arrived before a loss is still true: hand it out, raise on the next call.
                drained = list(self._out)
                self._out.clear()
                return drained
            if self._lost is not None:
                raise HostUnavailable(self._lost)
            return []

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self._call(self._shutdown(), 3.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=3.0)
        if not self._thread.is_alive():
            self._loop.close()

    # --- the loop thread ---------------------------------------------------------------------

    def _call(self, coroutine: Awaitable[_T], timeout: float) -> _T:
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coroutine), self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise HostUnavailable(
                f"OPC UA server at {self.endpoint} did not answer within {timeout:.0f} s"
            ) from None

    async def _open(self) -> None:
        client = Client(self.endpoint, timeout=self._timeout)
        client.connection_lost_callback = self._connection_lost
        # Set first, so that close() also lets go of a connection that is half made.
        self._client = client
        try:
            await asyncio.wait_for(client.connect(), self._timeout)
        except (OSError, TimeoutError, ConnectionError, UaError) as exc:
            raise HostUnavailable(
                f"cannot reach the OPC UA server at {self.endpoint}: {describe(exc)}"
            ) from exc
        try:
            namespaces = await client.get_namespace_array()
            model = await find_model(client, namespaces, self._machine, self.endpoint)
            self.identification = await read_identification(namespaces, model)
            await client.load_data_type_definitions()
            self._model = model
            await self._baseline(model)
            await self._subscribe(model)
        except (OSError, TimeoutError, ConnectionError, UaError) as exc:
            raise HostUnavailable(
                f"OPC UA server at {self.endpoint} failed while reading the machine: "
                f"{describe(exc)}"
            ) from exc

    async def _baseline(self, model: Model) -> None:
        """What the machine says now, read once before subscribing: jobs that already ended are
        history; a job already running is reported as started."""
        orders = await model.job_order_list.read_data_value()
        responses = None
        if model.job_response_list is not None:
            responses = await model.job_response_list.read_data_value()
        self._on_jobs(
            orders=value(orders),
            responses=value(responses),
            at=timestamp(orders),
            baseline=True,
        )
        for name, node in model.counters.items():
            reading = await node.read_data_value()
            self._on_counter(name, value(reading), timestamp(reading))
        for node_id, sensor in model.sensors.items():
            reading = await self._client_node(node_id).read_data_value()
            self._on_temperature(sensor, value(reading), timestamp(reading))

    async def _subscribe(self, model: Model) -> None:
        assert self._client is not None  # noqa: S101 - _open set it
        # Without a handler the subscription queues its notifications for _consume, in order.
        # Should that queue ever fill, the connection is dropped (and observe() says so) rather
        # than a job's state change silently lost.
        subscription = await self._client.create_subscription(
            self._publishing_interval * 1000.0,
            handler=None,
            queue_maxsize=10_000,
            overflow=OverflowPolicy.DISCONNECT,
        )
        self._subscription = subscription
        nodes = [model.job_order_list]
        if model.job_response_list is not None:
            nodes.append(model.job_response_list)
        nodes += list(model.counters.values())
        nodes += [self._client_node(node_id) for node_id in model.sensors]
        # A queue per item keeps every state of a job order, not just the newest per publish.
        results = await subscription.subscribe_data_change(nodes, queuesize=16)
        failed = [
            str(node)
            for node, result in zip(nodes, results, strict=True)
            if not isinstance(result, int)
        ]
        if failed:
            raise HostUnavailable(
                f"OPC UA server at {self.endpoint} refused to monitor {', '.join(failed)}"
            )
        self._consumer = asyncio.get_running_loop().create_task(self._consume(subscription))

    async def _consume(self, subscription: Subscription) -> None:
        async for event in subscription:
            if isinstance(event, StatusChangeEvent):
                status = event.notification.Status
                if not status.is_good():
                    self._lose(
                        f"OPC UA server at {self.endpoint} ended the subscription: {status.name}"
                    )
            elif isinstance(event, DataChangeEvent):
                try:
                    self._on_change(event)
                except Exception:
                    # A value this connector cannot make sense of must not stop the watching.
                    log.exception("OPC UA notification from %s not understood", self.endpoint)

    def _on_change(self, event: DataChangeEvent) -> None:
        model = self._model
        if model is None:
            return
        at = timestamp(event.data.monitored_item.Value)
        node_id = event.node.nodeid
        if node_id == model.job_order_list.nodeid:
            self._on_jobs(orders=event.value, at=at)
        elif model.job_response_list is not None and node_id == model.job_response_list.nodeid:
            self._on_jobs(responses=event.value, at=at)
        elif node_id in model.sensors:
            self._on_temperature(model.sensors[node_id], event.value, at)
        else:
            for name, node in model.counters.items():
                if node.nodeid == node_id:
                    self._on_counter(name, event.value, at)

    async def _connection_lost(self, exc: Exception) -> None:
        self._lose(f"lost the OPC UA server at {self.endpoint}: {describe(exc)}")

    def _lose(self, message: str) -> None:
        with self._ready:
            if self._lost is None:
                self._lost = message
            self._ready.notify_all()

    async def _shutdown(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.disconnect(), 2.0)
        # What a disconnect from a server already gone leaves (the client's own loops, the
        # consumer) ends here, not as "Task was destroyed but it is pending" at interpreter exit.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _client_node(self, node_id: ua.NodeId) -> Node:
        assert self._client is not None  # noqa: S101 - only called once connected
        return self._client.get_node(node_id)

    # --- from values to observations (on the loop thread) --------------------------------------

    def _emit(self, observation: Observation) -> None:
        with self._ready:
            # Samples nobody collected yet are replaced by newer ones of the same kind: a slow
            # agent gets the latest progress and counters, never an unbounded backlog.
            if (
                self._out
                and type(self._out[-1]) is type(observation)
                and isinstance(observation, Progress | Meters)
            ):
                self._out[-1] = observation
            else:
                self._out.append(observation)
            self._ready.notify_all()

    def _on_jobs(
        self, *, orders: Any = None, responses: Any = None, at: datetime, baseline: bool = False
    ) -> None:
        """Take in a new JobOrderList and/or JobOrderResponseList, then move each job they name."""
        touched: dict[str, Job] = {}
        for entry in as_list(orders):
            job_id = text(getattr(getattr(entry, "JobOrder", None), "JobOrderID", None))
            if job_id:
                job = touched[job_id] = self._jobs.setdefault(job_id, Job())
                job.order = entry
        for response in as_list(responses):
            job_id = text(getattr(response, "JobOrderID", None))
            if job_id:
                job = touched[job_id] = self._jobs.setdefault(job_id, Job())
                job.response = response
        for job_id, job in touched.items():
            self._advance(job_id, job, at, baseline=baseline)

    def _advance(self, job_id: str, job: Job, at: datetime, *, baseline: bool) -> None:
        """Move one job order along: started, progressing, ended — each reported once."""
        state = job_state(job)
        if state is None or state in PENDING or job.phase == "ended":
            return
        if state in FINAL and job.phase is None:
            started = as_datetime(getattr(job.response, "StartTime", None))
            if baseline or started is None:
                # Ended before the connector came (or never ran): history, not news.
                job.phase = "ended"
                return
            # Started and ended between two notifications: still one start and one end.
            self._start(job_id, job, started)
        if state in ACTIVE:
            if job.phase is None:
                if job.order is None:
                    # The print file is named in the job order, which a running job still has in
                    # JobOrderList: wait for it rather than report a start without a file.
                    return
                self._start(job_id, job, at)
            self._progress(job, at, only_if_moved=True)
        elif state in FINAL:
            self._end(job, state, at)

    def _start(self, job_id: str, job: Job, at: datetime) -> None:
        started = as_datetime(getattr(job.response, "StartTime", None)) or at
        job.phase = "started"
        job.started_at = started
        file_name, sha256, size = job_file(job, job_id)
        self._emit(
            JobStarted(
                at=started,
                file_name=file_name,
                file_sha256=sha256,
                file_size=size,
                resume={"job_id": job_id, "started_at": started.timestamp()},
            )
        )

    def _progress(self, job: Job, at: datetime, *, only_if_moved: bool = False) -> None:
        elapsed = (at - job.started_at).total_seconds() if job.started_at is not None else None
        completion, layer = job_progress(job, elapsed)
        if only_if_moved and job.last_progress == (completion, layer):
            # The lists change for other jobs too; a sample needs news of this one.
            return
        job.last_progress = (completion, layer)
        self._emit(
            Progress(
                at=at,
                completion=completion,
                elapsed_s=max(0.0, elapsed) if elapsed is not None else None,
                layer=layer,
                temperatures=dict(self._temperatures),
            )
        )

    def _end(self, job: Job, state: str, at: datetime) -> None:
        response = job.response
        ended = as_datetime(getattr(response, "EndTime", None)) or at
        started = as_datetime(getattr(response, "StartTime", None)) or job.started_at
        duration = max(0.0, (ended - started).total_seconds()) if started is not None else None
        outcome, reason = job_outcome(job, state)
        job.phase = "ended"
        self._emit(
            JobEnded(
                at=ended,
                outcome=outcome,
                duration_s=duration,
                material_cm3=material_cm3(response),
                reason=reason,
            )
        )

    def _on_temperature(self, sensor: Sensor, value: Any, at: datetime) -> None:
        reading = as_float(value)
        if reading is None:
            return
        celsius = round(reading - 273.15, 3) if sensor.kelvin else reading
        if self._temperatures.get(sensor.name) == celsius:
            return
        self._temperatures[sensor.name] = celsius
        for job in self._jobs.values():
            if job.phase == "started" and job_state(job) in ACTIVE:
                self._progress(job, at)

    def _on_counter(self, name: str, value: Any, at: datetime) -> None:
        reading = as_float(value)
        if reading is None:
            return
        # The counters "shall only increase" (OPC 40001-1); a lower reading (a replaced
        # controller, a glitch) is not passed on, so that Meters stay monotonic.
        if reading < self._counter_values.get(name, float("-inf")):
            log.warning("OPC UA counter %s at %s went down to %s", name, self.endpoint, reading)
            return
        self._counter_values[name] = reading
        operation_ms = self._counter_values.get("OperationDuration")
        cycles = self._counter_values.get("OperationCycleCounter")
        meters = Meters(
            at=at,
            print_seconds=operation_ms / 1000.0 if operation_ms is not None else None,
            # OPC 40540 keeps no lifetime material counter (feedstock has only a
            # RemainingQuantity); the agent sums the jobs' material instead.
            material_cm3=None,
            cycles=int(cycles) if cycles is not None else None,
        )
        previous = self._meters
        if previous is not None and (previous.print_seconds, previous.cycles) == (
            meters.print_seconds,
            meters.cycles,
        ):
            return
        self._meters = meters
        self._emit(meters)


async def _as_coroutine(awaitable: Awaitable[_T]) -> _T:
    return await awaitable
