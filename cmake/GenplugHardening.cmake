# Everything genplug builds is hardened as Debian builds its packages (dpkg-buildflags, and bindnow): a stack
# protector on functions that hold arrays, glibc's checked string and memory functions where a buffer's size is known
# at compile time (_FORTIFY_SOURCE=2, in the optimised configurations only: glibc warns without -O), and a GOT that is
# read-only once every symbol is bound at load (-z relro -z now). The CLI and the plugins parse manifests, weights and
# images that come from users and the internet. Not under a sanitizer (it checks those calls itself, and better), and
# no second _FORTIFY_SOURCE where the flags already define one (a packager's CPPFLAGS).
option(GENPLUG_HARDENING "Build with -fstack-protector-strong, -D_FORTIFY_SOURCE=2 and -z relro -z now" ON)
set(_genplug_flags "${CMAKE_C_FLAGS} ${CMAKE_CXX_FLAGS} ${CMAKE_EXE_LINKER_FLAGS} ${CMAKE_SHARED_LINKER_FLAGS}")
foreach(_config RELEASE RELWITHDEBINFO MINSIZEREL DEBUG)  # a packager's -D_FORTIFY_SOURCE=3 may be in these
  string(APPEND _genplug_flags " ${CMAKE_C_FLAGS_${_config}} ${CMAKE_CXX_FLAGS_${_config}}")
endforeach()
if(GENPLUG_HARDENING AND NOT _genplug_flags MATCHES "-fsanitize" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  add_compile_options(-fstack-protector-strong)
  if(NOT _genplug_flags MATCHES "_FORTIFY_SOURCE")
    add_compile_options($<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-D_FORTIFY_SOURCE=2>)
  endif()
  add_link_options(LINKER:-z,relro LINKER:-z,now)
  message(STATUS "genplug: hardened (stack protector, _FORTIFY_SOURCE=2 in optimised builds, -z relro -z now)")
else()
  message(STATUS "genplug: not hardened (GENPLUG_HARDENING=${GENPLUG_HARDENING}, or a sanitizer in the flags)")
endif()
