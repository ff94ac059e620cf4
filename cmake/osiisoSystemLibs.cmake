include(CheckCXXSymbolExists)

# glibc >= 2.34 provides shm_open, clock_gettime and dlopen itself; older C libraries keep them in
# librt and libdl. Sets OSIISO_SYSTEM_LIBS to whatever the link needs (empty on Debian 12).
block(SCOPE_FOR VARIABLES PROPAGATE OSIISO_SYSTEM_LIBS)
  set(OSIISO_SYSTEM_LIBS "")
  set(CMAKE_REQUIRED_QUIET ON)
  check_cxx_symbol_exists(shm_open "sys/mman.h" OSIISO_LIBC_HAS_SHM_OPEN)
  check_cxx_symbol_exists(clock_gettime "time.h" OSIISO_LIBC_HAS_CLOCK_GETTIME)
  if(NOT OSIISO_LIBC_HAS_SHM_OPEN OR NOT OSIISO_LIBC_HAS_CLOCK_GETTIME)
    list(APPEND OSIISO_SYSTEM_LIBS rt)
  endif()
  check_cxx_symbol_exists(dlopen "dlfcn.h" OSIISO_LIBC_HAS_DLOPEN)
  if(NOT OSIISO_LIBC_HAS_DLOPEN)
    list(APPEND OSIISO_SYSTEM_LIBS ${CMAKE_DL_LIBS})
  endif()
endblock()
