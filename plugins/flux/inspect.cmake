# org.genplug.flux.inspect: the genplug.inspector/1 plugin for FLUX checkpoints, a library of its own linked with
# the safetensors and GGUF readers and the tokenizers only (no libtorch): built with or without GENPLUG_BUILD_TORCH.
if(NOT TARGET genplug_flux_text_tokenizers)  # without libtorch plugins/flux/text is not added: its tokenizers come here
  include(${CMAKE_CURRENT_LIST_DIR}/text/tokenizers.cmake)
endif()
genplug_add_plugin(genplug_flux_inspect
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/src/inspector_entry.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/checkpoint_inspector.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/checkpoint_report.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/gguf_report.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/component_report.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/lora_report.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/token_report.cpp
  LIBRARIES genplug_safetensors genplug_gguf genplug_flux_text_tokenizers nlohmann_json::nlohmann_json)
# Once loaded, never unloaded (RTLD_NODELETE): the tokenizers load ICU, whose data caches hang off libicuuc's
# globals; unloading the plugin would unload ICU with them and leave the caches unreachable (LeakSanitizer
# reports them; a host that loads ICU itself would keep it). Hosts unload plugins at exit anyway.
target_link_options(genplug_flux_inspect PRIVATE -Wl,-z,nodelete)
