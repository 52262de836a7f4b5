"""OctoPrint (https://octoprint.org), through its REST API and the push messages its web interface
gets (the SockJS endpoint's plain websocket, `/sockjs/websocket`).

Jobs start and end with OctoPrint's events (`PrintStarted`; `PrintDone`, `PrintFailed`,
`PrintCancelled`), which come only as push messages; its `current` messages, about two a second,
carry the progress and the temperatures. The REST API answers the rest: whether the key works
(`/api/version`), the session the push connection logs in with (`/api/login`, passively, with
the key), what is printing when the connector (re)connects (`/api/printer`, `/api/job`), the
analysed filament of the job's file (`/api/job`), the file itself to hash
(`/downloads/files/...`), and how a job ended while the connector could not see it (the file's
print log, `/api/files/...`).

The API key is a user's or an application key; its user needs OctoPrint's STATUS, FILES_LIST
and FILES_DOWNLOAD permissions (without the last, jobs are reported with no file hash).

Tested against OctoPrint 1.11.8 and its Virtual Printer (tests/printfair/agent/test_octoprint.py).
"""

from __future__ import annotations

try:
    import websocket  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "The OctoPrint connector needs the websocket-client package (pip install websocket-client"
        " or pip install 'printfair[octoprint]')."
    ) from exc

from printfair.agent.connectors.octoprint.connector import OctoPrintConnector
from printfair.agent.connectors.octoprint.rest import OctoPrintRest

__all__ = ["OctoPrintConnector", "OctoPrintRest"]
