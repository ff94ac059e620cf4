#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints the benchmark table (Markdown) from a results directory written by bench/run.sh.

    report.py RESULTS_DIR

Reads every *.json (Google Benchmark output of osiiso_bench) and *.jsonl (one record per line
from bench/peers/pools.py), takes the median of each (workload, implementation, metric) over the
runs, and prints one table per workload with ratios, then the targets.
"""
import collections
import json
import pathlib
import statistics
import sys

# workload -> (title, primary metric, unit, higher is better, extra metrics)
WORKLOADS = {
    "startup": ("1. start-up: construct -> first trivial result (2 workers)", "ms", "ms", False, ["min_ms"]),
    "roundtrip": ("2. single-task round trip, 2,000 times", "median_us", "us", False, ["p99_us", "max_us"]),
    "roundtrip_after_burst": ("2b. round trip before and after a 20,000-task burst, 500 times each", "after_median_us",
                              "us", False, ["before_median_us", "after_p99_us", "after_max_us"]),
    "throughput": ("3. throughput: 20,000 trivial tasks one by one", "tasks_per_s", "tasks/s", True, []),
    "payload": ("4. 1 MiB argument, size returned, 200 times", "GB_per_s", "GB/s", True, ["median_us"]),
    "payload_64MiB_arg": ("4b. 64 MiB argument, size returned, 20 times", "ms", "ms", False, ["GB_per_s", "vs_memcpy"]),
    "payload_64MiB_result": ("4c. 64 MiB result, 20 times", "ms", "ms", False, ["GB_per_s", "vs_memcpy"]),
    "cpu_scaling": ("5. CPU scaling: 8 x ~0.25 s tasks, 1 vs 2 workers", "speedup", "x", True, ["t1_s", "t2_s"]),
    "scale": ("6. scale: 1,000,000 queued trivial tasks (200,000 for ProcessPoolExecutor; see tasks)", "bytes_per_task", "B/task", False,
              ["peak_bytes_per_task", "after_clear_MiB", "total_s", "submit_first_us", "submit_last_us", "tasks"]),
    "map_items": ("7. map of 1,000,000 trivial items with 2 workers, then run() (mp.Pool: best chunksize of "
                  "2,500 and 10,000; ProcessPoolExecutor: chunksize 2,500)", "items_per_s", "items/s", True,
                  ["main_cpu_us", "poller_cpu_us", "items_per_s_chunksize_2500", "items_per_s_chunksize_10000"]),
    "threads": ("ThreadQueue: 100,000 trivial tasks one by one (2 threads)", "tasks_per_s", "tasks/s", True, []),
    "mpi_roundtrip": ("MpiQueue 1. single-task round trip, 2,000 times (2 serving ranks x 1 worker; Dask 500)",
                      "median_us", "us", False, ["p99_us", "max_us"]),
    "mpi_throughput": ("MpiQueue 2. 20,000 trivial tasks one by one (Dask: 5,000)", "tasks_per_s", "tasks/s", True, []),
    "mpi_map": ("MpiQueue 3. map of 100,000 trivial items (Dask: 10,000)", "items_per_s", "items/s", True, []),
    "pipe": ("Physical limit: pipe ping-pong between two pinned processes; fork/exec", None, "", False, []),
}

REFERENCE = {"threads": "osiiso ThreadQueue", "map_items": "osiiso auto", "mpi_roundtrip": "osiiso local",
             "mpi_throughput": "osiiso local", "mpi_map": "osiiso local"}

# (label, workload, impl, metric, comparison, bound)
TARGETS = [
    ("round trip median <= 60 us (fork)", "roundtrip", "osiiso fork", "median_us", "<=", 60),
    ("round trip median <= 60 us (spawn)", "roundtrip", "osiiso spawn", "median_us", "<=", 60),
    ("round trip after a burst <= 1.5x its idle median (fork)", "roundtrip_after_burst", "osiiso fork",
     "after_ratio", "<=", 1.5),
    (">= 40,000 trivial tasks/s one by one (fork)", "throughput", "osiiso fork", "tasks_per_s", ">=", 40000),
    ("start-up to first result <= 1 ms (fork)", "startup", "osiiso fork", "ms", "<=", 1.0),
    ("start-up to first result <= 3 ms (spawn)", "startup", "osiiso spawn", "ms", "<=", 3.0),
    ("1 MiB argument >= 4 GB/s (fork)", "payload", "osiiso fork", "GB_per_s", ">=", 4.0),
    ("64 MiB argument within 8x one memcpy of 64 MiB into fresh memory (fork)", "payload_64MiB_arg", "osiiso fork",
     "vs_memcpy", "<=", 8.0),
    ("64 MiB result within 8x one memcpy of 64 MiB into fresh memory (fork)", "payload_64MiB_result", "osiiso fork",
     "vs_memcpy", "<=", 8.0),
    ("CPU scaling >= 1.9x from 1 to 2 workers (fork)", "cpu_scaling", "osiiso fork", "speedup", ">=", 1.9),
    ("<= 512 B parent memory per queued task", "scale", "osiiso fork", "bytes_per_task", "<=", 512),
    ("RSS after handles and results are gone <= 64 MiB above the start", "scale", "osiiso fork", "after_clear_MiB",
     "<=", 64),
    ("ThreadQueue <= 2x the cost of a bare std::thread pool", "threads", "osiiso ThreadQueue", "vs_bare", "<=", 2.0),
    ("map of 1,000,000 items >= mp.Pool.map best chunksize", "map_items", "osiiso auto", "vs_pool_map", ">=", 1.0),
    ("submit O(log n): last-10% / first-10% submit cost <= 2", "scale", "osiiso fork", "submit_ratio", "<=", 2.0),
    ("MPI round trip <= 2x the local ProcessQueue's", "mpi_roundtrip", "osiiso mpi", "vs_local", "<=", 2.0),
    ("MPI throughput >= 5x MPIPoolExecutor's", "mpi_throughput", "osiiso mpi", "vs_mpi4py", ">=", 5.0),
    ("MPI throughput >= 10x Dask's", "mpi_throughput", "osiiso mpi", "vs_dask", ">=", 10.0),
    ("MPI map of 100,000 items >= the local ProcessQueue's rate", "mpi_map", "osiiso mpi", "vs_local", ">=", 1.0),
]

# MpiQueue ratios: (workload, metric, peer, name of the ratio osiiso mpi / peer).
MPI_RATIOS = [
    ("mpi_roundtrip", "median_us", "osiiso local", "vs_local"),
    ("mpi_throughput", "tasks_per_s", "mpi4py MPIPoolExecutor", "vs_mpi4py"),
    ("mpi_throughput", "tasks_per_s", "Dask LocalCluster", "vs_dask"),
    ("mpi_map", "items_per_s", "osiiso local", "vs_local"),
]

# Other ratios: (workload, metric, implementation, peer, name of the ratio implementation / peer).
RATIOS = [("map_items", "items_per_s", "osiiso auto", "mp.Pool", "vs_pool_map")]


def load(directory):
    values = collections.defaultdict(list)
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        for b in data.get("benchmarks", []):
            name = b["name"].split("/iterations")[0]
            workload, _, impl = name.partition("/")
            impl = impl if workload in ("pipe",) else ("osiiso " + impl)
            skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
                    "real_time", "cpu_time", "time_unit", "family_index", "per_family_instance_index"}
            for metric, value in b.items():
                if metric not in skip and isinstance(value, (int, float)):
                    values[(workload, impl, metric)].append(float(value))
    for path in sorted(pathlib.Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                values[(r["workload"], r["impl"], r["metric"])].append(float(r["value"]))
    med = {k: statistics.median(v) for k, v in values.items()}
    runs = {k: len(v) for k, v in values.items()}
    for (w, i, m), v in list(med.items()):
        if w == "roundtrip_after_burst" and m == "after_median_us" and (w, i, "before_median_us") in med:
            med[(w, i, "after_ratio")] = v / med[(w, i, "before_median_us")]
        if w == "scale" and m == "submit_last_us" and (w, i, "submit_first_us") in med:
            med[(w, i, "submit_ratio")] = v / med[(w, i, "submit_first_us")]
    bare = med.get(("threads", "osiiso std_thread_mutex", "tasks_per_s"))
    if bare and med.get(("threads", "osiiso ThreadQueue", "tasks_per_s")):
        med[("threads", "osiiso ThreadQueue", "vs_bare")] = bare / med[("threads", "osiiso ThreadQueue", "tasks_per_s")]
    # The 64 MiB rows against the memcpy baseline (bench_pipe_limit.cpp), for every implementation.
    memcpy_ms = med.get(("pipe", "memcpy_64MiB_fresh", "ms"))
    for (w, i, m), v in list(med.items()):
        if w in ("payload_64MiB_arg", "payload_64MiB_result") and m == "ms" and memcpy_ms:
            med[(w, i, "vs_memcpy")] = v / memcpy_ms
    for w, m, peer, name in MPI_RATIOS:
        if (w, "osiiso mpi", m) in med and med.get((w, peer, m)):
            med[(w, "osiiso mpi", name)] = med[(w, "osiiso mpi", m)] / med[(w, peer, m)]
    for w, m, impl, peer, name in RATIOS:
        if (w, impl, m) in med and med.get((w, peer, m)):
            med[(w, impl, name)] = med[(w, impl, m)] / med[(w, peer, m)]
    return med, runs


def fmt(v):
    if v >= 10000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def main():
    med, runs = load(sys.argv[1])
    impls = collections.defaultdict(list)
    for (w, i, m) in med:
        if i not in impls[w]:
            impls[w].append(i)
    order = lambda i: (not i.startswith("osiiso"), i)  # noqa: E731
    for workload, (title, primary, unit, higher, extra) in WORKLOADS.items():
        if workload not in impls:
            continue
        print(f"### {title}\n")
        if primary is None:  # the pipe/fork limits: one row per measurement
            print("| measurement | value | runs |\n|---|---|---|")
            for impl in sorted(impls[workload]):
                for metric in ("median_us", "p99_us", "GB_per_s", "ms"):
                    if (workload, impl, metric) in med:
                        print(f"| {impl} {metric} | {fmt(med[(workload, impl, metric)])} | "
                              f"{runs[(workload, impl, metric)]} |")
            print()
            continue
        ref_name = REFERENCE.get(workload, "osiiso fork")
        ref = med.get((workload, ref_name, primary))
        better = "higher" if higher else "lower"
        header = f"| implementation | {primary} ({unit}, {better} is better) | " + " | ".join(extra) + \
            f" | vs {ref_name} | runs |"
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        for impl in sorted(impls[workload], key=order):
            v = med.get((workload, impl, primary))
            if v is None:
                continue
            cells = [fmt(med[(workload, impl, m)]) if (workload, impl, m) in med else "" for m in extra]
            ratio = ""
            if ref and v:
                r = (ref / v) if higher else (v / ref)  # how many times worse than the reference
                ratio = "1.00x" if impl == ref_name else f"{r:.2f}x slower" if r >= 1 else f"{1 / r:.2f}x faster"
            print(f"| {impl} | {fmt(v)} | " + " | ".join(cells) + f" | {ratio} | {runs[(workload, impl, primary)]} |")
        print()
    print("### Targets\n")
    print("| target | measured | met |\n|---|---|---|")
    for label, w, i, m, cmp, bound in TARGETS:
        v = med.get((w, i, m))
        if v is None:
            print(f"| {label} | not measured | - |")
            continue
        ok = v <= bound if cmp == "<=" else v >= bound
        print(f"| {label} | {fmt(v)} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
