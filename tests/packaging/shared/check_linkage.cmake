# Run by the osiiso.packaging.shared.find_package test (cmake -P): the shared install has its
# SOVERSION symlinks, the consumer really loads libosiiso.so from it, and the consumer runs.
# Inputs: READELF, PREFIX (the install, libdir lib), CONSUMER, EXPECTED_VERSION.
cmake_minimum_required(VERSION 3.25)

string(REGEX MATCH "^[0-9]+" major ${EXPECTED_VERSION})
set(lib ${PREFIX}/lib)
foreach(link_and_target "libosiiso.so;libosiiso.so.${major}" "libosiiso.so.${major};libosiiso.so.${EXPECTED_VERSION}")
  list(GET link_and_target 0 link)
  list(GET link_and_target 1 target)
  if(NOT IS_SYMLINK ${lib}/${link})
    message(FATAL_ERROR "${lib}/${link} is not a symlink")
  endif()
  file(READ_SYMLINK ${lib}/${link} found)
  if(NOT found STREQUAL target)
    message(FATAL_ERROR "${lib}/${link} points to ${found}, expected ${target}")
  endif()
endforeach()
if(IS_SYMLINK ${lib}/libosiiso.so.${EXPECTED_VERSION} OR NOT EXISTS ${lib}/libosiiso.so.${EXPECTED_VERSION})
  message(FATAL_ERROR "${lib}/libosiiso.so.${EXPECTED_VERSION} is not the library file")
endif()
if(EXISTS ${lib}/libosiiso.a)
  message(FATAL_ERROR "the shared build installed a static ${lib}/libosiiso.a")
endif()

execute_process(COMMAND ${READELF} --dynamic ${lib}/libosiiso.so.${EXPECTED_VERSION} OUTPUT_VARIABLE dynamic
  COMMAND_ERROR_IS_FATAL ANY)
if(NOT dynamic MATCHES "\\(SONAME\\)[^\n]*\\[libosiiso\\.so\\.${major}\\]")
  message(FATAL_ERROR "libosiiso.so.${EXPECTED_VERSION} has no SONAME libosiiso.so.${major}:\n${dynamic}")
endif()
execute_process(COMMAND ${READELF} --dynamic ${CONSUMER} OUTPUT_VARIABLE dynamic COMMAND_ERROR_IS_FATAL ANY)
if(NOT dynamic MATCHES "\\(NEEDED\\)[^\n]*\\[libosiiso\\.so\\.${major}\\]")
  message(FATAL_ERROR "${CONSUMER} does not need libosiiso.so.${major}:\n${dynamic}")
endif()
# The dynamic loader must resolve it to the installed file, not to a copy elsewhere.
execute_process(COMMAND ldd ${CONSUMER} OUTPUT_VARIABLE loaded COMMAND_ERROR_IS_FATAL ANY)
string(FIND "${loaded}" "libosiiso.so.${major} => ${lib}/libosiiso.so.${major} " found)
if(found EQUAL -1)
  message(FATAL_ERROR "${CONSUMER} does not load ${lib}/libosiiso.so.${major}:\n${loaded}")
endif()

execute_process(COMMAND ${CONSUMER} COMMAND_ERROR_IS_FATAL ANY)
