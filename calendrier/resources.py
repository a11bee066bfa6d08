"""Where the app finds its files that are not Python code.

In a checkout (``pip install -e .``, ``make run``) ``templates/``, ``migrations/`` and
``node_modules/`` sit beside the package, where everyone edits them. A wheel
(``pip install .``) has no checkout beside it: ``setup.py`` copies them into the package
(``templates/``, ``migrations/``, ``vendor/``), with the translation catalogues compiled.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def resource_dir(shipped: str, in_checkout: str | None = None) -> Path:
    """The directory the wheel ships inside the package, or the checkout's own."""
    inside = PACKAGE / shipped
    return inside if inside.is_dir() else CHECKOUT / (in_checkout or shipped)
