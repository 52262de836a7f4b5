"""The `printfair` CLI installs on its own: `pip install .` brings what the CLI imports and none of
the server's packages (the `server` extra adds those), and every command runs without them.

Read from the installed distribution's metadata, so it tests pyproject.toml as pip sees it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import printfair

# What only the server needs: a shop must not get these with the CLI.
SERVER_PACKAGES = {
    "django",
    "djangorestframework",
    "drf-spectacular",
    "drf-spectacular-sidecar",
    "django-filter",
    "django-environ",
    "django-axes",
    "celery",
    "kombu",
    "redis",
    "psycopg",
    "psycopg-binary",
    "numpy",
    "gunicorn",
    "whitenoise",
    "web3",
    "coincurve",
    "reportlab",
    "segno",
}
# Their import names, and the server's own apps (in the same distribution as the CLI).
SERVER_MODULES = {
    "django",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "environ",
    "axes",
    "celery",
    "kombu",
    "redis",
    "psycopg",
    "numpy",
    "gunicorn",
    "whitenoise",
    "web3",
    "coincurve",
    "reportlab",
    "segno",
    "config",
    "marketplace",
    "printshops",
    "ledger",
}
SOURCE = Path(printfair.__file__).parent


def installed_with(distribution: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """The distributions that `pip install distribution[extras]` brings on this platform, read
    from the metadata of the installed ones (canonical names)."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(distribution, extras)]
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in seen:
            continue
        seen.add((canonicalize_name(name), wanted))
        found.add(canonicalize_name(name))
        for line in requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in wanted or {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return found


#: The CLI's own extras: what `printfair agent` needs for a kind of printer host.
CLI_EXTRAS = frozenset({"opcua", "octoprint"})


def test_a_shop_installing_the_cli_gets_none_of_the_servers_packages() -> None:
    cli = installed_with("printfair")
    assert cli.isdisjoint(SERVER_PACKAGES), sorted(cli & SERVER_PACKAGES)
    with_extras = installed_with("printfair", CLI_EXTRAS)
    assert with_extras.isdisjoint(SERVER_PACKAGES), sorted(with_extras & SERVER_PACKAGES)
    assert "requests" in cli
    assert "eth-account" in cli
    # and the server still gets every one of them
    assert installed_with("printfair", frozenset({"server"})) >= SERVER_PACKAGES


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cli_imports() -> list[tuple[str, tuple[str, ...]]]:
    """Every import statement of the printfair modules the CLI can reach from printfair/cli/,
    those inside functions (the commands import their libraries when they run) included, as
    (module, names) for `from module import names` and (module, ()) for `import module`; the
    modules themselves first, then what they import from outside the standard library."""
    files = {module_name(path): path for path in SOURCE.rglob("*.py")}
    reached: set[str] = set()
    todo = [name for name in files if name == "printfair.cli" or name.startswith("printfair.cli.")]
    outside: dict[tuple[str, tuple[str, ...]], None] = {}  # in order, once each
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        # Importing a module runs its packages' __init__ too.
        todo.extend(parent for parent in _parents(name) if parent in files)
        package = name if files[name].name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(files[name].read_text(), str(files[name]))):
            statements: list[tuple[str, tuple[str, ...]]]
            if isinstance(node, ast.Import):
                statements = [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0]
                    module = f"{base}.{module}" if module else base
                statements = [(module, tuple(alias.name for alias in node.names))]
            else:
                continue
            for module, names in statements:
                if module.split(".")[0] == "printfair":
                    todo.extend(
                        m for m in [module, *(f"{module}.{n}" for n in names)] if m in files
                    )
                elif module.split(".")[0] not in sys.stdlib_module_names:
                    outside[module, names] = None
    return [(name, ()) for name in sorted(reached)] + list(outside)


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


# Run in a fresh interpreter: refuses to import any top-level module named in argv[1], runs every
# import statement in argv[2], then `--help` of the `printfair` entry point and of each command.
RUN_WITHOUT = r"""
import argparse, contextlib, importlib, importlib.abc, io, json, sys
from importlib.metadata import entry_points

blocked = set(json.loads(sys.argv[1]))
# Site's start-up hooks (.pth files) are loaded already; blocking them would change nothing.
loaded_at_start = {m.split(".")[0] for m in sys.modules}
blocked -= loaded_at_start

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{fullname!r} is not the CLI's", name=fullname)
        return None

sys.meta_path.insert(0, Refuse())
failed = []
for module, names in json.loads(sys.argv[2]):
    try:
        imported = importlib.import_module(module)
        for name in names:
            if not hasattr(imported, name):
                importlib.import_module(f"{module}.{name}")
    except ImportError as exc:
        failed.append(f"{module} {names}: {exc}")

(entry_point,) = entry_points(group="console_scripts", name="printfair")
main = entry_point.load()

from printfair.cli.main import build_parser

def commands(parser, path):
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, [*path, name])

helped = []
for path in list(commands(build_parser(), [])):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main([*path, "--help"])
    if status != 0 or "usage: printfair" not in out.getvalue():
        failed.append(f"printfair {' '.join(path)} --help: {status} {out.getvalue()}")
    helped.append(" ".join(path))
print(json.dumps({
    "failed": failed,
    "helped": helped,
    "loaded": sorted({m.split(".")[0] for m in sys.modules}),
    "loaded_at_start": sorted(loaded_at_start),
}))
"""


def test_every_command_runs_without_the_servers_packages(tmp_path: Path) -> None:
    # given every installed top-level module that `pip install .` (with the agent's extras for
    # printer hosts) would not bring refused
    cli = installed_with("printfair", CLI_EXTRAS)
    provided = packages_distributions()
    not_the_clis = {
        module
        for module, distributions in provided.items()
        if not {canonicalize_name(d) for d in distributions} & cli
        and module not in sys.stdlib_module_names
    }
    # printfair's distribution carries the server's apps too: only the `printfair` package is
    # the CLI's.
    server_apps = {
        module
        for module, distributions in provided.items()
        if "printfair" in distributions and module != "printfair" and not module.startswith("__")
    }
    blocked = not_the_clis | server_apps
    assert blocked >= SERVER_MODULES, sorted(SERVER_MODULES - blocked)
    imports = cli_imports()
    assert ("printfair.cli.main", ()) in imports
    assert ("printfair.eip712", ()) in imports  # imported by `bid` when it runs
    assert ("printfair.withdrawals", ()) in imports  # imported by `withdraw` when it runs

    # when the CLI's modules and what they import are imported, and each command's help printed
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [
            sys.executable,
            "-I",
            "-c",
            RUN_WITHOUT,
            json.dumps(sorted(blocked)),
            json.dumps(imports),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )

    # then nothing needed what was refused
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["failed"] == []
    assert not SERVER_MODULES & set(result["loaded_at_start"])
    assert not SERVER_MODULES & set(result["loaded"])
    assert {"", "keys init", "bid", "reveal", "design get", "verify"} <= set(result["helped"])
