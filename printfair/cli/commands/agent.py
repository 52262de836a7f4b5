"""``printfair agent``: the process a shop runs beside a printer, speaking for the machine.

    printfair agent pair MACHINE [--wait]      make the machine's key here and show its pairing code
    printfair agent expect MACHINE FILE --ticket ID [--design-sha256 H --slicer S --profile P]
    printfair agent run MACHINE --octoprint URL        (OCTOPRINT_API_KEY in the environment)
    printfair agent run MACHINE --opcua opc.tcp://HOST:PORT [--opcua-machine NAME]
    printfair agent status MACHINE

The machine's key is made by ``pair`` and kept in the agent's folder
(``$PRINTFAIR_HOME/machines/<id>/``), encrypted with the passphrase; it never leaves it. The shop
approves it in PrintFair with the pairing code ``pair`` prints. ``run`` signs what the machine
did and delivers it (``printfair/agent/``); events wait in the folder while PrintFair cannot be
reached.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from printfair.cli.commands.base import Parents, Subparsers
from printfair.cli.context import Context
from printfair.cli.errors import CliError, UsageError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from printfair.agent.connectors import Connector
    from printfair.agent.store import AgentStore

KEY_FILE = "machine-key.json"
WAIT_SECONDS = 600


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    agent = subparsers.add_parser(
        "agent", parents=parents, help="speak for a machine: pair its key, watch it, report"
    )
    commands = agent.add_subparsers(title="agent commands", metavar="ACTION", required=True)

    pair = commands.add_parser(
        "pair", parents=parents, help="make the machine's key, show its pairing code"
    )
    pair.add_argument("machine", type=_machine_id, help="the machine's number in PrintFair")
    pair.add_argument("--wait", action="store_true", help="wait until the shop approved it")
    pair.add_argument(
        "--light-kdf",
        action="store_true",
        help="a fast, weaker passphrase hash, for throwaway keys (tests, demos) only",
    )
    pair.set_defaults(handler=_pair)

    expect = commands.add_parser(
        "expect", parents=parents, help="say which ticket a print file is for"
    )
    expect.add_argument("machine", type=_machine_id)
    expect.add_argument("file", type=Path, help="the print file the machine will be given")
    expect.add_argument("--ticket", required=True, help="the print ticket's id")
    derived = expect.add_argument_group("a file sliced from the released design")
    derived.add_argument("--design-sha256", help="the released design's SHA-256")
    derived.add_argument("--slicer", help="slicer and version, e.g. 'PrusaSlicer 2.8.1'")
    derived.add_argument("--profile", help="the slicing profile")
    expect.set_defaults(handler=_expect)

    run = commands.add_parser("run", parents=parents, help="watch the machine and report")
    run.add_argument("machine", type=_machine_id)
    host = run.add_argument_group(
        "the printer's host",
        "OctoPrint's API key is read from $OCTOPRINT_API_KEY (or the file "
        "named by $OCTOPRINT_API_KEY_FILE); it needs the STATUS, FILES_LIST and FILES_DOWNLOAD "
        "permissions",
    )
    hosts = host.add_mutually_exclusive_group(required=True)
    hosts.add_argument("--octoprint", metavar="URL", help="an OctoPrint server")
    hosts.add_argument("--opcua", metavar="URL", help="an OPC UA endpoint (opc.tcp://…)")
    host.add_argument("--opcua-machine", metavar="NAME", help="the machine's BrowseName")
    run.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    run.set_defaults(handler=_run)

    status = commands.add_parser("status", parents=parents, help="what waits, what was sent")
    status.add_argument("machine", type=_machine_id)
    status.set_defaults(handler=_status)


def _machine_id(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a machine number")
    return int(text)


def machine_folder(home: Path, machine_id: int) -> Path:
    """Where the agent keeps a machine's key and events, in the CLI's home."""
    return home / "machines" / str(machine_id)


def _folder(ctx: Context, machine_id: int) -> Path:
    return machine_folder(ctx.home, machine_id)


def _store(ctx: Context, machine_id: int) -> AgentStore:
    from printfair.agent.store import AgentStore

    return AgentStore(_folder(ctx, machine_id))


def _account(ctx: Context, machine_id: int) -> LocalAccount:
    from eth_account import Account

    path = _folder(ctx, machine_id) / KEY_FILE
    if not path.exists():
        raise CliError(f"machine {machine_id} has no key here: run `printfair agent pair` first")
    try:
        key = Account.decrypt(json.loads(path.read_text()), ctx.passphrase())
    except ValueError:
        raise CliError(f"wrong passphrase for {path}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def machine_key_create(folder: Path, passphrase: str, *, light_kdf: bool) -> LocalAccount:
    """A new key for the machine whose folder it is, written there encrypted with the
    passphrase (a Web3 Secret Storage keystore); `pair` makes one, and so does the demo's seed
    (machines/demo/), which pairs its printer before PrintFair is up."""
    from eth_account import Account

    from printfair.cli.keyfile import SCRYPT_N, SCRYPT_N_LIGHT, write_private

    account: LocalAccount = Account.create()
    keystore = Account.encrypt(
        account.key, passphrase, kdf="scrypt", iterations=SCRYPT_N_LIGHT if light_kdf else SCRYPT_N
    )
    write_private(folder / KEY_FILE, json.dumps(keystore) + "\n", replace=False)
    return account


def _pair(ctx: Context, args: argparse.Namespace) -> int:
    from printfair.keys import sign_registration
    from printfair.machine_events import pairing_code, pairing_message

    machine_id = args.machine
    path = _folder(ctx, machine_id) / KEY_FILE
    chain_id = int(ctx.api.get("chain/")["chain_id"])
    if path.exists():
        account = _account(ctx, machine_id)
    else:
        account = machine_key_create(
            _folder(ctx, machine_id), ctx.passphrase(new=True), light_kdf=args.light_kdf
        )
    message = pairing_message(machine_id=machine_id, address=account.address, chain_id=chain_id)
    signature = sign_registration(account.key, message)
    key = ctx.api.post(
        f"machines/{machine_id}/keys/",
        {"address": account.address, "signature": "0x" + signature.hex()},
    )
    store = _store(ctx, machine_id)
    store.put(machine_id=machine_id, chain_id=chain_id, address=account.address)
    code = pairing_code(machine_id=machine_id, address=account.address)
    ctx.say(
        f"Machine {machine_id}'s key: {account.address}",
        f"Pairing code: {code}",
        f"Approve it with this code on the machine's page, {ctx.api_url}/shop/machines/"
        f"{machine_id}/ (or POST /api/v1/machines/{machine_id}/keys/approve/).",
    )
    if key["status"] == "active" or not args.wait:
        return 0
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if _key_status(ctx, machine_id, account.address)["status"] == "active":
            ctx.say("Approved.")
            return 0
        time.sleep(2)
    raise CliError(f"the key was not approved within {WAIT_SECONDS // 60} minutes")


def _key_status(ctx: Context, machine_id: int, address: str) -> dict[str, Any]:
    machine = ctx.api.get(f"machines/{machine_id}/")
    for key in machine["keys"]:
        if key["address"] == address:
            return {**key, "machine_last_sequence": machine["last_sequence"]}
    raise CliError(f"PrintFair does not know this key ({address}) for machine {machine_id}")


def _expect(ctx: Context, args: argparse.Namespace) -> int:
    derived = (args.design_sha256, args.slicer, args.profile)
    if any(derived) and not all(derived):
        raise UsageError("--design-sha256, --slicer and --profile go together")
    digest = hashlib.sha256()
    with args.file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    derived_from = None
    if all(derived):
        derived_from = {
            "design_sha256": args.design_sha256.lower(),
            "slicer": args.slicer,
            "profile": args.profile,
        }
    _store(ctx, args.machine).expect(
        digest.hexdigest(), ticket=args.ticket, derived_from=derived_from
    )
    ctx.say(f"{args.file.name} ({digest.hexdigest()[:16]}…) is for ticket {args.ticket}.")
    return 0


def _run(ctx: Context, args: argparse.Namespace) -> int:
    from printfair.agent.recorder import Recorder
    from printfair.agent.runner import Agent

    machine_id = args.machine
    store = _store(ctx, machine_id)
    if store.get("address") is None:
        raise CliError(f"machine {machine_id} is not paired here: run `printfair agent pair`")
    account = _account(ctx, machine_id)
    _check_with_printfair(ctx, store, machine_id, account.address)

    connect, where = _connector(ctx, args)
    # An OPC UA machine keeps its own lifetime meters, which the agent signs; for OctoPrint,
    # which keeps none, the agent counts them from the jobs it saw.
    recorder = Recorder(
        store,
        account,
        machine_id=machine_id,
        chain_id=int(store.get("chain_id")),
        counts_meters=args.octoprint is not None,
        warn=ctx.warn,
    )
    agent = Agent(
        connect=connect,
        recorder=recorder,
        api=ctx.api,
        store=store,
        machine_id=machine_id,
        say=ctx.warn,
        poll=args.poll,
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: agent.stop.set())
    ctx.say(f"Watching machine {machine_id} at {where}; Ctrl-C stops.")
    agent.run()
    total, delivered, _ = store.counts()
    ctx.say(f"Stopped: {delivered} of {total} events delivered, the rest wait on disk.")
    return 0


def _connector(
    ctx: Context, args: argparse.Namespace
) -> tuple[Callable[[Mapping[str, Any] | None], Connector], str]:
    """How to connect to the printer's host the options name (given the job the agent has
    open, see `Recorder.open_job`), and its address."""
    from printfair.cli.context import secret_from_env

    try:
        if args.octoprint is not None:
            from printfair.agent.connectors.octoprint import OctoPrintConnector

            api_key = secret_from_env(ctx.env, "OCTOPRINT_API_KEY")
            if not api_key:
                raise UsageError("set OCTOPRINT_API_KEY (or OCTOPRINT_API_KEY_FILE)")
            url: str = args.octoprint
            return (lambda job: OctoPrintConnector(url, api_key, open_job=job)), url
        from printfair.agent.connectors.opcua import OpcUaConnector

        endpoint, machine = args.opcua, args.opcua_machine
        return (lambda job: OpcUaConnector(endpoint, machine=machine, open_job=job)), endpoint
    except ImportError as exc:
        extra = "octoprint" if args.octoprint is not None else "opcua"
        raise CliError(f"{exc} (pip install 'printfair[{extra}]')") from None


def _check_with_printfair(ctx: Context, store: AgentStore, machine_id: int, address: str) -> None:
    """The key is approved, and this agent's numbering is the machine's. An agent that ran
    before may start while PrintFair cannot be reached (after a power cut, say): it knows where
    it is, and its events wait on disk."""
    from printfair.cli.api import ApiError

    started = store.get("sequence_before") is not None
    try:
        key = _key_status(ctx, machine_id, address)
    except ApiError:
        raise
    except CliError as exc:
        if not started:
            raise CliError(f"{exc.message}: a new agent needs PrintFair once to start") from None
        ctx.warn(f"{exc.message}; starting from what this agent knows")
        return
    if key["status"] != "active":
        raise CliError(
            f"this machine's key is {key['status']} in PrintFair: the shop approves it with the "
            "pairing code `printfair agent pair` showed"
        )
    if not started:
        # A new agent continues the machine's numbering where its key took over.
        store.put(sequence_before=int(key["first_sequence"]) - 1)
    elif key["machine_last_sequence"] > store.counts()[2]:
        raise CliError(
            f"PrintFair has machine {machine_id}'s events up to {key['machine_last_sequence']}, "
            f"this agent's up to {store.counts()[2]}: another agent speaks for this machine"
        )


def _status(ctx: Context, args: argparse.Namespace) -> int:
    store = _store(ctx, args.machine)
    total, delivered, last = store.counts()
    ctx.say(
        f"Machine {args.machine}: key {store.get('address') or 'not paired'}",
        f"Events: {total} signed here, {delivered} delivered, {total - delivered} waiting; "
        f"last number {last}",
    )
    return 0
