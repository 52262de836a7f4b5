"""Fail `make install` when requirements/dev.lock is behind pyproject.toml.

`make install` installs the lock, then the project with `--no-deps`, so a dependency added to
pyproject.toml but not yet locked would be missing without a word. This names each requirement
of `printfair` and of the extras the lock is compiled with (the arguments, `LOCK_EXTRAS` in the
Makefile: `server dev`) that the installed packages do not satisfy; `make lock` adds them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, metadata, requires, version

from packaging.requirements import Requirement


def unmet(distribution: str, extras: Sequence[str]) -> list[str]:
    problems = []
    for line in requires(distribution) or []:
        requirement = Requirement(line)
        # A requirement without a marker is the base; one of an extra says `extra == "…"`.
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": e}) for e in extras):
            continue
        wanted = f"{requirement.name}{requirement.specifier}"
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{wanted} (not in the lock)")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{wanted} (the lock has {installed})")
    return problems


def main(extras: Sequence[str]) -> int:
    # A misspelt extra would match no requirement and pass: only the project's own are accepted.
    known = metadata("printfair").get_all("Provides-Extra") or []
    if not extras or set(extras) - set(known):
        print(
            f"usage: check_lock.py EXTRA… (the lock's extras, of {', '.join(known)})",
            file=sys.stderr,
        )
        return 2
    problems = unmet("printfair", extras)
    if problems:
        print("requirements/dev.lock does not satisfy pyproject.toml:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print("run `make lock` and commit requirements/dev.lock", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
