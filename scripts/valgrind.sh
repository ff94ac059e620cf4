#!/usr/bin/env bash
# Runs a ProcessQueue smoke test under valgrind memcheck (the parent process; forked workers are
# silenced, spawned ones run natively) and fails on any memory error or definite/indirect leak.
# Uses the dev build (configured and built if needed). Usage: scripts/valgrind.sh [catch test spec]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

spec="${1:-[valgrind]}"
if [[ ! -x build/dev/tests/osiiso_tests ]]; then
  cmake --preset dev
  cmake --build --preset dev
fi
log=build/dev/valgrind.log
set +e
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
  --child-silent-after-fork=yes --trace-children=no --num-callers=30 \
  --log-file="$log" \
  build/dev/tests/osiiso_tests "$spec"
status=$?
set -e
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|All heap blocks were freed" "$log" | head -4
exit "$status"
