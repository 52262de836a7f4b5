"""The OctoPrint connector: its threads, the push connection, and the state machine turning
OctoPrint's messages into observations (the REST calls are in rest.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import requests
import websocket

from printfair.agent.connectors import HostUnavailable, JobEnded, JobStarted, Observation, Progress
from printfair.agent.connectors.octoprint.job import Job, utc
from printfair.agent.connectors.octoprint.rest import OctoPrintRest

#: Without a frame from OctoPrint for this long, the connector pings it; without one for
#: `_SILENCE_LIMIT_S`, it takes the connection for lost (a switched-off host closes no socket).
_PING_AFTER_S = 15.0
_SILENCE_LIMIT_S = 45.0
#: How long the reading thread waits for a frame before it checks whether to stop or ping.
_RECEIVE_SLICE_S = 0.5
#: OctoPrint asking for a new login sooner than this after one is a refusal, not an expiry.
_RELOGIN_AFTER_S = 5.0

_END_EVENTS = frozenset({"PrintDone", "PrintFailed", "PrintCancelled"})
_JOB_EVENTS = _END_EVENTS | {"PrintStarted"}


@dataclass(frozen=True)
class _Crashed:
    """A bug in the reading thread, carried to `observe()` to be raised there."""

    error: BaseException


_Item = Observation | HostUnavailable | _Crashed


class OctoPrintConnector:
    """A printer behind OctoPrint, seen through its API key.

    Connecting happens in a background thread that `observe()` starts and `close()` stops, so
    that `observe()` keeps its timeout whatever the network does. When OctoPrint cannot be
    reached, `observe()` raises `HostUnavailable` once; the next call connects again, and a job
    that ended in between is ended from OctoPrint's print log (see `_end_unseen`).
    """

    kind = "octoprint"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        request_timeout: float = 10.0,
        progress_interval: float = 30.0,
        filament_diameter_mm: float | None = None,
        open_job: Mapping[str, Any] | None = None,
    ) -> None:
        """`progress_interval`: seconds between `Progress` samples of a job (OctoPrint sends
        about two a second). `filament_diameter_mm`: the printer's filament, for files whose
        slicer does not name it; OctoPrint's analysis then measures the filament's length but
        not its volume (util/gcodeInterpreter.py reads the diameter from slicer comments only).
        `open_job`: the job the agent had open when it last stopped (the `resume` of its
        JobStarted): followed on if OctoPrint still prints it, else ended from its print log."""
        self._rest = OctoPrintRest(base_url, api_key, timeout=request_timeout)
        self.base_url = self._rest.base_url
        self._request_timeout = request_timeout
        self._progress_interval = progress_interval
        self._filament_diameter_mm = filament_diameter_mm

        self._queue: queue.Queue[_Item] = queue.Queue()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._ws: websocket.WebSocket | None = None
        self._pending: HostUnavailable | None = None
        self._last_frame = 0.0
        self._last_login = -math.inf

        # Touched by the reading thread only (one at a time: observe() starts the next one
        # after the previous one has said why it stopped).
        self._job: Job | None = Job.resumed(open_job)
        self._clock_offset_s = 0.0
        self._temperatures: dict[str, float] = {}
        self._last_progress = -math.inf
        self._last_at = datetime.min.replace(tzinfo=UTC)

    # ~~ Connector

    def observe(self, timeout: float) -> list[Observation]:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        items = self._drain()
        if not items:
            # A thread that has stopped said why before it stopped, and that has been
            # delivered: only now may another one connect (never two at once).
            if self._reader is None or not self._reader.is_alive():
                self._reader = threading.Thread(
                    target=self._run, name=f"octoprint {self.base_url}", daemon=True
                )
                self._reader.start()
            try:
                items = [self._queue.get(timeout=max(timeout, 0.0)), *self._drain()]
            except queue.Empty:
                return []
        observations: list[Observation] = []
        for item in items:
            if isinstance(item, _Crashed):
                raise item.error
            if isinstance(item, HostUnavailable):
                # The thread stops after saying why; what it saw before is delivered first.
                if observations:
                    self._pending = item
                    return observations
                raise item
            observations.append(item)
        return observations

    def _drain(self) -> list[_Item]:
        items: list[_Item] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            # It looks at `_stop` between receives (`_RECEIVE_SLICE_S`); a call to OctoPrint
            # under way may take up to its timeout, and the thread is a daemon.
            self._reader.join(timeout=self._request_timeout + _RECEIVE_SLICE_S)
        self._rest.close()

    # ~~ the reading thread

    def _run(self) -> None:
        try:
            self._connect()
            while not self._stop.is_set():
                message = self._receive()
                if message is not None:
                    self._handle(message)
        except HostUnavailable as error:
            if not self._stop.is_set():
                self._queue.put(error)
        except (requests.RequestException, websocket.WebSocketException, OSError) as error:
            if not self._stop.is_set():
                self._queue.put(HostUnavailable(f"lost OctoPrint at {self.base_url}: {error}"))
        except BaseException as error:  # a bug: observe() raises it
            self._queue.put(_Crashed(error))
        finally:
            ws, self._ws = self._ws, None
            if ws is not None:
                ws.close(timeout=0)

    def _connect(self) -> None:
        version = self._rest.get("/api/version")
        if "server" not in version:
            raise HostUnavailable(f"{self.base_url} does not answer like OctoPrint (/api/version)")
        scheme, rest = self.base_url.split("://", 1)
        url = ("wss" if scheme == "https" else "ws") + "://" + rest + "/sockjs/websocket"
        try:
            self._ws = websocket.create_connection(url, timeout=self._request_timeout)
        except (websocket.WebSocketException, OSError) as error:
            raise HostUnavailable(
                f"could not open OctoPrint's push connection {url}: {error}"
            ) from error
        self._last_frame = time.monotonic()
        self._authenticate()
        # Only state and job events: OctoPrint would otherwise send every line it exchanges
        # with the printer, and every event of every plugin.
        subscription = {
            "state": {"logs": False, "messages": False},
            "events": sorted(_JOB_EVENTS),
            "plugins": False,
        }
        self._send({"subscribe": subscription})
        self._reconcile(self._rest.snapshot())

    def _authenticate(self) -> None:
        """Log the push connection in as the key's user: OctoPrint sends printer state and
        events to authenticated sockets only, and takes a login session there, not a key."""
        user = self._rest.login()
        self._send({"auth": f"{user['name']}:{user['session']}"})
        self._last_login = time.monotonic()

    @property
    def _socket(self) -> websocket.WebSocket:
        if self._ws is None:
            raise RuntimeError("the push connection is not open")
        return self._ws

    def _send(self, message: dict[str, Any]) -> None:
        self._socket.send(json.dumps(message))

    def _receive(self) -> dict[str, Any] | None:
        self._socket.settimeout(_RECEIVE_SLICE_S)
        try:
            opcode, frame = self._socket.recv_data_frame(control_frame=True)
        except websocket.WebSocketTimeoutException:
            silent = time.monotonic() - self._last_frame
            if silent > _SILENCE_LIMIT_S:
                raise HostUnavailable(
                    f"OctoPrint at {self.base_url} sent nothing for {silent:.0f} s"
                ) from None
            if silent > _PING_AFTER_S:
                self._socket.ping()
            return None
        self._last_frame = time.monotonic()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise HostUnavailable(f"OctoPrint at {self.base_url} closed the push connection")
        if opcode != websocket.ABNF.OPCODE_TEXT:
            return None
        message = json.loads(frame.data)
        return message if isinstance(message, dict) else None

    # ~~ what OctoPrint says

    def _handle(self, message: dict[str, Any]) -> None:
        for kind, payload in message.items():
            if kind in ("current", "history") and isinstance(payload, dict):
                self._on_state(payload)
            elif kind == "event" and isinstance(payload, dict):
                self._on_event(str(payload.get("type")), payload.get("payload") or {})
            elif kind == "reauthRequired":
                # The login session expired or the user changed: log in again with the key,
                # unless OctoPrint refused the login it was just given.
                if time.monotonic() - self._last_login < _RELOGIN_AFTER_S:
                    raise HostUnavailable(
                        f"OctoPrint at {self.base_url} refuses the push connection's login "
                        f"({payload})"
                    )
                self._authenticate()

    def _on_state(self, state: dict[str, Any]) -> None:
        server_time = state.get("serverTime")
        if isinstance(server_time, int | float):
            self._clock_offset_s = server_time - time.time()
        samples = state.get("temps") or []  # since the previous message, oldest first
        if samples and isinstance(samples[-1], dict):
            self._temperatures = {
                sensor: float(reading["actual"])
                for sensor, reading in samples[-1].items()
                if isinstance(reading, dict) and isinstance(reading.get("actual"), int | float)
            }
        job = self._job
        flags = (state.get("state") or {}).get("flags") or {}
        file = (state.get("job") or {}).get("file") or {}
        # OctoPrint holds a `current` message back for up to half a second and may send it
        # after newer events: one from before this job (not printing, or another file) says
        # nothing about it.
        if (
            job is None
            or not (flags.get("printing") or flags.get("paused"))
            or (file.get("origin"), file.get("path")) != (job.origin, job.path)
        ):
            return
        progress = state.get("progress") or {}
        completion = progress.get("completion")
        if isinstance(completion, int | float):
            job.completion = float(completion)
        if time.monotonic() - self._last_progress < self._progress_interval:
            return
        self._last_progress = time.monotonic()
        elapsed = progress.get("printTime")
        self._report(
            Progress(
                at=utc(server_time) if isinstance(server_time, int | float) else self._now(),
                completion=job.completion,
                elapsed_s=float(elapsed) if isinstance(elapsed, int | float) else None,
                temperatures=dict(self._temperatures),
            )
        )

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "PrintStarted":
            self._on_started(payload)
        elif kind == "PrintFailed" and payload.get("reason") == "cancelled":
            # OctoPrint follows each PrintCancelled with a PrintFailed saying "cancelled"
            # (printer/standard.py, on_comm_print_job_cancelled): the job has ended already.
            return
        elif kind in _END_EVENTS:
            self._on_ended(kind, payload)

    def _on_started(self, payload: dict[str, Any]) -> None:
        job = self._job
        origin, path = str(payload.get("origin")), str(payload.get("path"))
        if job is not None:
            if job.from_snapshot and (job.origin, job.path) == (origin, path):
                # It started between logging in and asking what was printing: reported.
                job.from_snapshot = False
                return
            self._end_unseen(job)
        self._open(payload, started_at=self._now(), from_snapshot=False)

    def _on_ended(self, kind: str, payload: dict[str, Any]) -> None:
        origin, path = str(payload.get("origin")), str(payload.get("path"))
        duration = payload.get("time")
        duration_s = float(duration) if isinstance(duration, int | float) else None
        job = self._job
        if job is not None and (job.origin, job.path) != (origin, path):
            self._end_unseen(job)
            job = None
        if job is None:
            # It was printing when the connector connected, and ended before OctoPrint
            # answered what was printing.
            started = self._now().timestamp() - (duration_s or 0.0)
            job = self._open(payload, started_at=utc(started), from_snapshot=False)
        outcome: Literal["finished", "failed", "cancelled"]
        if kind == "PrintDone":
            outcome, reason, material = "finished", "", job.volume_cm3
        else:
            if kind == "PrintCancelled":
                by = payload.get("user")
                outcome, reason = "cancelled", f"cancelled by {by}" if by else "cancelled"
            else:
                outcome, reason = "failed", str(payload.get("error") or "error")
            # OctoPrint measures a job's progress in bytes of the file sent to the printer,
            # not in filament: the same fraction of the analysed volume is what was used, as
            # nearly as OctoPrint can tell.
            fraction = payload.get("progress")
            if not isinstance(fraction, int | float) or fraction < 0:
                fraction = job.completion / 100 if job.completion is not None else None
            material = (
                job.volume_cm3 * min(max(float(fraction), 0.0), 1.0)
                if job.volume_cm3 is not None and fraction is not None
                else None
            )
        self._job = None
        self._report(
            JobEnded(
                at=self._now(),
                outcome=outcome,
                duration_s=duration_s,
                material_cm3=material,
                reason=reason,
            )
        )

    def _report(self, observation: Observation) -> None:
        # Progress carries OctoPrint's clock and the rest the connector's estimate of it
        # (`_now`): held to the order they were observed in, should the two disagree.
        if observation.at < self._last_at:
            observation = dataclasses.replace(observation, at=self._last_at)
        self._last_at = observation.at
        self._queue.put(observation)

    # ~~ jobs

    def _open(self, file: dict[str, Any], *, started_at: datetime, from_snapshot: bool) -> Job:
        origin, path = str(file.get("origin")), str(file.get("path"))
        size = file.get("size")
        job = Job(
            origin=origin,
            path=path,
            started_at=started_at,
            volume_cm3=self._rest.analysed_volume(self._filament_diameter_mm),
            from_snapshot=from_snapshot,
        )
        self._report(
            JobStarted(
                at=started_at,
                file_name=str(file.get("name") or path.rsplit("/", 1)[-1]),
                file_sha256=self._rest.file_sha256(origin, path),
                file_size=int(size) if isinstance(size, int) else None,
                resume=job.resume(),
            )
        )
        self._job = job
        self._last_progress = -math.inf
        return job

    def _reconcile(self, snapshot: dict[str, Any] | None) -> None:
        """Make the open job agree with what OctoPrint prints now, at (re)connection."""
        file = ((snapshot or {}).get("job") or {}).get("file") or {}
        job = self._job
        if job is not None:
            same_file = (file.get("origin"), file.get("path")) == (job.origin, job.path)
            if (
                same_file
                and self._rest.print_logged_since(job.origin, job.path, job.started_at) is None
            ):
                return  # still printing it
            self._end_unseen(job)
        if snapshot is not None:
            elapsed = (snapshot.get("progress") or {}).get("printTime")
            started = self._now().timestamp() - (elapsed if isinstance(elapsed, int | float) else 0)
            job = self._open(file, started_at=utc(started), from_snapshot=True)
            completion = (snapshot.get("progress") or {}).get("completion")
            if isinstance(completion, int | float):
                job.completion = float(completion)

    def _end_unseen(self, job: Job) -> None:
        """End a job that ended while the connector could not see it, as OctoPrint logged it
        (its log says whether a print succeeded, not whether a failed one was cancelled)."""
        last = self._rest.print_logged_since(job.origin, job.path, job.started_at)
        self._job = None
        if last is None:
            self._report(
                JobEnded(
                    at=self._now(),
                    outcome="failed",
                    duration_s=None,
                    reason="ended while the connector could not reach OctoPrint, "
                    "which kept no record of how",
                )
            )
            return
        print_time = last.get("printTime")
        finished = bool(last.get("success"))
        self._report(
            JobEnded(
                at=utc(float(last["date"])),
                outcome="finished" if finished else "failed",
                duration_s=float(print_time) if isinstance(print_time, int | float) else None,
                material_cm3=job.volume_cm3 if finished else None,
                reason=""
                if finished
                else "ended while the connector could not reach OctoPrint; its print log "
                "says it did not finish (failed or cancelled)",
            )
        )

    def _now(self) -> datetime:
        """The host's clock as nearly as known: its `current` messages carry it (`serverTime`)."""
        return utc(time.time() + self._clock_offset_s)
