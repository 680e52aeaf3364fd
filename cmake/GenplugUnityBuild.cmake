# Unity builds for the libraries whose files share heavy headers (CLI11, nlohmann/json, libtorch).
#
# Each file of the CLI compiled CLI11's and nlohmann's inline code again, and under ASan + UBSan instrumented it
# again: its 16 files took 321 s of compile CPU under the sanitizers (gcc 12), its two unity files 105 s; these
# seven libraries 1 065 s and 522 s. CI builds them in up to five trees (release, without libtorch, ASan, TSan,
# fuzz): its cold ASan tree built in 892 s instead of 1 266 s (docs/reliability.md). CMake joins at most 8 files
# per unity file (two or more per library keep both cores busy) and leaves out any file with its own compile
# options or definitions. Names private to a file must then be unique in its library: the CLI's commands each
# keep theirs in their own namespace (host/cli/command.hpp). Off: -DGENPLUG_UNITY_BUILD=OFF (quicker edit-compile
# cycles).

option(GENPLUG_UNITY_BUILD "Compile the host, CLI, flowmatch and FLUX libraries as unity builds" ON)

function(genplug_unity_build target)
  set_target_properties(${target} PROPERTIES UNITY_BUILD ${GENPLUG_UNITY_BUILD} UNITY_BUILD_BATCH_SIZE 8)
  if(GENPLUG_UNITY_BUILD)
    # GCC warns of a class with a member of a file-private type when the class is not in the main file, as every
    # file of a unity file is not; in a .cpp of its own that is how a file keeps its helpers private.
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANG_AND_ID:CXX,GNU>:-Wno-subobject-linkage>)
  endif()
endfunction()
