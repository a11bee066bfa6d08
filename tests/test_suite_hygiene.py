"""The suite itself: no test expires on a future day, no assertion is one that cannot fail.

A test that writes a literal date after today passes until that day, then fails for no
change of the code (the public lists leave out dates that are over). Tests whose point is
a fixed date run under ``@pytest.mark.clock`` (tests/conftest.py), on a day before it.
"""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

from calendrier.timeutil import utcnow

TESTS = Path(__file__).parent
ISO_DAY = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?=T|\b)")


def _has_clock_marker(decorators: list[ast.expr]) -> bool:
    return any("mark.clock" in ast.unparse(d) for d in decorators)


def _module_has_clock(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return "mark.clock" in ast.unparse(node.value)
    return False


def _literal_days(node: ast.AST):
    """(line, (year, month, day)) for every date written as a literal under ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):  # datetime(2030, 3, 8), paris(2030, 3, 8, 17), ...
            args = sub.args[:3]
            if len(args) == 3 and all(
                isinstance(a, ast.Constant) and type(a.value) is int for a in args
            ):
                year, month, day = (a.value for a in args)
                if year >= 1900 and 1 <= month <= 12 and 1 <= day <= 31:
                    yield sub.lineno, (year, month, day)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str | bytes):
            text = sub.value if isinstance(sub.value, str) else sub.value.decode("latin-1")
            for match in ISO_DAY.finditer(text):
                yield sub.lineno, tuple(int(g) for g in match.groups())


def future_literal_dates(source: str, today: date) -> list[tuple[int, str]]:
    """Literal dates after ``today`` outside the tests that run on a fixed clock."""
    tree = ast.parse(source)
    if _module_has_clock(tree):
        return []
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and _has_clock_marker(
            node.decorator_list
        ):
            allowed.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    limit = (today.year, today.month, today.day)
    return sorted(
        {
            (line, "-".join(f"{part:02d}" for part in day))
            for line, day in _literal_days(tree)
            if limit < day < (9000,) and line not in allowed  # 9999-12-31: "never", not a day
        }
    )


def test_the_checker_finds_literal_future_dates_and_respects_the_clock_marker():
    today = date(2026, 12, 1)
    source = (
        "import pytest\n"
        "def test_a():\n"
        "    x = datetime(2027, 3, 14, 15, tzinfo=UTC)\n"
        "    w = paris(2028, 2, 29, 10)\n"
        "    y = '2026-11-30T10:00'\n"  # already past: harmless
        "    z = b'DTSTART:20290101T100000Z'\n"
        "@pytest.mark.clock\n"
        "def test_b():\n"
        "    x = date(2030, 3, 8)\n"
    )
    assert future_literal_dates(source, today) == [
        (3, "2027-03-14"),
        (4, "2028-02-29"),
        (6, "2029-01-01"),
    ]
    assert future_literal_dates("pytestmark = pytest.mark.clock\nX = '2031-01-01'\n", today) == []


def test_no_test_writes_a_date_after_today_unless_it_runs_on_a_fixed_clock():
    today = utcnow().date()
    found = {
        str(path.relative_to(TESTS)): dates
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        and (dates := future_literal_dates(path.read_text(encoding="utf-8"), today))
    }
    assert found == {}, "dates that will expire: make them relative, or mark the test clock"


def test_no_assertion_ends_in_or_true():
    offenders = [
        f"{path.relative_to(TESTS)}:{node.lineno}"
        for path in sorted(TESTS.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
        and isinstance(node.test, ast.BoolOp)
        and isinstance(node.test.op, ast.Or)
        and any(isinstance(v, ast.Constant) and v.value for v in node.test.values)
    ]
    assert offenders == []
