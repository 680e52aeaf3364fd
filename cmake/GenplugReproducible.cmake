# Source paths that reach the binaries through __FILE__ (assertion and TORCH_CHECK messages) are made relative to
# the source tree, as Debian's reproducible builds ask (dpkg-buildflags' -ffile-prefix-map): a package does not
# carry the build machine's folder, and two checkouts build the same bytes. Debug information keeps absolute
# paths, so that a debugger finds the sources of a local build.
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  add_compile_options("-fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=")
endif()
