# Negative check for abi_tsan_init_race: run it against the fixture whose entry is the unlocked ABI 1.0
# wrapper and require that ThreadSanitizer reports a data race in that entry (exit code 66, set through
# TSAN_OPTIONS by CTest). Usage: cmake -DPROGRAM=... -DPLUGIN=... -DITERATIONS=... -P expect_tsan_race.cmake
execute_process(COMMAND ${PROGRAM} ${PLUGIN} ${ITERATIONS} 2 50
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 66)
  message(FATAL_ERROR "expected ThreadSanitizer to stop the run with exit code 66, got '${rc}'")
endif()
if(NOT err MATCHES "WARNING: ThreadSanitizer: data race")
  message(FATAL_ERROR "exit code 66 but no data race report")
endif()
if(NOT err MATCHES "racy::(init|deinit|get_factory)")
  message(FATAL_ERROR "a data race was reported, but not in the fixture's unlocked entry")
endif()
message("ok: ThreadSanitizer reported the unlocked init/deinit count")
