# First in every server process (web, worker, beat, manage.py), before anything imports
# eth-account: what importing the Ethereum libraries does to a process, kept in bounds
# (printfair/eth_imports.py: the recursion limit py_ecc raises, the BLS tables it computes).
import printfair  # noqa: F401

from .celery_app import app as celery_app

__all__ = ["celery_app"]
