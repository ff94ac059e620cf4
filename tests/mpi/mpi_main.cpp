// SPDX-License-Identifier: MIT
// The Catch2 runner of the MPI tests, started by ctest under mpirun: rank 0 runs the tests, every
// other rank serves their MpiQueues inside osiiso::mpi::init until rank 0 is done.
#define CATCH_CONFIG_RUNNER
#include <osiiso/mpi_queue.hpp>

#include <catch2/catch.hpp>

#include <cstdio>

int main(int argc, char* argv[]) {
  osiiso::mpi::init(argc, argv);
  if (osiiso::mpi::size() != 3) {
    std::fprintf(stderr, "osiiso_mpi_tests: run it as ctest does: mpirun -np 3 %s [tests]\n", argv[0]);
    return 2;
  }
  return Catch::Session().run(argc, argv);
}
