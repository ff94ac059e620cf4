#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the benchmarks (Release), runs osiiso and its Python peers interleaved, and prints the
# table (medians over the rounds). Usage: bench/run.sh [results-dir]
#   BENCH_ROUNDS   rounds of every workload but the 1M-task scale test (default 3)
#   BENCH_SCALE_N  tasks of the scale test, run once per implementation (default 1000000)
#   BENCH_SCALE_N_PPE  the same for ProcessPoolExecutor (default 200000: at its ~5k tasks/s on
#                  this machine a million would take over three minutes alone)
#   BENCH_NO_BUILD=1 reuse build/bench as it is
#   BENCH_MPI=0    skip the MpiQueue rows (they run under mpirun -np 3 with mpi4py and Dask beside
#                  them; this script installs python3-mpi4py and python3-distributed when missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="$root/build/bench"
rounds="${BENCH_ROUNDS:-3}"
scale_n="${BENCH_SCALE_N:-1000000}"
scale_n_ppe="${BENCH_SCALE_N_PPE:-200000}"
out="${1:-$build/results-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOSIISO_BUILD_BENCH=ON \
    -DOSIISO_BUILD_TESTS=OFF -DOSIISO_BUILD_EXAMPLES=OFF -DOSIISO_INSTALL=OFF >/dev/null
  targets=(osiiso_bench)
  grep -q '^OSIISO_HAS_MPI:INTERNAL=ON' "$build/CMakeCache.txt" 2>/dev/null && targets+=(osiiso_mpi_bench)
  cmake --build "$build" --target "${targets[@]}" >&2
fi
bench="$build/bench/osiiso_bench"
peers=(python3 "$here/peers/pools.py")

osiiso() {  # osiiso() NAME FILTER
  "$bench" --benchmark_filter="$2" --benchmark_out="$out/$1.json" --benchmark_out_format=json \
    --benchmark_format=console >&2
}

for round in $(seq 1 "$rounds"); do
  echo "== round $round/$rounds" >&2
  osiiso "pipe-$round" '^pipe/'
  for w in startup roundtrip roundtrip_after_burst throughput payload payload_64MiB_arg payload_64MiB_result cpu_scaling; do
    echo "-- $w" >&2
    osiiso "$w-$round" "^$w/"
    [[ $w == roundtrip_after_burst ]] && continue  # osiiso only: a regression guard, no peer row
    for impl in ppe pool; do "${peers[@]}" "$impl" "$w" >>"$out/peers-$round.jsonl"; done
    if [[ $w == startup ]]; then
      for impl in ppe pool; do "${peers[@]}" "$impl" "$w" --context spawn >>"$out/peers-$round.jsonl"; done
    fi
  done
  echo "-- map_items" >&2
  osiiso "map_items-$round" '^map_items/'
  for impl in ppe pool; do "${peers[@]}" "$impl" map_items >>"$out/peers-$round.jsonl"; done
  osiiso "threads-$round" '^threads/'
  "${peers[@]}" tpe threads >>"$out/peers-$round.jsonl"
done

# MpiQueue beside a local ProcessQueue (both in osiiso_mpi_bench), mpi4py.futures and Dask, under
# mpirun -np 3: rank 0 drives, 2 ranks serve. Debian's python3 is the one with Debian's mpi4py.
mpi_bench="$build/bench/osiiso_mpi_bench"
if [[ "${BENCH_MPI:-1}" == 1 && -x "$mpi_bench" ]]; then
  missing=()
  for pkg in python3-mpi4py python3-distributed; do
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -q '^installed$' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "== installing ${missing[*]} (the MPI peers)" >&2
    sudo=(); ((EUID == 0)) || sudo=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
      { "${sudo[@]}" apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
  fi
  mpirun=(mpiexec --allow-run-as-root --oversubscribe --bind-to none -np 3)
  for round in $(seq 1 "$rounds"); do
    echo "== MPI round $round/$rounds" >&2
    "${mpirun[@]}" "$mpi_bench" --benchmark_out="$out/mpi-$round.json" --benchmark_out_format=json \
      --benchmark_format=console >&2
    for w in mpi_roundtrip mpi_throughput mpi_map; do
      "${mpirun[@]}" /usr/bin/python3 -m mpi4py.futures "$here/peers/mpi_peers.py" mpi4py "$w" \
        >>"$out/peers-mpi-$round.jsonl"
      /usr/bin/python3 "$here/peers/mpi_peers.py" dask "$w" 2>/dev/null >>"$out/peers-mpi-$round.jsonl"
    done
  done
fi

echo "== scale: $scale_n tasks, once per implementation" >&2
OSIISO_BENCH_SCALE_N="$scale_n" osiiso scale '^scale/'
"${peers[@]}" pool scale --scale-n "$scale_n" >>"$out/peers-scale.jsonl"
"${peers[@]}" ppe scale --scale-n "$scale_n_ppe" >>"$out/peers-scale.jsonl"

echo "results in $out" >&2
python3 "$here/report.py" "$out"
