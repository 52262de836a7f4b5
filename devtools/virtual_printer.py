"""A virtual 3D printer: a real OctoPrint with its bundled Virtual Printer, and G-code sliced from
a mesh for it to print. The tests run one per session (tests/octoprint_host.py); `make run
DEMO_PRINTER=1` runs one for the demo (machines/demo/).

OctoPrint lives in a virtualenv of its own, `var/octoprint/` (its pinned dependencies would clash
with ours), installed from requirements/octoprint.lock (`make var/octoprint/bin/octoprint`).

An `OctoPrintHost` is one `octoprint serve` on the loopback with a base folder of its own: access
control set up with one admin whose API key the clients use (the way a shop would make one in
OctoPrint's user settings), the first-run wizard done, nothing that reaches the internet (see
`_config`), and the Virtual Printer connected. `sliced_gcode` makes real G-code from a mesh for it
to print.

What takes the time: OctoPrint starts in about 9 s (3 s of it its online check, which retries
with a second's sleep, util/connectivity.py), and the Virtual Printer heats its hot end at
10 °C/s, in 1 s steps (virtual.py `_simulateTemps`, `_waitForHeatup`), so a print waits in its
M109 until then (hence low temperatures and no cool-down here). There is no setting for the
rate, and the one that would fix a hot end's reading (`pinnedExtruders`) never applies, since
OctoPrint's settings turn its integer keys into strings (settings/__init__.py `_flatten`).
Moves take a tenth of their real time (virtual.py `_performMove`), so the prints themselves
take a few seconds.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import requests
import stl.mesh

from ledger.anvil import free_port

ROOT = Path(__file__).resolve().parents[1]
OCTOPRINT = ROOT / "var" / "octoprint" / "bin" / "octoprint"

#: How long OctoPrint may take to start, connect to its printer or finish a short print.
TIMEOUT = 60.0

#: What the G-code heats to (see `OctoPrintHost.preheat`): lower than PLA's 210/60 °C, since the
#: Virtual Printer heats at 10 °C/s and every print would wait for it.
HOTEND_C = 70
BED_C = 50

USER = "printfair"
PASSWORD = "virtual-printer-only"  # noqa: S105 - the virtual printer's own, on the loopback


def installed() -> bool:
    return OCTOPRINT.is_file() and os.access(OCTOPRINT, os.X_OK)


NOT_INSTALLED = (
    f"OctoPrint is not installed at {OCTOPRINT.parent.parent.relative_to(ROOT)}/: "
    "make var/octoprint/bin/octoprint"
)


# ~~ G-code made from a mesh


def _cross_section(triangles: npt.NDArray[np.float64], z: float) -> list[list[tuple[float, float]]]:
    """The outlines where the plane at height `z` cuts the mesh: each triangle that straddles the
    plane gives one segment, and segments that share an end are chained into polylines."""
    below = triangles[:, :, 2] < z
    crossing = triangles[below.any(axis=1) & ~below.all(axis=1)]
    ends: list[npt.NDArray[np.float64]] = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        pa, pb = crossing[:, a], crossing[:, b]
        cuts = (pa[:, 2] < z) != (pb[:, 2] < z)
        t = np.where(cuts, (z - pa[:, 2]) / np.where(cuts, pb[:, 2] - pa[:, 2], 1.0), np.nan)
        ends.append(pa[:, :2] + t[:, None] * (pb[:, :2] - pa[:, :2]))
    # A straddling triangle has exactly two cut edges: its segment joins their points.
    stacked = np.stack(ends, axis=1)
    segments = [row[~np.isnan(row[:, 0])] for row in stacked]

    def key(point: npt.NDArray[np.float64]) -> tuple[float, float]:
        # Neighbouring triangles cut their shared edge at the same point, up to rounding.
        return (round(float(point[0]), 5), round(float(point[1]), 5))

    neighbours: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for segment in segments:
        start, end = key(segment[0]), key(segment[1])
        neighbours.setdefault(start, []).append(end)
        neighbours.setdefault(end, []).append(start)
    outlines: list[list[tuple[float, float]]] = []
    while neighbours:
        point = next(iter(neighbours))
        outline = [point]
        while neighbours.get(point):
            following = neighbours[point].pop()
            neighbours[following].remove(point)
            if not neighbours[point]:
                del neighbours[point]
            outline.append(following)
            point = following
        neighbours.pop(point, None)
        if len(outline) > 1:
            outlines.append(outline)
    return outlines


def sliced_gcode(
    mesh: Path,
    *,
    layers: int | None = 8,
    layer_height: float = 0.3,
    scale: float = 10.0,
    name_filament: bool = True,
    hotend_c: int = HOTEND_C,
) -> bytes:
    """G-code for the first `layers` layers of `mesh` (all of them if None): one perimeter along
    each outline of the mesh's cross-section at each layer's mid-height, extruded for a 0.45 mm
    line from 1.75 mm filament, after heating and homing the way a slicer's start code does. The
    mesh is scaled by `scale` (the tests' sample meshes are a few millimetres across) and moved
    to the bed's middle. Without `name_filament`, the file does not say its filament's diameter,
    as Cura's do not.
    """
    triangles = stl.mesh.Mesh.from_file(str(mesh)).vectors.astype(np.float64) * scale
    low = triangles.reshape(-1, 3).min(axis=0)
    high = triangles.reshape(-1, 3).max(axis=0)
    shift = np.array([100.0, 100.0]) - (low[:2] + high[:2]) / 2
    triangles[:, :, 2] -= low[2]
    if layers is None:
        layers = max(1, math.floor((high[2] - low[2]) / layer_height))
    e_per_mm = layer_height * 0.45 / (math.pi * (1.75 / 2) ** 2)
    lines = [
        f"; {layers} layers of {mesh.name} (scaled {scale:g}x), perimeters only",
        # As PrusaSlicer writes it: OctoPrint's analysis takes the filament's diameter from
        # such a comment and gives no volume without one (util/gcodeInterpreter.py).
        *(["; filament_diameter = 1.75"] if name_filament else []),
        f"M140 S{BED_C}",
        f"M104 S{hotend_c}",
        f"M190 S{BED_C}",
        f"M109 S{hotend_c}",
        "G28",
        "G90",
        "M82",
        "G92 E0",
    ]
    extruded = 0.0
    for layer in range(layers):
        z = (layer + 0.5) * layer_height
        lines.append(f";LAYER:{layer}")
        lines.append(f"G0 Z{(layer + 1) * layer_height:.2f} F600")
        for outline in _cross_section(triangles, z):
            x, y = np.array(outline[0]) + shift
            lines.append(f"G0 X{x:.3f} Y{y:.3f} F6000")
            for previous, point in itertools.pairwise(outline):
                extruded += math.dist(previous, point) * e_per_mm
                x, y = np.array(point) + shift
                lines.append(f"G1 X{x:.3f} Y{y:.3f} E{extruded:.5f} F1800")
    # No cool-down at the end (a slicer's M104 S0 / M140 S0): the next print would heat again,
    # at the Virtual Printer's 10 °C/s.
    lines += ["G91", "G0 Z5 F600", "G90", "M84", ""]
    return "\n".join(lines).encode()


# ~~ The server


def _config(closed_port: int) -> dict[str, Any]:
    return {
        "server": {
            # The first-run wizard is what a person clicks through; access control is set up
            # by `octoprint user add` instead, and the wizard's other questions here.
            "firstRun": False,
            # OctoPrint asks the internet whether it is online before fetching plugin lists,
            # notices and announcements: point the check at a closed port on this machine so
            # it believes it is offline (util/connectivity.py).
            "onlineCheck": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": closed_port,
                "name": "localhost",
                "interval": 86400,
            },
            "pluginBlacklist": {"enabled": False},
        },
        "plugins": {
            # The bundled plugins that talk to the network (mDNS, update checks, usage
            # tracking, news) or the hardware (a Raspberry Pi's) are left out altogether.
            "_disabled": [
                "announcements",
                "discovery",
                "softwareupdate",
                "tracking",
                "errortracking",
                "pi_support",
            ],
            "tracking": {"enabled": False},
            # By default the Virtual Printer garbles lines 100 to 115 of every print to show
            # off OctoPrint's resends, one of them with a second's silence (virtual.py
            # `_simulated_errors`): a second per print, and nothing the agent sees.
            "virtual_printer": {"enabled": True, "simulated_errors": []},
        },
    }


@dataclass
class OctoPrintHost:
    """One `octoprint serve` on the loopback with its Virtual Printer connected: `start` runs it
    as a child of this process; `prepare` and `serve_argv` are for a process that runs it itself
    (the demo's supervisord), and the rest talks to it either way."""

    basedir: Path
    port: int = field(default_factory=free_port)
    api_key: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.basedir / "serve.log"

    # ~~ life cycle

    def prepare(self) -> None:
        """The base folder's settings, and its admin unless it has one (it keeps its API key)."""
        self.basedir.mkdir(parents=True, exist_ok=True)
        # JSON is YAML.
        (self.basedir / "config.yaml").write_text(json.dumps(_config(free_port()), indent=2))
        if not (self.basedir / "users.yaml").exists():
            self._octoprint("user", "add", USER, "--password", PASSWORD, "--admin")

    def serve_argv(self) -> list[str]:
        return [
            str(OCTOPRINT), "serve",
            "--basedir", str(self.basedir),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--iknowwhatimdoing",  # we run as root here, which OctoPrint refuses
        ]  # fmt: skip

    def start(self) -> None:
        self.prepare()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own OctoPrint
                self.serve_argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.wait_until_serving()
        self.api_key = self.make_api_key()
        self.connect_printer()
        self.preheat()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # OctoPrint shuts down on SIGTERM; its own children (the G-code analysis) are in
            # the session it was started in.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def _octoprint(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 - our own OctoPrint
            [str(OCTOPRINT), "--basedir", str(self.basedir), *args],
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )

    def wait_until_serving(self, timeout: float = TIMEOUT) -> None:
        # While it starts, OctoPrint answers every request with its own placeholder (404 or
        # 503); the real server refuses an anonymous /api/version with 403.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"OctoPrint exited at start; see {self.log}")
            try:
                status = requests.get(self.url + "/api/version", timeout=2).status_code
            except requests.ConnectionError:
                status = 0
            if status in (200, 403):
                return
            time.sleep(0.2)
        raise TimeoutError(f"OctoPrint did not start in {timeout:.0f} s at {self.url}")

    def make_api_key(self) -> str:
        """A new API key of the admin's own, made the way OctoPrint's user settings make one: log
        in with the password, then ask for a key (the global `api.key` is deprecated and stops
        working in OctoPrint 1.13, server/util/__init__.py `get_user_for_apikey`)."""
        session = requests.Session()
        # Every browser request after the login page carries the CSRF cookie's value in a
        # header (server/util/csrf.py); the cookie's name ends in the port.
        session.get(self.url + "/", allow_redirects=False, timeout=10).raise_for_status()

        def csrf() -> dict[str, str]:
            token = next(v for k, v in session.cookies.items() if k.startswith("csrf_token"))
            return {"X-CSRF-Token": token or ""}

        login = {"user": USER, "pass": PASSWORD}
        session.post(
            self.url + "/api/login", json=login, headers=csrf(), timeout=10
        ).raise_for_status()
        answer = session.post(
            self.url + f"/api/access/users/{USER}/apikey", headers=csrf(), timeout=10
        )
        answer.raise_for_status()
        return str(answer.json()["apikey"])

    def key_works(self) -> bool:
        """Whether OctoPrint takes `api_key` (one kept from an earlier run may be stale)."""
        answer = requests.get(
            self.url + "/api/currentuser", headers={"X-Api-Key": self.api_key}, timeout=10
        )
        return answer.ok and answer.json().get("name") == USER

    # ~~ REST

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(
            method, self.url + path, headers={"X-Api-Key": self.api_key}, timeout=10, **kwargs
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def flags(self) -> dict[str, bool]:
        """The printer's state flags (`printing`, `cancelling`, `ready`, ...); none when the
        printer is not connected (OctoPrint answers 409 then)."""
        answer = requests.get(
            self.url + "/api/printer",
            params={"exclude": "temperature,sd"},
            headers={"X-Api-Key": self.api_key},
            timeout=10,
        )
        if answer.status_code == 409:
            return {}
        answer.raise_for_status()
        return dict(answer.json()["state"]["flags"])

    def connect_printer(self) -> None:
        self.api("POST", "/api/connection", json={"command": "connect", "port": "VIRTUAL"})
        self.wait_idle()

    def settle(self) -> None:
        """Leave the printer idle whatever was done to it: a print cancelled, a printer in error
        connected again (OctoPrint lets go of a printer that reported a fatal error)."""
        flags = self.flags()
        if flags.get("printing") or flags.get("paused"):
            if not flags.get("cancelling"):
                self._cancel_if_still_printing()
        elif not flags.get("operational"):
            self.connect_printer()
        self.wait_idle()

    def wait_idle(self, timeout: float = TIMEOUT) -> None:
        """Until the printer is connected and neither printing nor ending a print."""
        self._wait(lambda flags: flags.get("ready", False), "idle", timeout)

    def wait_printing(self, timeout: float = TIMEOUT) -> None:
        self._wait(lambda flags: flags.get("printing", False), "printing", timeout)

    def _wait(self, done: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.flags()):
                return
            time.sleep(0.1)
        raise TimeoutError(f"the printer was not {what} after {timeout:.0f} s: {self.flags()}")

    def upload(self, name: str, gcode: bytes) -> dict[str, Any]:
        """Upload and select `gcode`, and wait for OctoPrint's analysis of it: OctoPrint pauses
        analysing while it prints, so a print started at once would have no filament volume."""
        self.api("POST", "/api/files/local", files={"file": (name, gcode)}, data={"select": "true"})
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            info: dict[str, Any] = self.api("GET", f"/api/files/local/{name}")
            if "filament" in info.get("gcodeAnalysis", {}):
                return info
            time.sleep(0.1)
        raise TimeoutError(f"OctoPrint did not analyse {name} in {TIMEOUT:.0f} s")

    def preheat(self) -> None:
        """Heat to the G-code's temperatures without waiting, as an operator would before a
        print: the Virtual Printer heats its hot end at 10 °C/s from room temperature, in a
        wait that the G-code's M109 would otherwise spend in every print."""
        self.api(
            "POST", "/api/printer/tool", json={"command": "target", "targets": {"tool0": HOTEND_C}}
        )
        self.api("POST", "/api/printer/bed", json={"command": "target", "target": BED_C})

    def start_print(self) -> None:
        self.api("POST", "/api/job", json={"command": "start"})

    def cancel_print(self) -> None:
        self.api("POST", "/api/job", json={"command": "cancel"})

    def _cancel_if_still_printing(self) -> None:
        """Cancel the print unless it ended since the flags were read: OctoPrint then answers
        409 (neither printing nor paused), which leaves the printer as settle wants it."""
        try:
            self.cancel_print()
        except requests.HTTPError as exc:
            if exc.response is None or exc.response.status_code != 409:
                raise

    def send(self, *commands: str) -> None:
        """Send commands to the printer as OctoPrint's terminal does. The Virtual Printer takes
        `!!DEBUG:...` ones to misbehave (virtual.py `_debugTrigger`)."""
        self.api("POST", "/api/printer/command", json={"commands": list(commands)})
