# First, before anything imports eth-account: printfair/eth_imports.py.
from printfair import eth_imports  # noqa: F401
