"""What a wheel ships besides the package's Python files (the rest is in pyproject.toml).

Installed from a wheel (``pip install .``, not editable), calendrier has no checkout beside
it, so the build puts inside the package what the app would otherwise find there
(``calendrier/resources.py`` looks in both places):

- every translation catalogue compiled (``.mo``, from the ``.po`` files, with Babel, a build
  requirement): an installed site is in French without running ``pybabel compile``;
- ``templates/`` and ``migrations/`` (``flask db upgrade`` works from the installed copy);
- the fonts and CSS reset the pages use, from ``node_modules/`` (run ``npm ci`` first).

An editable install (``pip install -e .``) uses the checkout itself: nothing is copied,
``make translations`` compiles the catalogues in place.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "calendrier"
# What /vendor/ serves (calendrier/public/views.py, VENDOR_FILES), from node_modules/.
VENDOR = (
    "modern-normalize/modern-normalize.css",
    "@fontsource/atkinson-hyperlegible/files/atkinson-hyperlegible-latin-[0-9]*.woff2",
)


def compile_catalogues(package: Path) -> None:
    """Each ``.po`` as ``pybabel compile`` would write it (fuzzy entries left out)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted(SOURCE.glob("**/translations/*/LC_MESSAGES/*.po")):
        with po.open("rb") as file:
            catalog = read_po(file, locale=po.parent.parent.name)
        target = package / po.relative_to(SOURCE).with_suffix(".mo")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as file:
            write_mo(file, catalog, use_fuzzy=False)


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(
        source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )


def copy_vendor(target: Path) -> None:
    modules = ROOT / "node_modules"
    found = [path for pattern in VENDOR for path in sorted(modules.glob(pattern))]
    if not found:
        print("calendrier: node_modules/ is empty (run `npm ci`): no fonts", file=sys.stderr)
    for path in found:
        destination = target / path.relative_to(modules)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "calendrier"
        compile_catalogues(package)
        copy_tree(ROOT / "templates", package / "templates")
        copy_tree(ROOT / "migrations", package / "migrations")
        copy_vendor(package / "vendor")


setup(cmdclass={"build_py": BuildWithResources})
