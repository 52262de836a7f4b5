"""bench/settings.py for bench/bids.py: its URLs add a bare authenticated API endpoint
(bench/bids_urls.py), and database connections persist as in production."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bids_urls"
# As config/settings/production.py: a request does not pay for a new PostgreSQL connection.
DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
