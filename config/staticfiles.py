"""The files of npm packages that the pages use, served as static files without the rest of
their package.

A FileSystemFinder entry in STATICFILES_DIRS collects (and, in production, compresses and hashes)
a whole folder: Bootstrap's dist/ alone holds 56 files in every variant (grid, reboot, RTL, …)
for the two the pages load, htmx's every module format, three.js hundreds of example modules.
Collected whole, the npm packages were 31 of the image's 63 MB of static files. This finder
offers only the files `NPM_FILES` names, each under its package's folder in `vendor/`, keeping
their relative layout so that what they reference (source maps, fonts, relative imports) still
resolves: ManifestStaticFilesStorage refuses a file whose reference it cannot find, so a
missing one fails collectstatic, not a page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

#: Per folder under vendor/: the npm package folder it is served from (in node_modules), and the
#: files served (paths inside that folder).
NPM_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bootstrap": (
        "bootstrap/dist",
        (
            "css/bootstrap.min.css",
            "css/bootstrap.min.css.map",
            "js/bootstrap.bundle.min.js",
            "js/bootstrap.bundle.min.js.map",
        ),
    ),
    "bootstrap-icons": (
        "bootstrap-icons/font",
        ("bootstrap-icons.min.css", "fonts/bootstrap-icons.woff2", "fonts/bootstrap-icons.woff"),
    ),
    "htmx": ("htmx.org/dist", ("htmx.min.js",)),
    "uplot": ("uplot/dist", ("uPlot.iife.min.js", "uPlot.min.css")),
    "three": (
        "three",
        (
            "LICENSE",
            "build/three.module.js",
            "build/three.core.js",
            "examples/jsm/controls/OrbitControls.js",
            "examples/jsm/loaders/STLLoader.js",
            "examples/jsm/loaders/3MFLoader.js",
            "examples/jsm/libs/fflate.module.js",
            "examples/jsm/utils/BufferGeometryUtils.js",
        ),
    ),
}


class NpmFileFinder(BaseFinder):
    """Finds `vendor/<folder>/<path>` for the files of NPM_FILES, in node_modules."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        root = Path(settings.BASE_DIR) / "node_modules"
        self.storages = {}
        for folder, (package, _) in NPM_FILES.items():
            storage = FileSystemStorage(location=root / package)
            storage.prefix = f"vendor/{folder}"  # type: ignore[attr-defined]  # collectstatic
            self.storages[folder] = storage

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return [
            Error(f"node_modules/{package}/{path} is missing: run `make install`.", id="npm.E001")
            for folder, (package, paths) in NPM_FILES.items()
            for path in paths
            if not self.storages[folder].exists(path)
        ]

    # (Typed as Django's own finders answer: a path, or [] for "not here" with find_all or
    # without, which django-stubs does not allow for.)
    def find(  # type: ignore[override]
        self, path: str, find_all: bool = False, **kwargs: Any
    ) -> str | list[str]:
        for folder, (_, paths) in NPM_FILES.items():
            inside = path.removeprefix(f"vendor/{folder}/")
            if inside != path and inside in paths and self.storages[folder].exists(inside):
                found = self.storages[folder].path(inside)
                return [found] if find_all else found
        return []

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for folder, (_, paths) in NPM_FILES.items():
            for path in paths:
                yield path, self.storages[folder]
