"""Circuit breakers for what PrintFair calls while a person waits: the chain node and the broker.

Once a call to one of them fails (a timeout, a refused connection), the calls that follow skip it
for a while instead of each waiting out its own timeout: a frozen node or broker then costs one
request one timeout, and every other request nothing. Per process and per service; a request
after the backoff tries again (and closes the breaker if it works)."""

from __future__ import annotations

import threading
import time


class Breaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._reason = ""

    def open_for(self) -> int:
        """Whole seconds until the service is tried again; 0 while it may be called."""
        with self._lock:
            left = self._until - time.monotonic()
        return max(1, round(left)) if left > 0 else 0

    @property
    def reason(self) -> str:
        with self._lock:
            return self._reason

    def trip(self, reason: str, backoff: int) -> None:
        with self._lock:
            self._until = time.monotonic() + backoff
            self._reason = reason

    def reset(self) -> None:
        with self._lock:
            self._until = 0.0
            self._reason = ""


_breakers: dict[str, Breaker] = {}
_lock = threading.Lock()


def breaker(service: str) -> Breaker:
    """The process's breaker for `service` (e.g. "chain node http://…", "broker")."""
    with _lock:
        return _breakers.setdefault(service, Breaker())


def breakers_reset() -> None:
    """Close every breaker (tests: a service one test stopped is back for the next)."""
    with _lock:
        for each in _breakers.values():
            each.reset()
