#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The distributed peers of the MpiQueue benchmarks (bench/bench_mpi_queue.cpp).

    mpirun -np 3 python3 -m mpi4py.futures mpi_peers.py mpi4py WORKLOAD
    python3 mpi_peers.py dask WORKLOAD

mpi4py: mpi4py.futures.MPIPoolExecutor with the 2 worker ranks mpirun started. dask: Dask
distributed's LocalCluster with 2 worker processes of 1 thread each. WORKLOAD is mpi_roundtrip,
mpi_throughput or mpi_map. Prints one JSON object per line, {"workload", "impl", "metric",
"value"}, as bench/report.py reads them.
"""
import json
import statistics
import sys
import time


def noop(x):
    return x


def quantile(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def emit(workload, impl, metric, value):
    print(json.dumps({"workload": workload, "impl": impl, "metric": metric, "value": value}), flush=True)


class Mpi4py:
    name = "mpi4py MPIPoolExecutor"
    # Sizes: as osiiso's, but where a peer is slow enough to take minutes.
    trips, tasks, items = 2000, 20000, 100000

    def __init__(self):
        from mpi4py.futures import MPIPoolExecutor
        self.pool = MPIPoolExecutor()

    def call(self, x):
        return self.pool.submit(noop, x).result()

    def one_by_one(self, n):
        futures = [self.pool.submit(noop, i) for i in range(n)]
        return [f.result() for f in futures]

    def map(self, items):
        return list(self.pool.map(noop, items))

    def close(self):
        self.pool.shutdown()


class Dask:
    name = "Dask LocalCluster"
    trips, tasks, items = 500, 5000, 10000

    def __init__(self):
        from dask.distributed import Client, LocalCluster
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        self.client = Client(self.cluster)

    def call(self, x):
        return self.client.submit(noop, x, pure=False).result()

    def one_by_one(self, n):
        futures = [self.client.submit(noop, i, pure=False) for i in range(n)]
        return self.client.gather(futures)

    def map(self, items):
        return self.client.gather(self.client.map(noop, items, pure=False))

    def close(self):
        self.client.close()
        self.cluster.close()


def main():
    impl, workload = sys.argv[1], sys.argv[2]
    peer = Mpi4py() if impl == "mpi4py" else Dask()
    for i in range(100):
        peer.call(i)
    if workload == "mpi_roundtrip":
        samples = []
        for i in range(peer.trips):
            start = time.perf_counter()
            peer.call(i)
            samples.append((time.perf_counter() - start) * 1e6)
        emit(workload, peer.name, "median_us", statistics.median(samples))
        emit(workload, peer.name, "p99_us", quantile(samples, 0.99))
        emit(workload, peer.name, "max_us", max(samples))
    elif workload == "mpi_throughput":
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            peer.one_by_one(peer.tasks)
            rates.append(peer.tasks / (time.perf_counter() - start))
        emit(workload, peer.name, "tasks_per_s", statistics.median(rates))
        emit(workload, peer.name, "tasks", peer.tasks)
    elif workload == "mpi_map":
        items = list(range(peer.items))
        start = time.perf_counter()
        peer.map(items)
        emit(workload, peer.name, "items_per_s", peer.items / (time.perf_counter() - start))
        emit(workload, peer.name, "items", peer.items)
    peer.close()


if __name__ == "__main__":
    main()
