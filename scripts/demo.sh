#!/usr/bin/env bash
# Installs the dependencies, builds the demo example with the release preset and runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target demo
./build/release/examples/demo
