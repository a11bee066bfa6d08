"""Check again, against today's code and tests, the mutants a mutmut run left alive (by hand).

mutmut runs each mutant's tests in a process forked from one that ran the whole selection,
under a CPU-time limit of a few times the tests' measured cost: tests that wait on a
condition (the development sender's file, a worker process) come out "survived" or
"timeout" from one run to the next. And once tests are added for its survivors, a run of
an hour is the wrong way to see which they kill.

Here each survivor of a kept workspace (``MUTATION_WORK=/tmp/mut-o bash tools/mutation.sh
outbox``) is written into a scratch copy of this checkout, as mutmut shows it (its hunk
found in the same function of today's file), and the tests that reach its function
(mutmut's stats) plus ``--also`` files run in a fresh ``pytest -x``, without a CPU limit.
A mutant whose lines are no longer in the function is "gone" (the code changed). Verdicts
are appended to ``<workspace>/recheck.txt`` as they come, so an interrupted check goes on
where it stopped:

    .venv/bin/python tools/mutants_recheck.py /tmp/mut-o --also tests/test_mail_operations.py
    .venv/bin/python tools/mutants_recheck.py /tmp/mut-o 'x__release__*' --jobs 1
    .venv/bin/python tools/mutants_recheck.py /tmp/mut-o --only-also --also tests/test_new.py

``--only-also`` runs the ``--also`` files alone: which survivors do the new tests kill (a
survivor they leave keeps mutmut's verdict). Its verdicts go to ``recheck-also.txt``.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"


def survivors(workspace: Path) -> list[str]:
    listed = subprocess.run(
        [str(MUTMUT), "results"], cwd=workspace, capture_output=True, text=True, check=True
    ).stdout
    names = []
    for line in listed.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if status in ("survived", "timeout"):
            names.append(name)
    return names


def hunks(workspace: Path, name: str) -> tuple[str, list[tuple[str, str]]]:
    """The mutated file and each hunk's (before, after) text, as ``mutmut show`` has them."""
    shown = subprocess.run(
        [str(MUTMUT), "show", name], cwd=workspace, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    path = next(line[4:].strip() for line in shown if line.startswith("+++ "))
    found: list[tuple[list[str], list[str]]] = []
    for line in shown:
        if line.startswith("@@"):
            found.append(([], []))
        elif found and not line.startswith(("+++", "---")):
            mark, text = line[:1], line[1:]
            if mark in (" ", "-"):
                found[-1][0].append(text)
            if mark in (" ", "+"):
                found[-1][1].append(text)
    return path, [("\n".join(b) + "\n", "\n".join(a) + "\n") for b, a in found]


def function_span(source: str, mangled: str) -> tuple[int, int] | None:
    """Lines (from, to) of ``x_name`` or ``xǁClassǁname`` in ``source``, or None."""
    short = mangled.rsplit(".", 1)[-1]
    if short.startswith("xǁ"):
        owner, function = short[2:].split("ǁ")
    else:
        owner, function = None, short[2:]
    for node in ast.walk(ast.parse(source)):
        at_top = owner is None and isinstance(node, ast.Module)
        in_class = isinstance(node, ast.ClassDef) and node.name == owner
        for item in node.body if at_top or in_class else []:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == function:
                return item.lineno, item.end_lineno
    return None


def mutated(source: str, name: str, changes: list[tuple[str, str]]) -> str | None:
    """``source`` with the mutant's hunks in its function; None if they are not there."""
    span = function_span(source, name.rsplit("__mutmut_", 1)[0])
    if span is None:
        return None
    lines = source.splitlines(keepends=True)
    first, last = span[0] - 1, span[1]
    original = "".join(lines[first:last])
    indent = original[: len(original) - len(original.lstrip())]
    body = textwrap.dedent(original)
    for before, after in changes:
        if body.count(before) != 1 and before.startswith("\n") and after.startswith("\n"):
            before, after = before[1:], after[1:]  # the blank line above the function
        if body.count(before) != 1:
            return None
        body = body.replace(before, after)
    return "".join(lines[:first]) + textwrap.indent(body, indent) + "".join(lines[last:])


def scratch_tree() -> Path:
    """A copy of this checkout's files (and its compiled catalogues and front-end packages)."""
    tree = Path(tempfile.mkdtemp(prefix="calendrier-recheck."))
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        target = tree / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / os.fsdecode(name), target)
    for compiled in (ROOT / "calendrier").rglob("*.mo"):
        shutil.copy2(compiled, tree / compiled.relative_to(ROOT))
    if (ROOT / "node_modules").exists():
        (tree / "node_modules").symlink_to(ROOT / "node_modules")
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("patterns", nargs="*", help="mutant names (globs), default every survivor")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=float, default=900, help="seconds per mutant")
    parser.add_argument("--also", action="append", default=[], help="a test file to add")
    parser.add_argument(
        "--only-also", action="store_true", help="run the --also files only (do they kill it?)"
    )
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    stats = json.loads((workspace / "mutants" / "mutmut-stats.json").read_text())
    tests_of = stats["tests_by_mangled_function_name"]
    out = workspace / ("recheck-also.txt" if args.only_also else "recheck.txt")
    done = {}
    if out.exists():
        done = dict(line.rsplit(": ", 1) for line in out.read_text().splitlines() if line)
    wanted = args.patterns or ["*"]
    names = [
        n
        for n in survivors(workspace)
        if n not in done and any(fnmatch.fnmatch(n, f"*{p}") for p in wanted)
    ]
    print(f"{len(names)} to check ({len(done)} already in {out})", flush=True)
    trees = [scratch_tree() for _ in range(args.jobs)]
    free = list(trees)
    lock = threading.Lock()

    def one(name: str) -> None:
        with lock:
            tree = free.pop()
        started = time.monotonic()
        try:
            result = check(tree, name)
        finally:
            with lock:
                free.append(tree)
        with lock, out.open("a") as file:
            file.write(f"{name}: {result}\n")
        print(f"{result:9} {time.monotonic() - started:6.1f} s  {name}", flush=True)

    def check(tree: Path, name: str) -> str:
        path, changes = hunks(workspace, name)
        target = tree / path
        source = target.read_text()
        changed = mutated(source, name, changes)
        if changed is None:
            return "gone"
        reaching = (
            [] if args.only_also else sorted(tests_of.get(name.rsplit("__mutmut_", 1)[0], []))
        )
        tests = reaching + args.also
        if not tests:
            return "no tests"
        target.write_text(changed)
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", *tests]
        try:
            done = subprocess.run(command, cwd=tree, capture_output=True, timeout=args.limit)
        except subprocess.TimeoutExpired:
            return "timeout"
        finally:
            target.write_text(source)
        return {0: "survived", 1: "killed"}.get(done.returncode, f"error {done.returncode}")

    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, names))
    finally:
        for tree in trees:
            shutil.rmtree(tree, ignore_errors=True)
    verdicts = dict(line.rsplit(": ", 1) for line in out.read_text().splitlines() if line)
    counts: dict[str, int] = {}
    for result in verdicts.values():
        counts[result] = counts.get(result, 0) + 1
    print("checked:", ", ".join(f"{n} {r}" for r, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
