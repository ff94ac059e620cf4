# Run by the osiiso.packaging.deb test (cmake -P): packs the build tree with CPack, checks the
# control fields and the layout of libosiiso-dev, and extracts it into WORK_DIR/root (no dpkg -i).
# Inputs: CPACK, DPKG_DEB, BUILD_DIR, CONFIG, WORK_DIR, LIBDIR, EXPECTED_VERSION.
cmake_minimum_required(VERSION 3.25)

# Also drops the consumers' build trees, so that they start afresh against the new root.
file(REMOVE_RECURSE ${WORK_DIR})
set(ROOT ${WORK_DIR}/root)
execute_process(COMMAND ${CPACK} --config ${BUILD_DIR}/CPackConfig.cmake -G DEB -C ${CONFIG} -B ${WORK_DIR}/cpack
  COMMAND_ERROR_IS_FATAL ANY)
file(GLOB deb ${WORK_DIR}/cpack/*.deb)
list(LENGTH deb count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "cpack made ${count} .deb files in ${WORK_DIR}/cpack, expected one: ${deb}")
endif()

foreach(field Package Version Section Maintainer Depends Description)
  execute_process(COMMAND ${DPKG_DEB} -f ${deb} ${field} OUTPUT_VARIABLE ${field} OUTPUT_STRIP_TRAILING_WHITESPACE
    COMMAND_ERROR_IS_FATAL ANY)
  if(NOT ${field})
    message(FATAL_ERROR "${deb} has no ${field} field")
  endif()
endforeach()
if(NOT Package STREQUAL "libosiiso-dev" OR NOT Version STREQUAL EXPECTED_VERSION)
  message(FATAL_ERROR "${deb} is ${Package} ${Version}, expected libosiiso-dev ${EXPECTED_VERSION}")
endif()
foreach(dependency libboost-dev libboost-serialization-dev libboost-filesystem-dev libfmt-dev libsqlite3-dev)
  if(NOT Depends MATCHES "(^|, )${dependency}( |,|$)")
    message(FATAL_ERROR "${deb} does not depend on ${dependency}: Depends: ${Depends}")
  endif()
endforeach()

execute_process(COMMAND ${DPKG_DEB} -x ${deb} ${ROOT} COMMAND_ERROR_IS_FATAL ANY)
foreach(file
    usr/include/osiiso/osiiso.hpp
    usr/include/osiiso/version.hpp
    usr/${LIBDIR}/cmake/osiiso/osiisoConfig.cmake
    usr/${LIBDIR}/cmake/osiiso/osiisoConfigVersion.cmake
    usr/${LIBDIR}/cmake/osiiso/osiisoTargets.cmake
    usr/${LIBDIR}/pkgconfig/osiiso.pc
    usr/share/doc/libosiiso-dev/copyright)
  if(NOT EXISTS ${ROOT}/${file})
    message(FATAL_ERROR "${deb} has no /${file}")
  endif()
endforeach()
file(GLOB library ${ROOT}/usr/${LIBDIR}/libosiiso.*)
if(NOT library)
  message(FATAL_ERROR "${deb} has no library in /usr/${LIBDIR}")
endif()
message(STATUS "${Package} ${Version} (Depends: ${Depends}) extracted into ${ROOT}")
