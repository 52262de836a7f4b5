"""The ``printfair`` command-line client for print shops (``printfair --help``).

Plain Python over the shop API: no Django, so it installs and runs on a shop's own machine.
"""

from printfair.cli.main import main

__all__ = ["main"]
