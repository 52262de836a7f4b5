"""The test databases under pytest-xdist on PostgreSQL: migrated once, copied for each worker.

pytest-django has every worker create its database and run all the migrations (about 4 s of a
core each on a quiet machine, twice that with the other workers doing the same). Here the first
worker to get the lock migrates its database as pytest-django would and copies it into a template
(`CREATE DATABASE ... TEMPLATE`); the others wait for it and copy the template, which PostgreSQL
does file by file. The controller process drops the template at the end.

On SQLite (`make test` without DATABASE_URL) or without xdist, pytest-django's own setup runs.
A plugin (`pytest_plugins` in tests/conftest.py): `django_db_setup` replaces pytest-django's."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import setup_databases, teardown_databases
from psycopg import sql

#: In the controller's base temporary folder, which every worker's is inside.
LOCK = "django-template.lock"
MADE = "django-template.name"


def _shared(config: pytest.Config) -> Path:
    """The controller's base temporary folder (a worker's basetemp is a folder inside it)."""
    if hasattr(config, "workerinput"):
        return Path(config.option.basetemp).parent
    return Path(config._tmp_path_factory.getbasetemp())


def _server() -> psycopg.Connection[Any]:
    """A connection to the server's maintenance database, outside Django (and its blocker)."""
    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    return psycopg.connect(**params, autocommit=True)


def _copy(source: str, target: str) -> None:
    with _server() as server:
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(target)))
        server.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    config = request.config
    verbosity = config.option.verbose
    if not hasattr(config, "workerinput") or connection.vendor != "postgresql":
        with django_db_blocker.unblock():
            db_cfg = setup_databases(verbosity=verbosity, interactive=False)
    else:
        shared = _shared(config)
        template = f"test_template_{config.workerinput['testrunuid'][:16]}"
        with django_db_blocker.unblock(), (shared / LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            made = shared / MADE
            if not made.exists():
                db_cfg = setup_databases(verbosity=verbosity, interactive=False)
                connection.close()  # a template must have no other session
                _copy(connection.settings_dict["NAME"], template)
                made.write_text(template)
            else:
                # What create_test_db does for this worker's database, with a copy for the
                # migrations (the template has the cache table too).
                name = connection.creation._get_test_db_name()
                original = connection.settings_dict["NAME"]
                _copy(made.read_text(), name)
                connection.close()
                settings.DATABASES[connection.alias]["NAME"] = name
                connection.settings_dict["NAME"] = name
                db_cfg = [(connection, original, True)]
    yield
    # As pytest-django does: a process a test started may still hold a session on the database
    # (PostgreSQL then refuses to drop it); that is a warning, not a failure of the last test.
    with django_db_blocker.unblock():
        try:
            teardown_databases(db_cfg, verbosity=verbosity)
        except Exception as exc:
            request.node.warn(pytest.PytestWarning(f"Could not drop the test database: {exc!r}"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller drops the template its workers copied."""
    if hasattr(session.config, "workerinput") or not session.config.getoption("numprocesses", None):
        return
    made = _shared(session.config) / MADE
    if made.exists():
        with _server() as server:
            server.execute(
                sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(made.read_text()))
            )
