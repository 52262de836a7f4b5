import sys

# py_ecc, which the Ethereum libraries import (eth-account through eth-keyfile), raises the
# interpreter's recursion limit to 100,000 at import. Deep recursion then overflows the C stack
# and the process dies (a JSON body nested 100,000 deep killed the web process with SIGSEGV)
# instead of raising RecursionError. Import it here, first in every server process (web, worker,
# beat, manage.py), and put the limit back. Parsing JSON from outside is bounded besides
# (printfair/safejson.py).
_recursion_limit = sys.getrecursionlimit()
import py_ecc  # noqa: E402, F401

sys.setrecursionlimit(_recursion_limit)

from .celery_app import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
