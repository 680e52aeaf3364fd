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
  # libtorch's exported flags would add -D_GLIBCXX_USE_CXX11_ABI etc. to everything; keep them on torch targets.
endif()
find_library(SENTENCEPIECE_LIBRARY sentencepiece)
find_library(SENTENCEPIECE_TRAIN_LIBRARY sentencepiece_train)
find_path(SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h)
