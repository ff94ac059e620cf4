// SPDX-License-Identifier: MIT
// The benchmark runner: osiiso::init first (spawned workers re-execute this program), then
// Google Benchmark.
#include <benchmark/benchmark.h>
#include <osiiso/init.hpp>

int main(int argc, char** argv) {
  osiiso::init(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
