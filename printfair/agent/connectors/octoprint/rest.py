"""OctoPrint's REST API, as the connector (connector.py) calls it."""

from __future__ import annotations

import hashlib
import math
import urllib.parse
from datetime import datetime
from typing import Any

import requests

from printfair.agent.connectors import HostUnavailable


class OctoPrintRest:
    """The REST calls to one OctoPrint, with its API key; each raises `HostUnavailable` when
    OctoPrint cannot be reached or does not answer as it should."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        self._http.headers["X-Api-Key"] = api_key

    def close(self) -> None:
        self._http.close()

    def login(self) -> dict[str, Any]:
        """The key's user, logged in passively: its `name` and login `session`."""
        user: dict[str, Any] = self.request("POST", "/api/login", json={"passive": True}).json()
        if not user.get("name") or not user.get("session"):
            raise HostUnavailable(
                f"OctoPrint at {self.base_url} no longer accepts the API key (login refused)"
            )
        return user

    def snapshot(self) -> dict[str, Any] | None:
        """What OctoPrint is printing now (its `/api/job` answer), or None."""
        answer = self.request(
            "GET", "/api/printer", params={"exclude": "temperature,sd"}, ok=(409,)
        )
        if answer.status_code == 409:  # the printer is not connected
            return None
        flags = answer.json().get("state", {}).get("flags", {})
        # Finishing is after the last line: its PrintDone may have gone before the connector
        # subscribed, and a job opened now might never end.
        if not (flags.get("printing") or flags.get("paused")) or flags.get("finishing"):
            return None
        job: dict[str, Any] = self.get("/api/job")
        file = (job.get("job") or {}).get("file") or {}
        if not file.get("path"):
            return None
        return job

    def print_logged_since(
        self, origin: str, path: str, started_at: datetime
    ) -> dict[str, Any] | None:
        """The last entry of the file's print log if it is about a print that ended after
        `started_at`: OctoPrint logs each print's end with the file (`prints.last`)."""
        if origin != "local":
            return None  # OctoPrint keeps no log of a printer's SD card files
        answer = self.request("GET", self.files_path("/api/files", origin, path), ok=(404,))
        if answer.status_code == 404:
            return None
        last = (answer.json().get("prints") or {}).get("last") or {}
        ended = last.get("date")
        if isinstance(ended, int | float) and ended >= started_at.timestamp():
            return dict(last)
        return None

    def analysed_volume(self, filament_diameter_mm: float | None) -> float | None:
        """The filament of the selected file (the job's) in cm³, summed over the tools."""
        filament = ((self.get("/api/job").get("job") or {}).get("filament")) or {}
        volume = 0.0
        for tool in filament.values():
            if not isinstance(tool, dict):
                continue
            tool_volume, length = tool.get("volume"), tool.get("length")
            if isinstance(tool_volume, int | float) and tool_volume > 0:
                volume += tool_volume
            elif isinstance(length, int | float) and length > 0:
                if filament_diameter_mm is None:
                    return None
                # OctoPrint's analysis gives millimetres of filament and no volume.
                volume += length * math.pi * (filament_diameter_mm / 2) ** 2 / 1000
        return volume if filament else None

    def file_sha256(self, origin: str, path: str) -> str | None:
        if origin != "local":
            return None  # OctoPrint does not give out files on the printer's SD card
        url = self.base_url + "/downloads/files/local/" + urllib.parse.quote(path)
        digest = hashlib.sha256()
        try:
            with self._http.get(url, stream=True, timeout=self.timeout) as answer:
                if answer.status_code != 200:
                    return None  # deleted since, or the key may not download
                for chunk in answer.iter_content(chunk_size=1 << 16):
                    digest.update(chunk)
        except requests.RequestException as error:
            raise HostUnavailable(f"could not download {url} from OctoPrint: {error}") from error
        return digest.hexdigest()

    def files_path(self, prefix: str, origin: str, path: str) -> str:
        return f"{prefix}/{origin}/{urllib.parse.quote(path)}"

    def get(self, path: str) -> dict[str, Any]:
        try:
            answer = self.request("GET", path).json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise HostUnavailable(f"{self.base_url} does not answer GET {path} like OctoPrint")
        return answer

    def request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        """One call to OctoPrint's API; HostUnavailable, saying what was tried, unless it
        answers with success or one of the statuses in `ok`."""
        url = self.base_url + path
        try:
            answer = self._http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            raise HostUnavailable(f"could not reach OctoPrint: {method} {url}: {error}") from error
        if answer.status_code in (401, 403):
            raise HostUnavailable(
                f"OctoPrint at {self.base_url} refused the API key "
                f"(HTTP {answer.status_code} on {method} {path})"
            )
        if not answer.ok and answer.status_code not in ok:
            raise HostUnavailable(
                f"OctoPrint at {self.base_url} answered HTTP {answer.status_code} "
                f"on {method} {path}"
            )
        return answer
