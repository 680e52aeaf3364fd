# genplug_add_plugin(NAME SOURCES ... [LIBRARIES ...])
# Builds a plugin library that exports only `genplug_entry` (hidden visibility plus a version script), so
# plugins cannot interpose each other's symbols and unload cleanly.
function(genplug_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE genplug::sdk ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${GENPLUG_PLUGIN_OUTPUT_DIR})
  target_link_options(${name} PRIVATE
    "LINKER:--version-script=${CMAKE_SOURCE_DIR}/cmake/plugin.map"
    "LINKER:--no-undefined")
  install(TARGETS ${name} LIBRARY DESTINATION lib/genplug)  # where an installed genplug looks (../lib/genplug)
endfunction()

