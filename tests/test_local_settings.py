"""`make run`'s settings (config.settings.local) answer an unknown address with the product's 404
page, never Django's debug page, unless DJANGO_DEBUG asks for it (issue 14, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes import run_with_settings

# Fetches what a newcomer would mistype under `make run`: with local settings, in a fresh process
# whose var/ (secrets, SQLite) is a temporary directory. The tables are made from the models, as
# pytest-django's --no-migrations makes them (the migrations took 3.5 s of CPU on SQLite): the
# page needs them to exist, not how they came to.
FETCH = """\
import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.test import Client
django.setup()
settings.MIGRATION_MODULES = {app.label: None for app in apps.get_app_configs()}
call_command("migrate", run_syncdb=True, verbosity=0)
settings.ALLOWED_HOSTS.append("testserver")
response = Client().get("/verify/00000000-0000-4000-8000-000000000000/")
print(response.status_code, settings.DEBUG)
print(response.content.decode())
"""


@pytest.mark.parametrize(("debug", "expected"), [(None, "False"), ("1", "True")])
def test_an_unknown_id_under_make_run_gets_the_product_404_page(
    tmp_path: Path, debug: str | None, expected: str
) -> None:
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "PRINTFAIR_VAR_DIR": str(tmp_path)}
    if debug is not None:
        env["DJANGO_DEBUG"] = debug
    result = run_with_settings(FETCH, env)
    assert result.returncode == 0, result.stderr
    status, shown_debug = result.stdout.splitlines()[0].split()
    page = result.stdout
    assert (status, shown_debug) == ("404", expected)
    if debug is None:
        assert "There is nothing here" in page
        assert "URLconf" not in page and "DEBUG = True" not in page
    else:
        assert "DEBUG = True" in page  # asked for: Django's page, as a developer wants


def test_the_api_conventions_load_before_drf_does(tmp_path: Path) -> None:
    """Django runs its checks in no fixed order; when the CSRF failure view check came first it
    loaded config.api before rest_framework.views, whose load reads DEFAULT_PARSER_CLASSES (a
    class in config.api) and failed, so `manage.py migrate` failed one start in a few."""
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "PRINTFAIR_VAR_DIR": str(tmp_path)}
    code = "import django\ndjango.setup()\nimport config.api\nimport rest_framework.views\n"
    result = run_with_settings(code, env)
    assert result.returncode == 0, result.stderr
