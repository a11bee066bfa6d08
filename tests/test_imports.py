"""Imports flow one way: a rule two domain modules need lives in the lower one.

A function-level import of a sibling module is the sign of a circle dodged at run time
(``notifications`` once imported ``bookings`` inside a function because ``bookings``
imported it); this keeps the domain free of them.
"""

import ast
import importlib
from pathlib import Path

import calendrier

DOMAIN = Path(calendrier.__file__).parent / "domain"


def function_level_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.level > 0:
                    found.append(f"{path.name}:{inner.lineno} {ast.unparse(inner)}")
    return found


def test_no_domain_module_imports_a_sibling_inside_a_function():
    found = [hit for path in sorted(DOMAIN.glob("*.py")) for hit in function_level_imports(path)]
    assert found == []


def test_the_shared_deadline_rule_lives_below_both_its_users():
    from calendrier.domain import bookings, deadlines, notifications

    assert bookings.cancellation_deadline is deadlines.cancellation_deadline
    assert notifications.cancellation_deadline is deadlines.cancellation_deadline
    source = (DOMAIN / "deadlines.py").read_text()
    assert "from .bookings" not in source and "from .notifications" not in source
    for name in ("bookings", "notifications", "reminders"):
        importlib.import_module(f"calendrier.domain.{name}")
