"""A real HTTP proxy in front of the live server that loses one request or one answer on the
way, as a flaky network or a crash between sending and hearing back would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import requests

Fault = Literal["drop_request", "drop_answer"]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass
class Faults:
    """Faults to apply once each, to the first request whose method and path match."""

    planned: list[tuple[str, str, Fault]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, method: str, path: str, fault: Fault) -> None:
        with self.lock:
            self.planned.append((method, path, fault))

    def take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for planned in self.planned:
                if planned[:2] == (method, path):
                    self.planned.remove(planned)
                    return planned[2]
        return None


@contextmanager
def faulty_proxy(upstream: str) -> Iterator[tuple[str, Faults]]:
    """Yield the proxy's URL and the faults to plan on it."""
    faults = Faults()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = faults.take(self.command, self.path.split("?")[0])
            if fault == "drop_request":
                return  # hang up without a word: the server never hears of it
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            answer = requests.request(
                self.command, upstream + self.path, data=body, headers=headers, timeout=30
            )
            if fault == "drop_answer":
                return  # the server acted, and its answer is lost
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", faults
    finally:
        server.shutdown()
        server.server_close()
