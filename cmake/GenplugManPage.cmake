# The genplug(1) manual page, made at build time by help2man from the program itself, so that it never says other
# than `--help` does: the top-level help becomes its NAME, SYNOPSIS and DESCRIPTION, each command's own `--help`
# a subsection of COMMANDS, and the sections below (environment, files, see also) are added by help2man's --include.
#   cmake -DGENPLUG=path/to/genplug -DHELP2MAN=path/to/help2man -DOUTPUT=genplug.1.gz -DWORK=folder \
#         -P GenplugManPage.cmake          (WORK: where the uncompressed page and help2man's include file go)
foreach(var GENPLUG HELP2MAN OUTPUT WORK)
  if(NOT ${var})
    message(FATAL_ERROR "GenplugManPage.cmake: -D${var}=... is required")
  endif()
endforeach()

function(help_of out)
  execute_process(COMMAND ${GENPLUG} ${ARGN} --help RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "GenplugManPage.cmake: '${GENPLUG} ${ARGN} --help' exited ${rc}: ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# The command names: the first word of each line of the top-level help's "Subcommands:" block (CLI11's layout).
help_of(top)
string(REGEX MATCH "\nSubcommands:\n(  [^\n]*\n)+" block "${top}")
string(REGEX MATCHALL "\n  [a-z][a-z-]*" commands "${block}")
list(TRANSFORM commands REPLACE "^\n  " "")
if(NOT commands)
  message(FATAL_ERROR "GenplugManPage.cmake: no \"Subcommands:\" list in '${GENPLUG} --help'")
endif()

# Text taken as it is (no fill), escaped for roff: a backslash is \e, and a line starting with . or ' is text.
set(include [=[
[DESCRIPTION]
genplug reads a manifest (JSON) of image-generation jobs, loads the model, scheduler and position-encoding plugins
it names, validates it against their parameter schemas before anything runs, and writes each job's image as an
OpenEXR file (written to a temporary file and renamed when complete). Its other commands list, check and query
plugins.
[EXAMPLES]
.nf
genplug run PREFIX/share/genplug/samples/default.json
genplug run m.json \-\-set jobs.0.seed=7 \-\-progress jsonl
genplug posenc \-\-layout @PREFIX/share/genplug/samples/layouts/flux.json \-\-height 4096 \-\-width 4096 \-\-t 0.5
genplug validate libmy_plugin.so
.fi
]=])
string(APPEND include "[COMMANDS]\nEach command's own help, as `genplug COMMAND --help' prints it.\n")
foreach(command IN LISTS commands)
  help_of(text ${command})
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  string(APPEND include ".SS \"genplug ${command}\"\n.nf\n${text}.fi\n")
endforeach()

string(APPEND include [=[
[ENVIRONMENT]
.TP
.B GENPLUG_PLUGIN_PATH
Plugin folders or libraries, separated by colons, searched after \-\-plugin\-path and a manifest's
plugin_path, before ../lib/genplug beside the program.
.TP
.B GENPLUG_PLUGIN_CACHE
The file that caches what each plugin library holds, or
.B off
(default: $XDG_CACHE_HOME/genplug/plugins.json where that is an absolute path, else ~/.cache/genplug/plugins.json).
.TP
.B GENPLUG_CANCEL_GRACE
Whole seconds (0 to 86400) a first SIGINT or SIGTERM waits for the running plugin call to stop before the run
ends without it (default 8; 0 waits for it).
.TP
.B OCIO
The OpenColorIO config of outputs and init images where a manifest names none (default: genplug's own).
.TP
.BR OMP_NUM_THREADS ", " OPENBLAS_NUM_THREADS ", " OPENBLAS_CORETYPE
Threads and kernels of the model plugin's numerical libraries (docs/cli.md, docs/performance.md).
[FILES]
.TP
.I PREFIX/lib/genplug/
The plugins an installed genplug finds.
.TP
.I PREFIX/share/genplug/
The mini model, genplug's OpenColorIO config and the sample manifests
.RI ( "genplug run PREFIX/share/genplug/samples/default.json" ).
[SEE ALSO]
The manual in
.I PREFIX/share/doc/genplug/
(/usr/share/doc/genplug in the Debian package): README.md, and in docs/ cli.md (commands, exit codes, signals),
manifest.md (the manifest), exr.md (outputs and colour), farm.md (Slurm), abi.md (writing plugins).
]=])
get_filename_component(dir "${OUTPUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}" "${WORK}")
set(page "${WORK}/genplug.1")
file(WRITE "${page}.include" "${include}")
execute_process(COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1
                        "--name=run image-generation pipelines assembled from plugins"
                        "--include=${page}.include" "--output=${page}" ${GENPLUG}
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "GenplugManPage.cmake: help2man exited ${rc}: ${err}")
endif()
# Debian installs manual pages compressed; -n leaves the name and time out of the header (reproducible).
execute_process(COMMAND gzip -9 -n -c "${page}" OUTPUT_FILE "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "GenplugManPage.cmake: gzip exited ${rc}")
endif()
