// SPDX-License-Identifier: MIT
// Builds against the installed osiiso::mpi and runs one task on a serving rank.
#include <osiiso/mpi_queue.hpp>
#include <osiiso/osiiso.hpp>

#include <cstdio>

int triple(int x) { return 3 * x; }
OSIISO_TASK(triple);

int main(int argc, char** argv) {
  osiiso::mpi::init(argc, argv);
  osiiso::MpiQueue q;
  auto h = q.submit(triple, 14);
  const bool ok = h.value() == 42 && h.result().rank == 1;
  std::printf("triple(14) = %d on rank %d\n", h.value(), h.result().rank.value_or(-1));
  return ok ? 0 : 1;
}
