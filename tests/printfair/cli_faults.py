"""A real HTTP proxy in front of the live server that loses one request or one answer on the
way, as a flaky network or a crash between sending and hearing back would, or hangs up in the
middle of an answer's body, as a dropped connection would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import requests

# An int: send only that many bytes of the answer's body (after announcing its full length),
# then hang up.
Fault = Literal["drop_request", "drop_answer"] | int
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass(frozen=True)
class Exchange:
    """A request the proxy forwarded, and what it passed back."""

    method: str
    path: str
    asked: dict[str, str]  # the request's headers
    status: int
    answer: dict[str, str]  # the response's headers
    sent: int  # body bytes passed back


@dataclass
class Faults:
    """Faults to apply once each, to the first request whose method and path match; and the
    exchanges the proxy passed on."""

    planned: list[tuple[str, str, Fault]] = field(default_factory=list)
    seen: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, method: str, path: str) -> list[Exchange]:
        with self.lock:
            return [e for e in self.seen if (e.method, e.path) == (method, path)]

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
            path = self.path.split("?")[0]
            fault = faults.take(self.command, path)
            if fault == "drop_request":
                return  # hang up without a word: the server never hears of it
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            answer = requests.request(
                self.command, upstream + self.path, data=body, headers=headers, timeout=30
            )
            if fault == "drop_answer":
                return  # the server acted, and its answer is lost
            sent = answer.content[:fault] if isinstance(fault, int) else answer.content
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
            exchange = Exchange(
                self.command, path, headers, answer.status_code, dict(answer.headers), len(sent)
            )
            with faults.lock:
                faults.seen.append(exchange)
            self.close_connection = True  # the client sees the body end here

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
