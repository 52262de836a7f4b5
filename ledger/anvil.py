"""Foundry's anvil from npm: the local development chain of `make run` and the tests.

Development tooling only: production talks to any JSON-RPC node through ledger/chain.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def anvil_binary() -> str:
    """The platform binary that @foundry-rs/anvil installs (no node wrapper process between)."""
    for candidate in sorted((ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("anvil", path=str(ROOT / "node_modules" / ".bin"))
    if found is None:
        raise FileNotFoundError("anvil is not installed: run `npm install` (make does it)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc(url: str, method: str, *params: object, timeout: float = 5.0) -> object:
    """One JSON-RPC call, without web3 (for tooling that must not depend on a client's state)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(  # noqa: S310 - a local URL from our own settings
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        answer = json.loads(response.read())
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


class Anvil:
    """An anvil process on a port of its own."""

    def __init__(
        self,
        *,
        mnemonic: str,
        chain_id: int,
        port: int | None = None,
        block_time: float | None = None,
        state: Path | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            anvil_binary(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--mnemonic", mnemonic,
            "--chain-id", str(chain_id),
        ]  # fmt: skip
        if block_time is not None:
            self.args += ["--block-time", str(block_time)]
        if state is not None:
            # Loaded at start and saved on exit and every few seconds, so a restart keeps the chain.
            self.args += ["--state", str(state), "--state-interval", "2"]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Anvil:
        output = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(self.args, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"anvil exited with {self.process.returncode}")
            try:
                rpc(self.url, "eth_chainId", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("anvil did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
