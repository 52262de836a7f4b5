"""``printfair design get JOB -o DIR``: download, decrypt and check the designs of a won job.

For each design PrintFair released to the shop (once the customer funded the escrow): the
ciphertext is streamed and decrypted segment by segment, as it arrives, with the data key
unwrapped by the shop's own HPKE key, into a partial plaintext file (resumed with a range request
after a break); that is renamed into place only once the envelope's final tag verified and its
SHA-256 is both the one PrintFair lists and one registered on chain (the DesignRegistry, asked
through a node directly). A file that fails a check is never left behind. Memory stays bounded
whatever the file's size.

The download machinery (requests, cryptography) is imported by the functions that use it: every
run of the CLI imports this module to build its parser, and only `design get` needs them.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from printfair.cli.api import ApiError
from printfair.cli.chainread import Node, Registration, lookup_registration, registry_address
from printfair.cli.commands.base import Parents, Subparsers, add_json_flag, job_id
from printfair.cli.context import Context
from printfair.cli.errors import CliError, NotVerified, UsageError

if TYPE_CHECKING:
    from printfair.cli.download import CiphertextClient, Fetched, Release
    from printfair.hpke import HpkePrivateKey

SCOPE_HINT = "`design get` needs an API key with the designs:read scope."


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    design = subparsers.add_parser(
        "design", parents=parents, help="download and decrypt the designs of a won job"
    )
    actions = design.add_subparsers(title="actions", metavar="ACTION", required=True)
    get = actions.add_parser(
        "get",
        parents=parents,
        help="download, decrypt and check a won job's design files into a folder",
        description="Download the design files PrintFair released to the shop for JOB (after "
        "the customer funded the escrow), decrypt them with the shop's HPKE key, and keep each "
        "only if it is intact and its SHA-256 is the one registered on chain. A broken "
        "download resumes where it stopped when the command is run again.",
    )
    get.add_argument("job", type=job_id, help="the job's id")
    get.add_argument(
        "-o", "--output", metavar="DIR", type=Path, required=True, help="the folder to save to"
    )
    get.add_argument(
        "--rpc",
        metavar="URL",
        help="a JSON-RPC node of the chain to check the designs' registrations with (default: "
        "$PRINTFAIR_RPC, else the node PrintFair names)",
    )
    get.add_argument(
        "--registry",
        metavar="ADDRESS",
        help="the DesignRegistry's address (default: $PRINTFAIR_REGISTRY, else the one "
        "PrintFair publishes)",
    )
    get.add_argument("--force", action="store_true", help="replace files of the same name in DIR")
    get.add_argument(
        "-q", "--quiet", action="store_true", help="no progress or summary: print only failures"
    )
    add_json_flag(get)
    get.set_defaults(handler=design_get)


@dataclass(frozen=True)
class ChainCheck:
    """Where the designs' registrations are looked up."""

    node: Node
    chain_id: int
    registry: str
    named_by_printfair: bool

    def registration(self, sha256: str) -> Registration:
        return lookup_registration(
            self.node, chain_id=self.chain_id, registry=self.registry, sha256=sha256
        )


def design_get(ctx: Context, args: argparse.Namespace) -> int:
    from printfair.cli.download import CiphertextClient, Release

    job = args.job
    try:
        listed = list(ctx.api.paginate("releases/", {"job": str(job)}))
    except ApiError as exc:
        raise _explained(exc, "") from None
    releases = [Release.from_api(item) for item in listed]
    releases = [release for release in releases if release.job == job]
    if not releases:
        raise CliError(
            f"PrintFair has released no design of job {job} to your shop: designs are released "
            "to the shop that won the job, once the customer has funded the escrow"
        )
    folder = _output_folder(args.output, releases, force=args.force)
    chain = _chain_check(ctx, args)
    keys = ctx.keys()
    private_key = keys.unlock_hpke(ctx.passphrase())
    client = CiphertextClient(ctx.api_url, ctx.api_key)
    saved: list[dict[str, Any]] = []
    failures: list[tuple[Release, CliError]] = []
    for release in releases:
        try:
            saved.append(_get_one(ctx, args, client, chain, private_key, release, folder))
        except UsageError:
            raise
        except CliError as exc:
            failures.append((release, exc))
    if args.json:
        ctx.emit_json(saved)
    elif saved and not args.quiet:
        first = releases[0]
        ctx.say(
            f"Licence for job {job}: {first.prints_allowed} prints allowed, "
            f"{first.prints_taken} taken. Take a ticket before each print: "
            f"printfair print-ticket {job} --machine M --serial S"
        )
    if len(failures) == 1 and len(releases) == 1:
        raise failures[0][1]
    if failures:
        for release, failure in failures:
            ctx.warn(f"{release.file_name}: {failure.message}")
            for line in failure.details:
                ctx.warn(f"  {line}")
        error = CliError(f"{len(failures)} of {len(releases)} design files were not saved")
        error.exit_code = max(failure.exit_code for _, failure in failures)
        raise error
    return 0


def _output_folder(folder: Path, releases: list[Release], *, force: bool) -> Path:
    """The output folder, made if need be; refused before anything is fetched if a design
    would replace a file there (without --force) or two designs share a name."""
    twice = sorted(name for name, n in Counter(r.file_name for r in releases).items() if n > 1)
    if twice:
        raise CliError(
            f"several designs of this job are named {', '.join(twice)}: they cannot be saved "
            "side by side; ask the customer to rename them"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot make the folder {folder}: {exc.strerror or exc}") from None
    if not force:
        there = [str(folder / r.file_name) for r in releases if (folder / r.file_name).exists()]
        if there:
            raise CliError(
                f"{there[0]} already exists: use --force to replace it"
                if len(there) == 1
                else "these files already exist: use --force to replace them",
                details=there if len(there) > 1 else (),
            )
    return folder


def _chain_check(ctx: Context, args: argparse.Namespace) -> ChainCheck:
    """The node and DesignRegistry to check with, reached before any download starts."""
    info: Mapping[str, Any] = ctx.api.get("chain/")
    given = args.rpc or ctx.env.get("PRINTFAIR_RPC")
    rpc_url = given or (info.get("rpc_url") if isinstance(info, dict) else None)
    if not rpc_url:
        raise UsageError(
            "give --rpc URL (or set PRINTFAIR_RPC): a JSON-RPC node of the chain, to check "
            "the designs' registrations"
        )
    node = Node(str(rpc_url))
    try:
        chain_id = node.chain_id()
    except CliError as exc:
        if given:
            raise
        raise CliError(
            exc.message, details=["That is the node PrintFair names: give --rpc URL of another."]
        ) from None
    registry = registry_address(
        given=args.registry or ctx.env.get("PRINTFAIR_REGISTRY"),
        api_url=ctx.api_url,
        chain_id=chain_id,
        published=info,
    )
    return ChainCheck(node, chain_id, registry, named_by_printfair=not given)


def _get_one(
    ctx: Context,
    args: argparse.Namespace,
    client: CiphertextClient,
    chain: ChainCheck,
    private_key: HpkePrivateKey,
    release: Release,
    folder: Path,
) -> dict[str, Any]:
    """Fetch, decrypt, check and save one design; a CliError if it fails (nothing of a file
    that failed a check is kept; the part of a download that broke is, for a resume)."""
    from printfair.cli.download import PartPaths, fetch_and_decrypt
    from printfair.cli.progress import ByteProgress
    from printfair.sizes import format_size

    registration = chain.registration(release.sha256)
    if not registration.registered:
        raise NotVerified(
            f"{release.file_name} is not registered on chain: the DesignRegistry "
            f"{chain.registry} on chain {chain.chain_id} has no entry for its SHA-256 "
            f"{release.sha256}, so it was not downloaded",
            details=[
                "A design is registered when it is uploaded; if that is still on its way, "
                "try again later."
            ],
        )
    data_key = _unwrap(ctx, private_key, release)
    paths = PartPaths.in_folder(folder, release.file_name)
    progress = ByteProgress(ctx.err, release.file_name, release.ciphertext_bytes, quiet=args.quiet)
    try:
        fetched = fetch_and_decrypt(client, release, data_key, paths, progress)
    except ApiError as exc:
        raise _explained(exc, f"cannot download {release.file_name}: ") from None
    try:
        _check(release, fetched, registration)
    except NotVerified:
        # Authentic ciphertext of another file than the one listed, or a part altered since an
        # earlier run: nothing worth resuming.
        paths.forget()
        raise
    # Should the rename fail, the part stays: the same command (with --force, if a file of the
    # name appeared) keeps it after fetching its final segment again.
    _keep(fetched.plaintext, paths.target, force=args.force)
    paths.forget()
    registered_at = registration.registered_at
    summary = {
        "file": release.file_name,
        "path": str(paths.target),
        "size_bytes": fetched.size_bytes,
        "sha256": fetched.sha256,
        "chain_id": chain.chain_id,
        "registry": chain.registry,
        "registered_at": registered_at.isoformat() if registered_at else None,
        "owner_ref": "0x" + registration.owner_ref.hex(),
        "resumed_from": fetched.resumed_from,
        "fetched_bytes": fetched.fetched_bytes,
    }
    if not args.json and not args.quiet:
        node = (
            f" (through {chain.node.url}, named by PrintFair)" if chain.named_by_printfair else ""
        )
        ctx.say(
            f"Saved {paths.target}: {format_size(fetched.size_bytes)} "
            f"({fetched.size_bytes:,} bytes), decrypted and intact.",
            f"  SHA-256     {fetched.sha256}",
            f"  Registered  on chain {chain.chain_id} {registration.when()}{node}",
        )
    return summary


def _explained(exc: ApiError, prefix: str) -> ApiError:
    """PrintFair's refusal (release revoked, licence closed, not released to this shop, ...),
    naming the file, with a hint when the API key lacks the scope."""
    explained = ApiError(prefix + exc.message, status=exc.status, code=exc.code, fields=exc.fields)
    if exc.status == 403 and "scope" in exc.message:
        explained.details.append(SCOPE_HINT)
    return explained


def _unwrap(ctx: Context, private_key: HpkePrivateKey, release: Release) -> bytes:
    from printfair.hpke import ReleaseKeyError

    try:
        return release.data_key(private_key)
    except ReleaseKeyError as exc:
        raise CliError(
            f"cannot open the data key of {release.file_name}: it was released to the HPKE key "
            f"the shop had registered when the escrow was funded, which is not the key in "
            f"{ctx.keys_path}",
            details=[str(exc)],
        ) from None


def _check(release: Release, fetched: Fetched, registration: Registration) -> None:
    """The decrypted file must be the design PrintFair lists, whose hash is on chain."""
    if fetched.sha256 != release.sha256 or fetched.size_bytes != release.size_bytes:
        raise NotVerified(
            f"{release.file_name} decrypted to a file whose SHA-256 is {fetched.sha256} "
            f"({fetched.size_bytes:,} bytes), not the {release.sha256} PrintFair lists and "
            f"registered on chain {registration.chain_id} on {registration.when()}: "
            "it was not kept",
        )


def _keep(plaintext: Path, target: Path, *, force: bool) -> None:
    if not force and target.exists():  # appeared while this file was fetched
        raise CliError(f"{target} already exists: use --force to replace it")
    try:
        os.replace(plaintext, target)
    except OSError as exc:
        raise CliError(f"cannot save {target}: {exc.strerror or exc}") from None
    if os.name == "posix":  # the rename itself on disk, before saying it is saved
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
