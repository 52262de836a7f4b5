"""Fail `make install` when requirements/dev.lock is behind pyproject.toml.

`make install` installs the lock, then the project with `--no-deps`, so a dependency added to
pyproject.toml but not yet locked would be missing without a word. This names each requirement
of `printfair[dev]` that the installed packages do not satisfy; `make lock` adds them.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, requires, version

from packaging.requirements import Requirement


def unmet(distribution: str, extra: str) -> list[str]:
    problems = []
    for line in requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
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


def main() -> int:
    problems = unmet("printfair", "dev")
    if problems:
        print("requirements/dev.lock does not satisfy pyproject.toml:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print("run `make lock` and commit requirements/dev.lock", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
