# Runs one fuzz target for CTest (fuzz/CMakeLists.txt): cmake -DFUZZER=exe -DWORK=dir -DSEEDS=dir -DFINDINGS=dir
# [-DREPLAY=dir] -DOPTIONS="-runs=N;..." -P run_fuzzer.cmake. The files in REPLAY run once each first. WORK (where
# libFuzzer adds new inputs) is emptied first, so every run starts from the seed corpus alone and the source tree
# is never written.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}" "${FINDINGS}")
get_filename_component(name "${FUZZER}" NAME)
if(REPLAY AND IS_DIRECTORY "${REPLAY}")
  file(GLOB replay LIST_DIRECTORIES false "${REPLAY}/*")
  if(replay)
    execute_process(COMMAND "${FUZZER}" ${replay} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE log)
    if(NOT rc EQUAL 0)
      message("${log}")
      message(FATAL_ERROR "${name}: a regression input of ${REPLAY} failed (${rc})")
    endif()
    list(LENGTH replay n)
    message(STATUS "${name}: ${n} regression inputs of ${REPLAY} pass")
  endif()
endif()
execute_process(COMMAND "${FUZZER}" ${OPTIONS} "-artifact_prefix=${FINDINGS}/${name}-" "${WORK}" "${SEEDS}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${name} failed (${rc}); the input that failed is in ${FINDINGS}")
endif()
