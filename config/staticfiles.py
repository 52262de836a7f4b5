"""Single files of npm packages served as static files, without the rest of their package.

three.js ships a megabyte-sized build and hundreds of example modules; the design preview
(static/js/design_preview.js) needs a few of them. A FileSystemFinder entry in STATICFILES_DIRS
would collect (and, in production, compress and hash) the whole package. This finder offers only
the files `NPM_FILES` names, under their package's folder in `vendor/`, keeping their relative
layout so that their own relative imports still resolve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

#: Per npm package, the files served from it (paths inside the package).
NPM_FILES: dict[str, tuple[str, ...]] = {
    "three": (
        "LICENSE",
        "build/three.module.js",
        "build/three.core.js",
        "examples/jsm/controls/OrbitControls.js",
        "examples/jsm/loaders/STLLoader.js",
        "examples/jsm/loaders/3MFLoader.js",
        "examples/jsm/libs/fflate.module.js",
        "examples/jsm/utils/BufferGeometryUtils.js",
    ),
}


class NpmFileFinder(BaseFinder):
    """Finds `vendor/<package>/<path>` for the files of NPM_FILES, in node_modules."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        root = Path(settings.BASE_DIR) / "node_modules"
        self.storages = {}
        for package in NPM_FILES:
            storage = FileSystemStorage(location=root / package)
            storage.prefix = f"vendor/{package}"  # type: ignore[attr-defined]  # collectstatic
            self.storages[package] = storage

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        return [
            Error(f"node_modules/{package}/{path} is missing: run `make install`.", id="npm.E001")
            for package, paths in NPM_FILES.items()
            for path in paths
            if not self.storages[package].exists(path)
        ]

    # (Typed as Django's own finders answer: a path, or [] for "not here" with find_all or
    # without, which django-stubs does not allow for.)
    def find(  # type: ignore[override]
        self, path: str, find_all: bool = False, **kwargs: Any
    ) -> str | list[str]:
        for package, paths in NPM_FILES.items():
            inside = path.removeprefix(f"vendor/{package}/")
            if inside != path and inside in paths and self.storages[package].exists(inside):
                found = self.storages[package].path(inside)
                return [found] if find_all else found
        return []

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for package, paths in NPM_FILES.items():
            for path in paths:
                yield path, self.storages[package]
