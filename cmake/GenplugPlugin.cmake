# genplug_add_plugin(NAME SOURCES ... [LIBRARIES ...] [NO_INSTALL] [COMPONENT component])
# Builds a plugin library that exports only `genplug_entry` (hidden visibility plus a version script), so
# plugins cannot interpose each other's symbols and unload cleanly. Works in genplug's own tree and from an
# installed genplug (find_package(genplug) includes this file): the version script is found beside it.
# The plugin is installed into lib/genplug, where an installed `genplug` looks (prefix/bin/../lib/genplug), as the
# install component COMPONENT (default `plugins`; packages split by component, as genplug's own: its FLUX plugin).
set(GENPLUG_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/plugin.map" CACHE INTERNAL "genplug plugin version script")

function(genplug_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "COMPONENT" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_COMPONENT)
    set(ARG_COMPONENT plugins)
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE genplug::sdk ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED GENPLUG_PLUGIN_OUTPUT_DIR)  # genplug's own tree: every plugin in one folder the host searches
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${GENPLUG_PLUGIN_OUTPUT_DIR})
  endif()
  target_link_options(${name} PRIVATE "LINKER:--version-script=${GENPLUG_PLUGIN_MAP}" "LINKER:--no-undefined")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${GENPLUG_PLUGIN_MAP})
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION lib/genplug COMPONENT ${ARG_COMPONENT})
  endif()
endfunction()
