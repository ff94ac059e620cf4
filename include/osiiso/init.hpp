// SPDX-License-Identifier: MIT
// osiiso::init: the entry point of spawned worker processes (call it first thing in main).
#pragma once

namespace osiiso {

/**
 * Call at the top of `main`, before anything else (the analog of Python's
 * `if __name__ == "__main__":`). In a worker process started by a ProcessQueue with the
 * "spawn" or "forkserver" start method it serves tasks and never returns; in every other
 * process it returns at once. Programs that only use the default "fork" start method may omit it.
 *
 * ```cpp
 * int main(int argc, char** argv) {
 *   osiiso::init(argc, argv);
 *   // ...
 * }
 * ```
 */
void init(int argc, char** argv);

}  // namespace osiiso
