"""A real OctoPrint with its bundled Virtual Printer, for the OctoPrint connector's tests
(devtools/virtual_printer.py, which the demo's printer runs too).

Tests that take `octoprint_host` skip, saying so, when OctoPrint is not there (`make test` installs
it). `sliced_gcode` slices one of the repository's test meshes; `CuttableProxy` stands between a
client and OctoPrint as a network that fails.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest

from devtools import virtual_printer
from devtools.virtual_printer import HOTEND_C, NOT_INSTALLED, OctoPrintHost, installed
from ledger.anvil import free_port

__all__ = ["HOTEND_C", "CuttableProxy", "OctoPrintHost", "octoprint_host", "sliced_gcode"]

MESHES = Path(__file__).resolve().parent / "data" / "samples" / "stl"

#: G-code for the first layers of the half-donut sample (`virtual_printer.sliced_gcode`).
sliced_gcode = partial(virtual_printer.sliced_gcode, MESHES / "halfdonut_binary.stl")


class CuttableProxy:
    """A TCP relay on a free port of the loopback to `target_port`, whose connections a test can
    cut (`cut`: each connection closed, new ones refused) and let through again (`resume`), as a
    network between the connector and OctoPrint would fail."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def resume(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.1)
        self._listener = listener
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if self._accepting is not None:
            self._accepting.join()
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextmanager
def running_octoprint(basedir: Path) -> Iterator[OctoPrintHost]:
    host = OctoPrintHost(basedir)
    try:
        host.start()
        yield host
    finally:
        host.stop()


@pytest.fixture(scope="session")
def octoprint_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrintHost]:
    """One OctoPrint for a test session (or xdist worker: it takes seconds to start); each test
    leaves its printer idle. Skips when OctoPrint is not installed (`make test` installs it)."""
    if not installed():
        pytest.skip(NOT_INSTALLED)
    with running_octoprint(tmp_path_factory.mktemp("octoprint")) as host:
        yield host
