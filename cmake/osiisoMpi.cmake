# The osiiso::mpi component (MpiQueue): built when an MPI and Boost.MPI are found, so that the
# core library never depends on MPI. OSIISO_MPI=OFF leaves it out; ON makes it required.
set(OSIISO_MPI AUTO CACHE STRING "Build the osiiso::mpi component (MpiQueue): AUTO, ON or OFF")
set_property(CACHE OSIISO_MPI PROPERTY STRINGS AUTO ON OFF)

set(OSIISO_HAS_MPI OFF)
if(NOT OSIISO_MPI STREQUAL "OFF")
  if(OSIISO_MPI STREQUAL "ON")
    set(osiiso_mpi_required REQUIRED)
  endif()
  find_package(MPI COMPONENTS CXX ${osiiso_mpi_required})
  find_package(Boost 1.74 COMPONENTS mpi ${osiiso_mpi_required})
  if(MPI_CXX_FOUND AND Boost_MPI_FOUND)
    set(OSIISO_HAS_MPI ON)
  else()
    message(STATUS "osiiso: MPI or Boost.MPI not found; the osiiso::mpi component (MpiQueue) is not built")
  endif()
endif()

if(OSIISO_HAS_MPI)
  add_library(osiiso_mpi
    src/mpi/mpi_backend.cpp
    src/mpi/mpi_channel.cpp
    src/mpi/mpi_environment.cpp
    src/mpi/mpi_protocol.cpp
    src/mpi/mpi_queue.cpp
    src/mpi/mpi_root_session.cpp
    src/mpi/mpi_server.cpp)
  add_library(osiiso::mpi ALIAS osiiso_mpi)
  set_target_properties(osiiso_mpi PROPERTIES
    EXPORT_NAME mpi
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR})
  target_link_libraries(osiiso_mpi PUBLIC osiiso::osiiso PRIVATE Boost::mpi MPI::MPI_CXX)
  osiiso_enable_warnings(osiiso_mpi)
  # mpirun, for the tests and examples.
  find_program(OSIISO_MPIEXEC NAMES mpiexec mpirun HINTS ${MPIEXEC_EXECUTABLE})

  # The environment of a test run under mpirun: one machine, so shared memory only (no TCP
  # transport). The sanitizers would report Open MPI's own doings (it is not built with them): they
  # are suppressed by library (tests/mpi/*_openmpi.supp); LeakSanitizer needs whole stacks (the slow
  # unwinder) and the MCA plugins still loaded when the process ends to name them.
  function(osiiso_mpi_test_environment)
    set(supp ${PROJECT_SOURCE_DIR}/tests/mpi)
    set_tests_properties(${ARGN} PROPERTIES ENVIRONMENT_MODIFICATION
      "OMPI_MCA_btl=set:self,vader;OMPI_MCA_mca_base_component_disable_dlclose=set:1;ASAN_OPTIONS=string_append::fast_unwind_on_malloc=0;LSAN_OPTIONS=set:suppressions=${supp}/lsan_openmpi.supp;TSAN_OPTIONS=string_append::suppressions=${supp}/tsan_openmpi.supp")
  endfunction()
endif()
