#!/usr/bin/env bash
# Installs the dependencies, builds everything with the dev preset and runs the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake --preset dev
cmake --build --preset dev
ctest --preset dev
