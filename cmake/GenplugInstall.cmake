# What `cmake --install` puts where, and the Debian package (cpack -G DEB):
#   bin/genplug                       the CLI              lib/genplug/*.so      the plugins (found by the CLI)
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

# Debian package: one package (SDK, plugins, CLI, samples). dpkg-shlibdeps names the runtime libraries
# (libtorch, OpenEXR, Boost, ...) as Debian 12 packages; the headers need DLPack's.
set(CPACK_PACKAGE_NAME genplug)
set(CPACK_PACKAGE_VENDOR "genplug")
set(CPACK_PACKAGE_CONTACT "genplug maintainers <genplug@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Debian's synopsis is at most 80 characters.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "image-generation plugin SDK (C ABI) and CLI, with DyPE and FLUX.1 plugins")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libdlpack-dev")
# genplug::host is a static library: building against it needs these (hosts of the C ABI alone do not).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nlohmann-json3-dev, libboost-filesystem-dev, libopenexr-dev, libpng-dev, libopencolorio-dev, pkg-config")
# The C ABI's version travels with the package: hosts and plugins depend on genplug-abi-1 (>= 1.1).
set(CPACK_DEBIAN_PACKAGE_PROVIDES "genplug-abi-${GENPLUG_ABI_MAJOR} (= ${GENPLUG_ABI_VERSION})")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "genplug ${PROJECT_VERSION}, C ABI ${GENPLUG_ABI_VERSION}: the SDK headers, the reference host library and CLI (JSON manifest in, OpenEXR out), and the DyPE, flowmatch and FLUX.1 plugins.")
set(CPACK_STRIP_FILES OFF)
include(CPack)
