# genplug_flux_text_tokenizers: tokenizers and text clean-up, plain C++ (no torch). Included by this folder's
# CMakeLists.txt and, in builds without libtorch, by ../inspect.cmake (the inspector's tokenize extension).
find_package(ZLIB REQUIRED)  # OpenAI's bpe_simple_vocab_16e6.txt.gz
find_package(ICU REQUIRED COMPONENTS uc)  # Unicode properties and normalisation (Debian libicu-dev)
# Global, so that every folder linking the tokenizers (tests, fuzz copies, the inspector) resolves the name.
get_target_property(_icu_global ICU::uc IMPORTED_GLOBAL)
if(NOT _icu_global)
  set_target_properties(ICU::uc PROPERTIES IMPORTED_GLOBAL TRUE)
endif()
# No libsentencepiece here: Debian's copy bundles protobuf-lite 3.14 whose exported symbols collide with libtorch's
# libprotobuf 3.21 in one process (see sentencepiece_model.hpp). Only the tests use it, without torch, as reference.

# Tokenizers and text clean-up: plain C++, so their tests compile fast.
add_library(genplug_flux_text_tokenizers STATIC
  ${CMAKE_CURRENT_LIST_DIR}/src/unicode_tables.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/unicode_text.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/ftfy_tables.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/ftfy_codecs.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/ftfy_badness.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/ftfy_encoding.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/clip_text_cleanup.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/clip_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/sentencepiece_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/t5_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/byte_tokenizer.cpp)
target_include_directories(genplug_flux_text_tokenizers PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
target_link_libraries(genplug_flux_text_tokenizers
  PUBLIC nlohmann_json::nlohmann_json
  PRIVATE ZLIB::ZLIB ICU::uc genplug_internal)
set_target_properties(genplug_flux_text_tokenizers PROPERTIES POSITION_INDEPENDENT_CODE ON)

