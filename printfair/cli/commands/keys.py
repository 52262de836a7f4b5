"""``printfair keys init|register|show``: the shop's own keys, made and kept on its machine."""

from __future__ import annotations

import argparse
import base64

from printfair.cli.commands.base import Parents, Subparsers, add_json_flag
from printfair.cli.context import Context
from printfair.cli.errors import CliError
from printfair.cli.keyfile import check_can_create, create_keyfile
from printfair.keys import HpkeKem, registration_message, sign_registration


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    keys = subparsers.add_parser(
        "keys", parents=parents, help="make, register and show the shop's keys"
    )
    actions = keys.add_subparsers(title="actions", metavar="ACTION", required=True)

    init = actions.add_parser(
        "init",
        parents=parents,
        help="make the shop's signing key and HPKE release key, encrypted with a passphrase",
        description="Make the shop's Ethereum signing key (bids are signed with it) and its "
        "HPKE key (awarded designs are released to it), and store both encrypted with a "
        "passphrase in HOME/keys.json. Nothing is sent anywhere.",
    )
    init.add_argument(
        "--kem",
        choices=[kem.value for kem in HpkeKem],
        default=HpkeKem.X25519.value,
        help="the HPKE key's type: x25519 (the default), or mlkem768-x25519, the hybrid of "
        "ML-KEM-768 and X25519 that also resists a future quantum computer",
    )
    init.add_argument(
        "--force", action="store_true", help="replace existing keys (they are lost unless copied)"
    )
    init.add_argument(
        "--light-kdf",
        action="store_true",
        help="a fast, weaker passphrase hash, for throwaway keys (tests, demos) only",
    )
    init.set_defaults(handler=keys_init)

    register = actions.add_parser(
        "register",
        parents=parents,
        help="prove the keys to PrintFair and make them the shop's",
        description="Ask PrintFair for a one-time challenge, sign it with the shop's key "
        "together with both public keys, and register them. Re-registering replaces the "
        "shop's keys (bids already placed stay signed by the old key).",
    )
    register.set_defaults(handler=keys_register)

    show = actions.add_parser(
        "show", parents=parents, help="print the shop's public keys (no passphrase needed)"
    )
    add_json_flag(show)
    show.set_defaults(handler=keys_show)


def keys_init(ctx: Context, args: argparse.Namespace) -> int:
    path = ctx.keys_path
    check_can_create(path, force=args.force)  # before asking for a passphrase in vain
    keys = create_keyfile(
        path,
        ctx.passphrase(new=True),
        force=args.force,
        light=args.light_kdf,
        kem=HpkeKem(args.kem),
    )
    ctx.say(
        f"Keys written to {path} (encrypted with your passphrase).",
        f"Address:  {keys.address}",
        f"HPKE key: {keys.hpke_kem} {base64.b64encode(keys.hpke_public_key).decode()}",
        "Keep a copy of the file and the passphrase: without them the shop cannot sign bids "
        "or open awarded designs.",
        "Next: printfair keys register",
    )
    return 0


def keys_register(ctx: Context, args: argparse.Namespace) -> int:
    keys = ctx.keys()
    # The challenge first: it checks the server and the API key before the passphrase is asked.
    challenge = ctx.api.post("shop/keys/challenge/")
    account = keys.unlock_ethereum(ctx.passphrase())
    message = registration_message(
        shop_id=int(challenge["shop_id"]),
        address=account.address,
        hpke_kem=keys.hpke_kem,
        hpke_public_key=keys.hpke_public_key,
        challenge=challenge["challenge"],
    )
    registered = ctx.api.put(
        "shop/keys/",
        {
            "challenge": challenge["challenge"],
            "address": account.address,
            "signature": "0x" + sign_registration(account.key, message).hex(),
            "hpke_kem": str(keys.hpke_kem),
            "hpke_public_key": base64.b64encode(keys.hpke_public_key).decode(),
        },
    )
    if registered.get("address") != account.address:
        raise CliError(
            f"PrintFair registered {registered.get('address')}, not this key's {account.address}"
        )
    ctx.say(f"Registered {account.address} for shop {challenge['shop_id']}.")
    if registered.get("verified"):
        ctx.say("The shop is verified: it can list jobs and bid.")
    else:
        ctx.say(
            "The shop is not verified yet: PrintFair's operators verify new shops before "
            "they see jobs and bid."
        )
    return 0


def keys_show(ctx: Context, args: argparse.Namespace) -> int:
    keys = ctx.keys()
    public_key = base64.b64encode(keys.hpke_public_key).decode()
    if args.json:
        ctx.emit_json(
            {"address": keys.address, "hpke_kem": str(keys.hpke_kem), "hpke_public_key": public_key}
        )
    else:
        ctx.say(f"Address:  {keys.address}", f"HPKE key: {keys.hpke_kem} {public_key}")
    return 0
