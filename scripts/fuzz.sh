#!/usr/bin/env bash
# Builds the libFuzzer target for the ProcessQueue frame decoders (fuzz/frame_fuzzer.cpp) with
# clang++-14, ASan and UBSan, and runs it for a bounded time (default 60 s; first argument).
# Any crash, leak, sanitizer report or allocation above 256 MiB fails the script; a reproducer
# is left in build/fuzz/ (crash-*, oom-*, leak-*). Needs clang-14 and libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
out=build/fuzz
mkdir -p "$out/corpus" "$out/seeds"
CXX="${CXX_FUZZ:-clang++-14}"

cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_CXX_FLAGS=-O1 \
  -DOSIISO_BUILD_FUZZER=ON -DOSIISO_BUILD_TESTS=OFF -DOSIISO_BUILD_EXAMPLES=OFF -DOSIISO_INSTALL=OFF >/dev/null
cmake --build "$out" --target osiiso_frame_fuzzer

# Seeds: one valid frame of each kind, behind the byte that picks the entry point.
python3 - "$out/seeds" <<'PY'
import struct, sys, os
d = sys.argv[1]
def frame(t, payload, attempt=1): return b'\xa5' + bytes([t]) + struct.pack('<QQ', attempt, len(payload)) + payload
def s(x): return struct.pack('<I', len(x)) + x
request = s(b'echo') + struct.pack('<i', 5)
error = bytes([2]) + s(b'') + s(b'bad argument')
seeds = {
  'decoder_value': b'\x00\x07' + frame(1, b'1234') + frame(3, struct.pack('<i', 42)),
  'decoder_error': b'\x00\x03' + frame(4, error) + frame(4, bytes([0]) + s(b'my::Error') + s(b'boom')),
  'worker_requests': b'\x01' + frame(2, request) + frame(2, s(b'nope')) + frame(2, request),
  'exception': b'\x02' + error,
  'request': b'\x03' + request,
}
for name, data in seeds.items():
  open(os.path.join(d, name), 'wb').write(data)
PY

log="$out/fuzz.log"
set +e
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$out/fuzz/osiiso_frame_fuzzer" "$out/corpus" "$out/seeds" \
  -max_total_time="$seconds" -malloc_limit_mb=256 -rss_limit_mb=1024 -max_len=8192 \
  -close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$out/" >"$log" 2>&1
status=$?
set -e
grep -E "^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
if [[ $status -ne 0 ]]; then
  tail -40 "$log"
  echo "fuzz.sh: the fuzzer failed (exit $status); see $log" >&2
  exit "$status"
fi
echo "fuzz.sh: no crash in ${seconds} s"
