"""Run again, each in a process of its own, the mutants mutmut left alive (by hand).

mutmut runs each mutant's tests in a process forked from one that has run the whole
selection, under a CPU-time limit of a few times the tests' measured cost. Tests that
wait on a condition (a background sender's file, a worker's process) then come out
"survived" or "timeout" from one run to the next. Here each survivor's tests (the ones
mutmut's stats say reach its function) run in a fresh ``pytest -x`` with the mutant
switched on, without a CPU limit, and the verdict is appended to a file as it comes, so
an interrupted recheck goes on where it stopped:

    .venv/bin/python tools/mutants_recheck.py /tmp/mut-o            # every survivor
    .venv/bin/python tools/mutants_recheck.py /tmp/mut-o 'x_deliver__*' --jobs 1

``/tmp/mut-o``: a workspace kept by ``MUTATION_WORK=/tmp/mut-o bash tools/mutation.sh``.
Verdicts go to ``<workspace>/recheck.txt`` (``name: killed`` or ``name: survived``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
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


def verdict(workspace: Path, name: str, tests: list[str], limit: float) -> str:
    env = {**os.environ, "MUTANT_UNDER_TEST": name}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", *tests]
    try:
        done = subprocess.run(
            command, cwd=workspace / "mutants", env=env, capture_output=True, timeout=limit
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return {0: "survived", 1: "killed"}.get(done.returncode, f"error {done.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("patterns", nargs="*", help="mutant names (globs), default every survivor")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=float, default=900, help="seconds per mutant")
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    stats = json.loads((workspace / "mutants" / "mutmut-stats.json").read_text())
    tests_of = stats["tests_by_mangled_function_name"]
    out = workspace / "recheck.txt"
    done = {}
    if out.exists():
        done = dict(line.rsplit(": ", 1) for line in out.read_text().splitlines() if line)
    wanted = args.patterns or ["*"]
    names = [
        n
        for n in survivors(workspace)
        if n not in done and any(fnmatch.fnmatch(n, p) for p in wanted)
    ]
    print(f"{len(names)} to run again ({len(done)} already in {out})", flush=True)

    def one(name: str) -> None:
        tests = sorted(tests_of.get(name.rsplit("__mutmut_", 1)[0], []))
        started = time.monotonic()
        result = verdict(workspace, name, tests, args.limit) if tests else "no tests"
        with out.open("a") as file:
            file.write(f"{name}: {result}\n")
        print(f"{result:9} {time.monotonic() - started:6.1f} s  {name}", flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, names))
    verdicts = dict(line.rsplit(": ", 1) for line in out.read_text().splitlines() if line)
    counts: dict[str, int] = {}
    for result in verdicts.values():
        counts[result] = counts.get(result, 0) + 1
    print("rechecked:", ", ".join(f"{n} {r}" for r, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
