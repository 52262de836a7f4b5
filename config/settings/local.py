"""Development and `make run`: SQLite under var/, a file-system Celery broker, and secrets that
are generated once into var/secrets/ (never committed) unless the environment provides them."""

import base64
import os

from .base import *

# DEBUG stays as base.py has it (off unless DJANGO_DEBUG=1): `make run` is what a newcomer judges
# the product by, and Django's debug pages show settings and code to anyone who mistypes a URL.
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])


def _local_secret(name: str, make: str) -> str:
    """A per-machine secret kept under var/secrets/, created on first use."""
    path = VAR_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make)
    return path.read_text().strip()


SECRET_KEY = SECRET_KEY or _local_secret(
    "django_secret_key", base64.b64encode(os.urandom(48)).decode()
)
if not PRINTFAIR_KEKS:
    PRINTFAIR_KEKS = parse_keks(
        _local_secret("keks", "1:" + base64.b64encode(os.urandom(32)).decode())
    )
    PRINTFAIR_KEK_CURRENT = max(PRINTFAIR_KEKS)

if not CHAIN_OPERATOR_KEY and not CHAIN_OPERATOR_KEYSTORE:
    # The local anvil derives its accounts from this mnemonic; the operator is its first account.
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    CHAIN_DEV_MNEMONIC = _local_secret("chain_mnemonic", Account.create_with_mnemonic()[1])
    CHAIN_OPERATOR_KEY = Account.from_mnemonic(CHAIN_DEV_MNEMONIC).key.hex()
    if not CHAIN_ARBITER_KEY:
        # anvil's last funded account: never the operator (the contract refuses both roles).
        CHAIN_ARBITER_KEY = Account.from_mnemonic(
            CHAIN_DEV_MNEMONIC, account_path="m/44'/60'/0'/0/9"
        ).key.hex()

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Static files under their own names: a page never fails for want of a manifest entry while
# static/ changes under development (production's are hashed: base.py).
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# The dev and test chains are anvil: customers may mint test dollars.
PRINTFAIR_FAUCET = env.bool("PRINTFAIR_FAUCET", default=True)
