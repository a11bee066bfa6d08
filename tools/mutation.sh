#!/usr/bin/env bash
# Mutation testing of the rules (by hand, not in CI: it takes about an hour on two cores).
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
    # narrow only_mutate to the module(s) named
    modules=$(printf '"calendrier/domain/%s.py", ' "$@")
    sed -i "s|^only_mutate = .*|only_mutate = [${modules%, }]|" pyproject.toml
fi
"$VENV/bin/mutmut" run --max-children 2 || true
"$VENV/bin/mutmut" results --all true > "$ROOT/mutation-results.txt" || true
echo "counts:"
awk -F': ' '{print $NF}' "$ROOT/mutation-results.txt" | sort | uniq -c
echo "survivors (in $ROOT/mutation-results.txt):"
grep -E ': (survived|no tests)$' "$ROOT/mutation-results.txt" || echo "  none"
