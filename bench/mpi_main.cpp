// SPDX-License-Identifier: MIT
// The MPI benchmark runner: osiiso::mpi::init first (ranks other than 0 serve there), then
// Google Benchmark on rank 0.
#include <benchmark/benchmark.h>
#include <osiiso/mpi_queue.hpp>

int main(int argc, char** argv) {
  osiiso::mpi::init(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
