# What `cmake --install` puts where, and the Debian packages (cpack -G DEB, below):
#   bin/genplug                       the CLI              lib/genplug/*.so      the plugins (found by the CLI)
#   share/genplug/models/mini/        the mini FLUX ("preset": "mini")   share/genplug/ocio/   the CLI's OCIO config
#   include/genplug/                  the SDK and host headers
#   lib/libgenplug_host.a             the reference host library
#   lib/cmake/genplug/                genplugConfig.cmake (genplug::sdk, genplug::host, genplug_add_plugin)
#   lib/pkgconfig/genplug.pc          pkg-config for the SDK
#   share/genplug/samples/            manifests and layouts (genplug run /usr/share/genplug/samples/default.json)
#   share/doc/genplug/                README.md and docs/*.md, which the README and the CLI's messages point to
include(CMakePackageConfigHelpers)
set(GENPLUG_INSTALL_CMAKE_DIR lib/cmake/genplug)
set(GENPLUG_INSTALL_PLUGIN_DIR lib/genplug)

install(TARGETS genplug_sdk genplug_host EXPORT genplugTargets
        ARCHIVE DESTINATION lib COMPONENT sdk
        INCLUDES DESTINATION include)
install(EXPORT genplugTargets NAMESPACE genplug:: DESTINATION ${GENPLUG_INSTALL_CMAKE_DIR} COMPONENT sdk)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/genplugConfig.cmake.in
  ${CMAKE_BINARY_DIR}/genplugConfig.cmake
  INSTALL_DESTINATION ${GENPLUG_INSTALL_CMAKE_DIR}
  PATH_VARS GENPLUG_INSTALL_PLUGIN_DIR)
# Minor versions add, majors break: the same rule as the ABI (docs/abi.md).
write_basic_package_version_file(${CMAKE_BINARY_DIR}/genplugConfigVersion.cmake COMPATIBILITY SameMinorVersion)
configure_file(${CMAKE_CURRENT_LIST_DIR}/genplug.pc.in ${CMAKE_BINARY_DIR}/genplug.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/genplugConfig.cmake ${CMAKE_BINARY_DIR}/genplugConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/GenplugPlugin.cmake ${CMAKE_CURRENT_LIST_DIR}/plugin.map
        DESTINATION ${GENPLUG_INSTALL_CMAKE_DIR} COMPONENT sdk)
install(FILES ${CMAKE_BINARY_DIR}/genplug.pc DESTINATION lib/pkgconfig COMPONENT sdk)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/samples/ DESTINATION share/genplug/samples COMPONENT samples
        FILES_MATCHING PATTERN "*.json" PATTERN "*.c" PATTERN "*.cpp" PATTERN "*.py" PATTERN "*.md"
                       PATTERN "*.txt" PATTERN "Makefile"
        REGEX "/samples/CMakeLists\\.txt$" EXCLUDE)  # in-tree only (genplug's build); each sample's own stays
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/genplug COMPONENT docs)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/genplug/docs COMPONENT docs
        FILES_MATCHING PATTERN "*.md" PATTERN "*.png")  # the pages and the images they show

# Debian packages, one per group of install components, so that what needs libtorch comes apart from what does not:
#   genplug             the CLI, the DyPE and flowmatch plugins, the FLUX inspector, samples, docs (no tensor library)
#   genplug-flux        the FLUX.1 model plugin (libtorch)
#   genplug-mini-model  genplug's own mini FLUX, the default sample's model (data: Architecture all)
#   genplug-dev         the SDK headers, the reference host library, CMake and pkg-config files (builds plugins and
#                       hosts; needs neither the CLI nor libtorch)
# dpkg-shlibdeps names each binary package's runtime libraries as Debian 12 packages; the headers need DLPack's.
set(CPACK_PACKAGE_NAME genplug)
set(CPACK_PACKAGE_VENDOR "genplug")
set(CPACK_PACKAGE_CONTACT "genplug maintainers <genplug@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)  # the programs and plugins, as Debian ships them (cmake --install keeps the symbols)
foreach(component CLI PLUGINS SAMPLES DOCS)  # CPack reads a component's variables by its name in upper case
  set(CPACK_COMPONENT_${component}_GROUP runtime)
endforeach()
set(CPACK_COMPONENT_FLUX_GROUP flux)
set(CPACK_COMPONENT_MINI_MODEL_GROUP mini_model)
set(CPACK_COMPONENT_SDK_GROUP dev)
set(GENPLUG_DEB_SAME_VERSION "(= ${PROJECT_VERSION})")
# Up to 0.3.1 one package, genplug, held everything: the files that moved out of it replace its older versions'
# (Debian Policy 7.6.1), so that an upgrade unpacks them whatever apt's order.
set(GENPLUG_DEB_SPLIT "genplug (<< 0.3.2)")
foreach(group FLUX MINI_MODEL DEV)
  set(CPACK_DEBIAN_${group}_PACKAGE_REPLACES "${GENPLUG_DEB_SPLIT}")
  set(CPACK_DEBIAN_${group}_PACKAGE_BREAKS "${GENPLUG_DEB_SPLIT}")
endforeach()

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME genplug)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION graphics)
# Installed with it by default (apt installs Recommends; --no-install-recommends leaves libtorch out): the default
# sample needs both.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS
    "genplug-flux ${GENPLUG_DEB_SAME_VERSION}, genplug-mini-model ${GENPLUG_DEB_SAME_VERSION}")
# The C ABI's version travels with the runtime: plugin packages depend on genplug-abi-1 (>= 1.1).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_PROVIDES "genplug-abi-${GENPLUG_ABI_MAJOR} (= ${GENPLUG_ABI_VERSION})")
# Descriptions: a synopsis line, then lines of at most 80 columns (Debian Policy 3.4.1; lintian).
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "image-generation plugin host and CLI, with the DyPE position-encoding plugin
genplug ${PROJECT_VERSION}, C ABI ${GENPLUG_ABI_VERSION}: the genplug CLI (JSON
manifest in, OpenEXR out), the DyPE position-encoding and flowmatch scheduler
plugins, the FLUX checkpoint inspector, samples and documentation. None of it
needs a tensor library; the FLUX.1 model plugin is genplug-flux.")

set(CPACK_DEBIAN_FLUX_PACKAGE_NAME genplug-flux)
set(CPACK_DEBIAN_FLUX_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_FLUX_PACKAGE_DEPENDS "genplug ${GENPLUG_DEB_SAME_VERSION}")
set(CPACK_DEBIAN_FLUX_PACKAGE_RECOMMENDS "genplug-mini-model ${GENPLUG_DEB_SAME_VERSION}")
set(CPACK_DEBIAN_FLUX_DESCRIPTION "FLUX.1 model plugin for genplug (libtorch)
The genplug.model plugin org.genplug.flux: the FLUX.1 transformer, autoencoder
and T5/CLIP text conditioning on libtorch, reading BFL and diffusers
safetensors, GGUF and LoRA files.")

set(CPACK_DEBIAN_MINI_MODEL_PACKAGE_NAME genplug-mini-model)
set(CPACK_DEBIAN_MINI_MODEL_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_MINI_MODEL_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_MINI_MODEL_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_MINI_MODEL_DESCRIPTION "genplug's mini FLUX model, the default sample's (data)
A 2.3 M-parameter model of FLUX's architecture trained by the genplug project,
loaded by genplug-flux with \"preset\": \"mini\" (docs/mini-model.md).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME genplug-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libdlpack-dev")
# genplug::host is a static library: building against it needs these (hosts of the C ABI alone do not).
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS
    "nlohmann-json3-dev, libboost-filesystem-dev, libopenexr-dev, libpng-dev, libopencolorio-dev, pkg-config")
# genplug validate checks a plugin against the contract.
set(CPACK_DEBIAN_DEV_PACKAGE_SUGGESTS "genplug ${GENPLUG_DEB_SAME_VERSION}")
set(CPACK_DEBIAN_DEV_DESCRIPTION "genplug SDK: C ABI headers, C++ wrappers and reference host library
genplug ${PROJECT_VERSION}, C ABI ${GENPLUG_ABI_VERSION}: the C11 ABI and
header-only C++17 wrappers for writing plugins and hosts, the reference host
library (static), genplugConfig.cmake (genplug::sdk, genplug::host,
genplug_add_plugin) and genplug.pc.")
include(CPack)
