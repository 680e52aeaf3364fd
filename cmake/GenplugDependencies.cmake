# Every dependency is a Debian 12 package installed by scripts/setup.sh.
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS filesystem unit_test_framework)
find_package(CLI11 REQUIRED)
find_package(OpenEXR REQUIRED)
find_package(PNG REQUIRED)  # previews beside the EXR (host/src/png_writer.cpp)
# The output's colour space (host/src/color_management.cpp), through pkg-config: Debian's libopencolorio-dev
# installs its CMake package config into /usr/share/cmake, where its import prefix resolves to "/".
find_package(PkgConfig REQUIRED)
pkg_check_modules(OpenColorIO REQUIRED IMPORTED_TARGET GLOBAL OpenColorIO>=2.1)
find_path(DLPACK_INCLUDE_DIR dlpack/dlpack.h REQUIRED)
if(GENPLUG_BUILD_TORCH)
  find_package(Torch REQUIRED)
  # libtorch's exported flags would add -D_GLIBCXX_USE_CXX11_ABI etc. to everything; keep them on torch targets:
  # every target that uses libtorch links genplug_torch.
  add_library(genplug_torch INTERFACE)
  target_link_libraries(genplug_torch INTERFACE ${TORCH_LIBRARIES})
  # libtorch 2.x from pip or pytorch.org exports the copy of libstdc++'s std::filesystem that it links statically
  # (pytorch/pytorch#133437). Linked with --as-needed (Ubuntu's default), a program took every libstdc++ symbol
  # from libtorch_cpu and recorded no libstdc++ at all; nine test programs then jumped to address 0 in cases that
  # make and remove scratch folders (torch 2.11.0+cu130, g++ 13; docs/performance.md, "GPU"). libstdc++ named
  # before any object comes first in DT_NEEDED and wins the lookup. The same order is harmless with any libtorch.
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE AND NOT CMAKE_CXX_FLAGS MATCHES "-stdlib=libc\\+\\+")
    target_link_options(genplug_torch INTERFACE "SHELL:-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
  endif()
endif()
find_library(SENTENCEPIECE_LIBRARY sentencepiece)
find_library(SENTENCEPIECE_TRAIN_LIBRARY sentencepiece_train)
find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h)
