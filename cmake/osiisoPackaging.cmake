# The Debian package libosiiso-dev: `cpack --config <build>/CPackConfig.cmake` packs what the
# install rules install, under /usr. Configure with -DCMAKE_INSTALL_PREFIX=/usr so that
# GNUInstallDirs picks the multiarch libdir (lib/x86_64-linux-gnu) Debian expects.
set(CPACK_PACKAGE_NAME libosiiso-dev)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "osiiso contributors")
set(CPACK_PACKAGE_CONTACT "osiiso maintainers <maintainers@users.noreply.r-seed-2c857919.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION} (C++20 development files)")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "osiiso runs functions on worker threads (osiiso::ThreadQueue) or worker processes\n"
  "(osiiso::ProcessQueue) or MPI ranks (osiiso::MpiQueue) with priorities, timeouts, retries and\n"
  "a run summary. This package\n"
  "holds the headers, the library, its CMake package (find_package(osiiso)) and osiiso.pc.\n"
  "Licence: MIT.")

set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# What osiisoConfig.cmake finds again (Boost serialization and filesystem, fmt, SQLite) and the Boost
# headers the public headers include; Threads comes with libc6-dev.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libboost-dev (>= 1.74), libboost-serialization-dev (>= 1.74), libboost-filesystem-dev (>= 1.74), libfmt-dev, libsqlite3-dev")
# The mpi component (osiiso::mpi) finds MPI and Boost.MPI again.
if(OSIISO_HAS_MPI)
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libboost-mpi-dev (>= 1.74), libopenmpi-dev")
endif()

# Debian keeps a package's licence in /usr/share/doc/<package>/copyright.
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${CPACK_PACKAGE_NAME} RENAME copyright)

include(CPack)
