# Run by the osiiso.packaging.deb.pkg_config test (cmake -P): compiles the consumer with nothing
# but the compiler and `pkg-config --cflags --libs osiiso` from ${PC_DIR}, then runs it.
# Inputs: PKG_CONFIG, PC_DIR, ROOT, CXX, CXX_FLAGS, LINKER_FLAGS, SOURCE, WORK_DIR, EXPECTED_VERSION.
cmake_minimum_required(VERSION 3.25)

set(ENV{PKG_CONFIG_PATH} ${PC_DIR})
execute_process(COMMAND ${PKG_CONFIG} --modversion osiiso OUTPUT_VARIABLE version
  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
if(NOT version STREQUAL EXPECTED_VERSION)
  message(FATAL_ERROR "pkg-config found osiiso ${version}, expected ${EXPECTED_VERSION}")
endif()
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs osiiso OUTPUT_VARIABLE flags
  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
# The paths must lead into the extracted package, not to some osiiso installed on the machine.
string(FIND "${flags}" "-I${ROOT}/" in_root)
if(in_root EQUAL -1)
  message(FATAL_ERROR "pkg-config --cflags --libs osiiso points outside ${ROOT}: ${flags}")
endif()

separate_arguments(flags UNIX_COMMAND "${flags}")
separate_arguments(CXX_FLAGS UNIX_COMMAND "${CXX_FLAGS}")
separate_arguments(LINKER_FLAGS UNIX_COMMAND "${LINKER_FLAGS}")
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(consumer ${WORK_DIR}/osiiso_consumer)
execute_process(
  COMMAND ${CXX} -std=c++20 ${CXX_FLAGS} -Wall -Wextra -Wpedantic -Werror
    "-DOSIISO_EXPECTED_VERSION=\"${EXPECTED_VERSION}\"" ${SOURCE} -o ${consumer} ${LINKER_FLAGS} ${flags}
  COMMAND_ECHO STDOUT COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${consumer} COMMAND_ERROR_IS_FATAL ANY)
