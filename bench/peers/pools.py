#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python standard-library peers of the osiiso benchmarks.

    pools.py IMPL WORKLOAD [--context fork|spawn] [--scale-n N]

IMPL is ppe (concurrent.futures.ProcessPoolExecutor), pool (multiprocessing.Pool) or tpe
(concurrent.futures.ThreadPoolExecutor, for the 'threads' workload). Prints one JSON object per
line: {"workload", "impl", "metric", "value"}, the same records bench/report.py reads from the
osiiso Google Benchmark output.
"""
import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import statistics
import time


def noop(x):
    return x


def payload_size(data):
    return len(data)


def burn(iterations):
    x = 88172645463325252
    mask = (1 << 64) - 1
    for _ in range(iterations):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
    return x


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def quantile(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


class Peer:
    """A uniform face over the two process pools (and the thread pool)."""

    def __init__(self, impl, workers, context):
        self.impl = impl
        if impl == "ppe":
            self.pool = cf.ProcessPoolExecutor(workers, mp_context=mp.get_context(context))
        elif impl == "pool":
            self.pool = mp.get_context(context).Pool(workers)
        else:
            self.pool = cf.ThreadPoolExecutor(workers)

    def submit(self, fn, *args):
        if self.impl == "pool":
            return self.pool.apply_async(fn, args)
        return self.pool.submit(fn, *args)

    @staticmethod
    def value(handle):
        return handle.get() if hasattr(handle, "get") else handle.result()

    def warm_up(self, calls=200):
        """Round trips before measuring, as the osiiso benchmarks do."""
        for i in range(calls):
            self.value(self.submit(noop, i))

    def close(self):
        if self.impl == "pool":
            self.pool.close()
            self.pool.join()
        else:
            self.pool.shutdown(wait=True)


def startup(impl, context):
    samples = []
    for _ in range(15):
        start = time.perf_counter()
        p = Peer(impl, 2, context)
        p.value(p.submit(noop, 1))
        samples.append((time.perf_counter() - start) * 1e3)
        p.close()
    return {"ms": statistics.median(samples), "min_ms": min(samples)}


def roundtrip(impl, context):
    p = Peer(impl, 2, context)
    p.warm_up()
    samples = []
    for i in range(2000):
        start = time.perf_counter()
        p.value(p.submit(noop, i))
        samples.append((time.perf_counter() - start) * 1e6)
    p.close()
    return {"median_us": statistics.median(samples), "p99_us": quantile(samples, 0.99), "max_us": max(samples)}


def throughput(impl, context, tasks=20000):
    p = Peer(impl, 2, context)
    p.warm_up()
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        handles = [p.submit(noop, i) for i in range(tasks)]
        for h in handles:
            p.value(h)
        rates.append(tasks / (time.perf_counter() - start))
    p.close()
    return {"tasks_per_s": statistics.median(rates)}


def payload(impl, context, calls=200):
    data = b"x" * (1 << 20)
    p = Peer(impl, 2, context)
    for _ in range(10):
        p.value(p.submit(payload_size, data))
    samples = []
    start = time.perf_counter()
    for _ in range(calls):
        one = time.perf_counter()
        assert p.value(p.submit(payload_size, data)) == len(data)
        samples.append((time.perf_counter() - one) * 1e6)
    total = time.perf_counter() - start
    p.close()
    return {"median_us": statistics.median(samples), "GB_per_s": calls * len(data) / total / 1e9}


def payload_of(size):
    return b"y" * size


def large_calls(p, fn, argument, check, calls):
    for _ in range(3):
        p.value(p.submit(fn, argument))
    samples = []
    for _ in range(calls):
        one = time.perf_counter()
        assert check(p.value(p.submit(fn, argument)))
        samples.append((time.perf_counter() - one) * 1e3)
    p.close()
    ms = statistics.median(samples)
    return {"ms": ms, "GB_per_s": (64 << 20) / (ms / 1e3) / 1e9}


def payload_64MiB_arg(impl, context, calls=20):
    data = b"x" * (64 << 20)
    return large_calls(Peer(impl, 2, context), payload_size, data, lambda n: n == len(data), calls)


def payload_64MiB_result(impl, context, calls=20):
    return large_calls(Peer(impl, 2, context), payload_of, 64 << 20, lambda r: len(r) == 64 << 20, calls)


def cpu_scaling(impl, context, tasks=8):
    iterations = 10000
    while True:
        start = time.perf_counter()
        burn(iterations)
        took = time.perf_counter() - start
        if took > 0.05:
            iterations = int(iterations * 0.25 / took)
            break
        iterations *= 4
    times = {}
    for workers in (1, 2):
        p = Peer(impl, workers, context)
        p.value(p.submit(noop, 1))
        start = time.perf_counter()
        handles = [p.submit(burn, iterations) for _ in range(tasks)]
        for h in handles:
            p.value(h)
        times[workers] = time.perf_counter() - start
        p.close()
    return {"t1_s": times[1], "t2_s": times[2], "speedup": times[1] / times[2]}


def scale(impl, context, tasks):
    p = Peer(impl, 2, context)
    p.value(p.submit(noop, 1))
    before = resident_bytes()
    start = time.perf_counter()
    tenth = tasks // 10
    handles = []
    first = last_start = 0.0
    for i in range(tasks):
        if i == tenth:
            first = time.perf_counter() - start
        if i == tasks - tenth:
            last_start = time.perf_counter() - start
        handles.append(p.submit(noop, i))
    submitted = time.perf_counter() - start
    after = resident_bytes()
    for h in handles:
        p.value(h)
    total = time.perf_counter() - start
    p.close()
    return {
        "bytes_per_task": (after - before) / tasks,
        "submit_first_us": first / tenth * 1e6,
        "submit_last_us": (submitted - last_start) / tenth * 1e6,
        "total_s": total,
        "tasks": tasks,
    }


def map_items(impl, context, items=1_000_000):
    """map() of `items` trivial items with 2 workers: mp.Pool.map at its best chunksize (of 2,500
    and 10,000), ProcessPoolExecutor.map with chunksize 2,500."""
    p = Peer(impl, 2, context)
    p.warm_up()
    inputs = list(range(items))
    result = {}
    for chunksize in (2500, 10000) if impl == "pool" else (2500,):
        start = time.perf_counter()
        out = list(p.pool.map(noop, inputs, chunksize=chunksize))
        rate = items / (time.perf_counter() - start)
        assert len(out) == items
        result[f"items_per_s_chunksize_{chunksize}"] = rate
    result["items_per_s"] = max(result.values())
    p.close()
    return result


def threads(impl, context, tasks=100000):
    return throughput(impl, context, tasks)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=["ppe", "pool", "tpe"])
    parser.add_argument("workload")
    parser.add_argument("--context", default="fork")
    parser.add_argument("--scale-n", type=int, default=1_000_000)
    args = parser.parse_args()
    fn = globals()[args.workload]
    result = fn(args.impl, args.context, args.scale_n) if args.workload == "scale" else fn(args.impl, args.context)
    names = {"ppe": "ProcessPoolExecutor", "pool": "mp.Pool", "tpe": "ThreadPoolExecutor"}
    impl = names[args.impl] + ("" if args.context == "fork" or args.impl == "tpe" else f" {args.context}")
    for metric, value in result.items():
        print(json.dumps({"workload": args.workload, "impl": impl, "metric": metric, "value": value}), flush=True)


if __name__ == "__main__":
    main()
