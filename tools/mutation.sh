#!/usr/bin/env bash
# Mutation testing of the rules (by hand, not in CI: one module takes about an hour on two cores).
#
#   bash tools/mutation.sh            # bookings.py, outbox.py and privacy.py
#   bash tools/mutation.sh privacy    # one of them
#
# Runs mutmut (configured under [tool.mutmut] in pyproject.toml) in a copy of the working
# tree, so that its mutants/ folder never lands in the checkout, and prints the counts
# (killed, survived, timeout...) and the surviving mutants, each to be killed by a test or
# explained in the closing note.
#
#   MUTATION_WORK=/tmp/mut bash tools/mutation.sh privacy   # keep the copy in /tmp/mut
#   MUTATION_CHILDREN=1 bash tools/mutation.sh outbox        # one test run at a time (default 2)
#
# With MUTATION_WORK the copy is made (or refreshed: sources and tests copied over it,
# mutmut's mutants/ and its stats kept) in that directory and left there, so that the
# survivors can be shown and re-run by name after a test is added:
#
#   cp tests/test_privacy_mutants.py /tmp/mut/tests/ && cd /tmp/mut
#   /path/to/checkout/.venv/bin/mutmut show calendrier.domain.privacy.x_erase__mutmut_12
#   /path/to/checkout/.venv/bin/mutmut run calendrier.domain.privacy.x_erase__mutmut_12 ...
#   /path/to/checkout/.venv/bin/mutmut results
#
# Without it a temporary directory is used and deleted on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# one file per run: mutation-results.txt, or mutation-results-outbox.txt for `outbox`
RESULTS="$ROOT/mutation-results${1:+-$(IFS=-; echo "$*")}.txt"
VENV="$ROOT/.venv"
"$VENV/bin/python" -m pip install -q 'mutmut>=3.8'

if [ -n "${MUTATION_WORK:-}" ]; then
    WORK=$MUTATION_WORK
    mkdir -p "$WORK"
    echo "workspace kept in $WORK"
else
    WORK=$(mktemp -d /tmp/calendrier-mutation.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
git ls-files -z | xargs -0 cp --parents -t "$WORK"
cp -r node_modules "$WORK/" 2>/dev/null || true
find calendrier -name '*.mo' -exec cp --parents -t "$WORK" {} +
cd "$WORK"
if [ $# -gt 0 ]; then
    # narrow only_mutate to the module(s) named, and the tests to theirs (each module's
    # own list below: a survivor runs every selected test that reaches its function, so a
    # shorter list is what makes one module's run fit in an hour)
    "$VENV/bin/python" - "$@" <<'PY'
import pathlib
import re
import sys

TESTS = {
    "bookings": [
        "booking_rules", "booking_lifecycle", "rules_guarded", "concurrency",
        "waitlist_concurrency", "attendee_page", "seat_counter", "seat_limits",
        "questions", "emails", "reminders", "mail_waiting", "groups", "security_review",
        "organiser_rules_pinned", "public_rules_pinned", "accessibility",
        "wheelchair_concurrency",
    ],
    "outbox": [
        "outbox_intents", "delivery", "mail", "emails", "mail_waiting", "reminders",
        "feedback", "newsletter", "booking_rules", "faults", "mail_operations",
        "mail_submission",
    ],
    # privacy.py is also reached by these six: without them, their kills count as survivals
    "privacy": [
        "privacy", "privacy_mutants", "security_review", "feedback", "newsletter",
        "questions", "seat_counter", "rules_guarded",
    ],
}
modules = sys.argv[1:]
unknown = [m for m in modules if m not in TESTS]
if unknown:
    sys.exit(f"no such module: {', '.join(unknown)} (one of {', '.join(TESTS)})")
tests = sorted({f"tests/test_{name}.py" for m in modules for name in TESTS[m]})
path = pathlib.Path("pyproject.toml")
text = path.read_text()
text = re.sub(
    r"^only_mutate = .*$",
    "only_mutate = [" + ", ".join(f'"calendrier/domain/{m}.py"' for m in modules) + "]",
    text, flags=re.M,
)
text = re.sub(
    r"^pytest_add_cli_args_test_selection = \[.*?^\]",
    "pytest_add_cli_args_test_selection = [" + ", ".join(f'"{t}"' for t in tests) + "]",
    text, flags=re.M | re.S,
)
path.write_text(text)
PY
fi
"$VENV/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-2}" || true
"$VENV/bin/mutmut" results --all true > "$RESULTS" || true
echo "counts:"
awk -F': ' '{print $NF}' "$RESULTS" | sort | uniq -c
echo "survivors (in $RESULTS):"
grep -E ': (survived|no tests)$' "$RESULTS" || echo "  none"
