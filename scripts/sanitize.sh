#!/usr/bin/env bash
# Sanitizer builds of genplug (issue 15, item 3): our code instrumented, the system libraries (libtorch,
# OpenBLAS, OpenMP, Boost, OpenEXR, libstdc++) as Debian ships them.
#
#   scripts/sanitize.sh [asan|asan-notorch|tsan|all]          (default: all, what CI runs)
#
#   asan          AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer on the whole suite with libtorch
#                 (GENPLUG_BUILD_TORCH=ON): every test but those asan_exclude_labels, _tests and _skip_tests
#                 name below, then `genplug validate` of every plugin, then tests/python_host with the ASan
#                 runtime preloaded.
#                 Tree: build-asan.
#   asan-notorch  the same without libtorch (SDK, host, CLI, DyPE, flowmatch, FLUX inspector and safetensors
#                 reader): a quicker check while working on those. Tree: build-asan-notorch.
#   tsan          ThreadSanitizer without libtorch, on what runs threads (see run_tsan). Tree: build-tsan.
#   all           asan, then tsan.
#
# Flags: -fsanitize=address,undefined -fno-sanitize-recover=undefined (tsan: -fsanitize=thread)
# -fno-omit-frame-pointer -g1 -O1, no -DNDEBUG, on every target of the tree (plugins, fixtures, tests, samples)
# but the mini model's development tools (GENPLUG_BUILD_TRAINING=OFF: the libtorch trainer, whose memory is
# libtorch's autograd, and the adherence program; test_mini_trainer runs in the plain suite) and the figure
# programs (GENPLUG_BUILD_BENCH=OFF). The test programs' own code is compiled at -O0, still instrumented.
# -g1 (functions and line tables: reports keep file:line) rather than -g: full debug info of the libtorch
# headers doubled the compile time of every libtorch file.
# Any report fails the process it is in, and so the test (halt_on_error; LSan checks leaks at every exit).
# Suppressions: scripts/sanitizers/*.supp, third-party frames only, each with its reason.
#
# Trees are kept between runs (incremental); delete them for a cold run. Each phase prints its wall time and
# the CPU time it used (on a shared machine, wall time mostly measures the others' load).
# Environment: GENPLUG_SANITIZE_JOBS (default 2), GENPLUG_SANITIZE_NICE (default 10),
# GENPLUG_SANITIZE_DIR (parent of the trees, default the source root), CC/CXX (default gcc/g++),
# GENPLUG_SANITIZE_CTEST_ARGS (more ctest arguments, e.g. "-R test_pipeline").
#
# Cold (empty ccache), 2 cores, -j2, gcc 12, Debian 12, idle machine, 2026-12-01 (tests at -O1, avx2 label run);
# wall / CPU seconds:
#   asan          build 1427 / 2809, tests 479 / 758   (280 build steps, 74 of them test programs: 1502 s of the
#                 compile; 78 tests, python_host, 4 validates)
#   tsan          build  209 /  408, tests  13 /  14
# The same tree with -g and the libtorch trainer took 2628 / 5172 on CI (2026-11-30) and timed the run out.
# Test programs at -O0 compile in about half the time of -O1 under ASan + UBSan (32 s -> 17 s for one).
# ASan tests since (a quarter of the scoring tests' seeds, one BLAS thread per test): 325 s wall, 506 s CPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
variant=${1:-all}
jobs=${GENPLUG_SANITIZE_JOBS:-2}
nice_level=${GENPLUG_SANITIZE_NICE:-10}
parent=${GENPLUG_SANITIZE_DIR:-$root}
supp=$root/scripts/sanitizers
read -r -a extra_ctest <<< "${GENPLUG_SANITIZE_CTEST_ARGS:-}"
export CC=${CC:-gcc} CXX=${CXX:-g++}

case $variant in
  asan|asan-notorch|tsan|all) ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "sanitize.sh: unknown variant '$variant' (asan, asan-notorch, tsan, all)" >&2; exit 2 ;;
esac

run_nice() { nice -n "$nice_level" "$@"; }
# Wall seconds, and CPU seconds (user + system) of everything this script has waited for: on a shared machine
# the wall time depends on the others' load, the CPU time much less (CPU / jobs ~ wall on an idle machine).
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
clock() { date +%s; }
cpu_now() {  # sets CPU; called in this shell (a $(...) subshell would count none of our children)
  times > "$times_file"
  CPU=$(tail -1 "$times_file" |
        awk '{ n = 0; for (i = 1; i <= 2; ++i) { split($i, p, "m"); n += p[1] * 60 + p[2] } printf "%d", n }')
}
timings=()
note_time() {  # VARIANT PHASE WALL_SECONDS CPU_SECONDS
  timings+=("$(printf '%-12s %-6s %5d s wall %6d s CPU' "$1" "$2" "$3" "$4")")
  echo "sanitize.sh: $1 $2: $3 s wall, $4 s CPU"
}

# ---- runtime options ---------------------------------------------------------------------------------------
# halt_on_error: the first report ends the process with status 86 (ASan, UBSan, LSan: they share the common flags).
# ASan: detect_stack_use_after_return finds returns of stack addresses (e.g. a span of a local handed out);
# check_initialization_order/strict_init_order: static-init order across our libraries; detect_leaks: LSan.
# intercept_tls_get_addr=0: works around a bug of GCC 12's sanitizer runtime (google/sanitizers#1322; up to GCC 13
# and LLVM 16): its __tls_get_addr interceptor takes a dynamic TLS block at 16 mod 4096 for a glibc 2.19 header,
# records a garbage range, and the leak check at exit dies scanning it ("Tracer caught signal 11", "LeakSanitizer
# has encountered a fatal error"). Here it hit test_cli's `genplug run` processes (libtorch and libgomp
# dlopen'ed with the FLUX plugin) on every run. The cost: memory pointed to only from dynamically loaded
# libraries' thread_locals is not a root. Our code's one thread_local, the FLUX plugin's widening buffers
# (plugins/flux/transformer/src/layers/weights.hpp), has not been reported in the full suite.
asan_options=(halt_on_error=1 abort_on_error=0 exitcode=86 detect_leaks=1 detect_stack_use_after_return=1
  check_initialization_order=1 strict_init_order=1 strict_string_checks=1 detect_odr_violation=2
  intercept_tls_get_addr=0 print_summary=1)
ASAN_OPTIONS=$(IFS=:; echo "${asan_options[*]}")
export ASAN_OPTIONS
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:exitcode=86"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0:exitcode=86"
# One BLAS thread per test: ctest -j2 runs two at once (scripts/test.sh says why); the caller's value wins.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# TSan's options are set where it runs (tests/abi sets its own per test; ours add the suppressions file).
tsan_options="halt_on_error=1:exitcode=66:second_deadlock_stack=1:history_size=4:suppressions=$supp/tsan.supp"

# ---- configure + build -------------------------------------------------------------------------------------
# configure TREE TORCH(ON|OFF) SANITIZE_FLAGS EXTRA_CMAKE_ARGS...
configure() {
  local tree=$1 torch=$2 san=$3
  shift 3
  local cflags="$san -fno-omit-frame-pointer -g1"
  local lflags="$san"
  local args=(-S "$root" -B "$tree" -G Ninja
    -DCMAKE_BUILD_TYPE=Release
    # -O1 instead of the tree's -O2, no -DNDEBUG (the tests rely on assert())
    "-DCMAKE_C_FLAGS_RELEASE=-O1" "-DCMAKE_CXX_FLAGS_RELEASE=-O1"
    "-DCMAKE_C_FLAGS=$cflags" "-DCMAKE_CXX_FLAGS=$cflags"
    "-DCMAKE_EXE_LINKER_FLAGS=$lflags" "-DCMAKE_SHARED_LINKER_FLAGS=$lflags" "-DCMAKE_MODULE_LINKER_FLAGS=$lflags"
    -DGENPLUG_BUILD_TORCH="$torch" -DGENPLUG_BUILD_BENCH=OFF -DGENPLUG_BUILD_TRAINING=OFF
    "-DGENPLUG_TEST_COMPILE_OPTIONS=-O0")  # see the flags above
  if [[ $torch == OFF ]]; then args+=(-DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON); fi
  mkdir -p "$tree"
  run_nice cmake "${args[@]}" "$@" > "$tree/sanitize-configure.log" 2>&1 ||
    { cat "$tree/sanitize-configure.log"; echo "sanitize.sh: configuring $tree failed" >&2; exit 1; }
}

build() {  # build TREE [TARGETS...]
  local tree=$1
  shift
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  # A failed build ends the script (set -e does not apply inside functions called from `||`).
  run_nice cmake --build "$tree" -j"$jobs" "${targets[@]}" || { echo "sanitize.sh: building $tree failed" >&2; exit 1; }
}

# `genplug validate` of every plugin library of the tree, by the instrumented CLI. In builds without libtorch
# no test runs it on DyPE or flowmatch (tests/cli needs the FLUX plugin); its [thread: render] check computes two
# posenc instances on two threads, which is what TSan is here for.
validate_plugins() {  # TREE
  local tree=$1 lib log status=0
  for lib in "$tree"/plugins/*.so; do
    log=$tree/sanitize-validate-$(basename "$lib" .so).log
    # shellcheck disable=SC2086  # NO_ASLR: "setarch ARCH -R" or empty (run_tsan)
    if run_nice ${NO_ASLR:-} "$tree/bin/genplug" validate "$lib" > "$log" 2>&1; then
      echo "sanitize.sh: genplug validate $(basename "$lib"): passed"
    else
      cat "$log"
      echo "sanitize.sh: genplug validate $(basename "$lib"): FAILED" >&2
      status=1
    fi
  done
  return $status
}

# ---- ASan + UBSan + LSan -----------------------------------------------------------------------------------
asan_flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

# Not run under ASan, and why:
#   sanitizer  tests/abi's ThreadSanitizer tests build their own -fsanitize=thread binaries, which cannot be
#              combined with -fsanitize=address (they run in the tsan variant);
#   slurm      needs the real Slurm and munge daemons, root, and minutes: it tests scripts, not our memory use;
#   python     run separately below, with the ASan runtime preloaded into python;
#   avx2       the precision suites again with libtorch's AVX2 kernels forced: the same code of ours on other
#              (uninstrumented) libtorch kernels, checked for precision by the plain suite.
# and the test debian_package: CPack's .debs of the tree, unpacked and run (packaging, no code of ours runs
# that the other tests do not run; it runs alone, RUN_SERIAL, 36 s under ASan), and golden_structure_variants
# (programs of this suite again on sets of other structure: it tests the tests, not memory), as the other golden
# sets' runs (label other_sets) do.
asan_exclude_labels='sanitizer|slurm|python|avx2|other_sets'
asan_exclude_tests='^debian_package$|^golden_structure_variants$'
# Not even built in the ASan tree (GENPLUG_TEST_SKIP): the golden comparisons of the FLUX transformer, the
# autoencoder (whole and tiled) and the text encoders. Their code of ours only composes libtorch operators
# (whose memory is libtorch's, uninstrumented, bounds-checked); what handles raw memory on that side (the
# safetensors reader, weight loading and LoRA, the DLPack bridge, attention, checkpoint errors) keeps its tests
# here. They were the slowest compiles of the tree (~25 s each) and together ~2 min of CI.
asan_skip_tests='test_flux_transformer;vae_golden;vae_tiling;test_t5_encoder;test_clip_text_model;test_text_conditioner'

run_asan() {
  local name=$1 torch=$2
  local tree=$parent/build-$name
  local t0 t2 t3 c0 c2 c3
  echo "sanitize.sh: $name in $tree (GENPLUG_BUILD_TORCH=$torch, $asan_flags)"
  t0=$(clock); cpu_now; c0=$CPU
  # GENPLUG_HAVE_TSAN=OFF: tests/abi's TSan targets add -fsanitize=thread, incompatible with this tree's flags.
  configure "$tree" "$torch" "$asan_flags" -DGENPLUG_HAVE_TSAN=OFF "-DGENPLUG_TEST_SKIP=$asan_skip_tests"
  build "$tree"
  t2=$(clock); cpu_now; c2=$CPU
  note_time "$name" build $((t2 - t0)) $((c2 - c0))
  # Tests that build and link against the installed tree (tests/install) get the same flags, so that the
  # instrumented static libgenplug_host.a and plugins link and load in their own programs.
  local status=0
  CFLAGS="$asan_flags" CXXFLAGS="$asan_flags" LDFLAGS="$asan_flags" \
    run_nice ctest --test-dir "$tree" --output-on-failure --timeout 1800 -j"$jobs" \
    -LE "$asan_exclude_labels" -E "$asan_exclude_tests" "${extra_ctest[@]}" || status=$?
  validate_plugins "$tree" || status=1
  # tests/python_host: the instrumented DyPE library loaded by ctypes into Debian's uninstrumented python3.
  # The ASan runtime must be the first library of the process, so it is preloaded (into ctest and what it
  # starts). Leak checking is off in that process only: CPython and PyTorch keep their allocations until exit
  # by design, which are not our leaks (the DyPE library's own leaks are checked by dype_* above).
  # The other golden sets' runs stay out here too (above).
  if ctest --test-dir "$tree" -N -L python -LE other_sets "${extra_ctest[@]}" | grep -q 'Total Tests: [1-9]'; then
    LD_PRELOAD="$($CC -print-file-name=libasan.so) $($CC -print-file-name=libubsan.so)" \
      ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
      run_nice ctest --test-dir "$tree" --output-on-failure --timeout 1800 -L python -LE other_sets \
      "${extra_ctest[@]}" ||
      status=1
  fi
  t3=$(clock); cpu_now; c3=$CPU
  note_time "$name" test $((t3 - t2)) $((c3 - c2))
  return $status
}

# ---- TSan --------------------------------------------------------------------------------------------------
# What runs threads in genplug (without libtorch), and so what TSan can check:
#   abi_tsan_init_race: independent hosts calling one plugin library's init/deinit/get_factory concurrently
#       (the SDK's EntryThunks); abi_tsan_detects_unlocked_entry proves TSan sees the unlocked 1.0 entry;
#   `genplug validate` of DyPE (validate_plugins below): the [thread: render] check computes two posenc
#       instances on two threads, through the host's catalog, in the instrumented CLI and plugin;
#   test_inspect_cli: `genplug validate` of the FLUX inspector and `genplug inspect`, in the instrumented CLI;
#   test_plugin_catalog: const_members_may_run_on_several_threads_at_once (four threads creating instances
#       while the library loads on first use) and the catalog's other tests;
#   test_hostile_plugins (when the tree has it): validate's probes of misbehaving plugins;
#   test_prefetched: the mini trainer's prefetch thread (train/mini/trainer/prefetched.hpp; the trainer itself
#       is libtorch's and not in this tree);
#   test_render_threads: the DyPE benchmark's render threads (bench/dype_effect/render_threads.cpp).
# Nothing else starts a thread: the cancel flag is an atomic raised by a signal handler (the CLI) or by the
# callback itself (flowmatch_samplers, test_sdk_wrappers), in the one thread that polls it, and OpenEXR's
# thread pool is left at 0 threads. Those tests are single-threaded and not worth a TSan build.
tsan_tests='^(abi_tsan_init_race|abi_tsan_detects_unlocked_entry|test_inspect_cli|test_plugin_catalog'
tsan_tests+='|test_hostile_plugins|test_prefetched|test_render_threads)$'
tsan_targets=(abi_tsan_init_race test_inspect_cli test_plugin_catalog test_hostile_plugins test_prefetched
              test_render_threads
              genplug genplug_dype genplug_flowmatch genplug_flux_inspect)

run_tsan() {
  local tree=$parent/build-tsan
  local t0 t2 t3 c0 c2 c3 t targets=()
  echo "sanitize.sh: tsan in $tree (GENPLUG_BUILD_TORCH=OFF, -fsanitize=thread)"
  t0=$(clock); cpu_now; c0=$CPU
  configure "$tree" OFF "-fsanitize=thread"
  local known
  known=$(cmake --build "$tree" --target help)
  for t in "${tsan_targets[@]}"; do
    if grep -q "^$t:" <<< "$known"; then targets+=("$t"); fi
  done
  build "$tree" "${targets[@]}"
  t2=$(clock); cpu_now; c2=$CPU
  note_time tsan build $((t2 - t0)) $((c2 - c0))
  local status=0
  # GCC 12's TSan runtime knows the address-space layout of 28 random mmap bits; kernels set to more (e.g.
  # vm.mmap_rnd_bits=32) make it die with "unexpected memory mapping". Without randomisation (setarch -R, where
  # the kernel allows it) the layout is the one it expects on any kernel.
  local no_aslr=()
  if setarch "$(uname -m)" -R true 2>/dev/null; then no_aslr=(setarch "$(uname -m)" -R); fi
  # tests/abi's own tests set TSAN_OPTIONS themselves (their ENVIRONMENT wins); the others get ours.
  TSAN_OPTIONS="$tsan_options" run_nice "${no_aslr[@]}" ctest --test-dir "$tree" --output-on-failure --timeout 1800 -j"$jobs" \
    -R "$tsan_tests" "${extra_ctest[@]}" || status=$?
  TSAN_OPTIONS="$tsan_options" NO_ASLR="${no_aslr[*]}" validate_plugins "$tree" || status=1
  t3=$(clock); cpu_now; c3=$CPU
  note_time tsan test $((t3 - t2)) $((c3 - c2))
  return $status
}

status=0
case $variant in
  asan) run_asan asan ON || status=1 ;;
  asan-notorch) run_asan asan-notorch OFF || status=1 ;;
  tsan) run_tsan || status=1 ;;
  all) run_asan asan ON || status=1; run_tsan || status=1 ;;
esac
echo "sanitize.sh: times"
printf '  %s\n' "${timings[@]}"
if [[ $status -ne 0 ]]; then echo "sanitize.sh: $variant FAILED" >&2; fi
exit $status
