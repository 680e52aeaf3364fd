// The FLUX plugin's weights and allocations against the machine's memory (plugins/flux/src/machine_memory.hpp):
// a request no machine state could satisfy is the config's fault, one that could is a transient shortage.
#define BOOST_TEST_MODULE machine_memory
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <genplug/flux/presets.hpp>
#include <genplug/internal/cpu_memory.hpp>
#include <genplug/safetensors.hpp>

#include "address_space_limit.hpp"
#include "machine_memory.hpp"
#include "temp_dir.hpp"

using namespace genplug;
using namespace genplug::flux;

namespace {
// libtorch 1.13's DefaultCPUAllocator message (alloc_cpu.cpp), as rethrow_as passes it on.
std::string libtorch_refusal(const std::string& bytes) {
  return "[enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
         "allocate " + bytes + " bytes. Error code 12 (Cannot allocate memory)";
}
}  // namespace

BOOST_AUTO_TEST_CASE(the_ceiling_is_what_beyond_machine_measures) {
  const auto ceiling = internal::cpu_memory_ceiling();
  BOOST_TEST_REQUIRE(ceiling.has_value());  // Linux: /proc/meminfo
  BOOST_TEST_REQUIRE(internal::available_cpu_memory().has_value());
  BOOST_TEST(*ceiling > 0u);
  // Within a page of the ceiling as it is read again (this process's own memory moves a little between reads).
  BOOST_TEST(!beyond_machine(double(*ceiling) - 1e6).has_value());
  BOOST_TEST_REQUIRE(beyond_machine(double(*ceiling) + 1e9).has_value());
  BOOST_TEST(beyond_machine(double(*ceiling) + 1e9)->rfind("more than this process can ever add (", 0) == 0u);
}

namespace {
constexpr uint64_t kMiB = uint64_t(1) << 20, kGiB = uint64_t(1) << 30;

// A machine of 8 GiB and 2 GiB of swap (half of each free) whose process sits in the cgroup /farm/job/step.
struct FakeKernel {
  genplug::test::TempDir dir;
  internal::MemorySources sources;
  FakeKernel() {
    sources.proc = (dir.path / "proc").string();
    sources.cgroup = (dir.path / "cgroup").string();
    sources.address_space_limit = false;
    std::filesystem::create_directories(dir.path / "proc" / "self");
    std::filesystem::create_directories(dir.path / "cgroup" / "farm" / "job" / "step");
    put("proc/meminfo", "MemTotal:        8388608 kB\nMemFree:         1000 kB\nMemAvailable:    4194304 kB\n"
                        "SwapTotal:       2097152 kB\nSwapFree:        1048576 kB\n");
    put("proc/self/cgroup", "0::/farm/job/step\n");
    put("proc/self/status", "Name:\tgenplug\nVmSize:\t 4194304 kB\nVmRSS:\t  700000 kB\nRssAnon:\t  262144 kB\n");
  }
  void put(const std::string& file, const std::string& text) const { std::ofstream(dir.path / file) << text; }
};
}  // namespace

BOOST_AUTO_TEST_CASE(without_cgroup_limits_the_machine_counts) {
  const FakeKernel k;
  BOOST_TEST(*internal::available_cpu_memory(k.sources) == 4 * kGiB);
  BOOST_TEST(*internal::free_swap(k.sources) == 1 * kGiB);
  BOOST_TEST(*internal::cpu_memory_ceiling(k.sources) == 10 * kGiB - 256 * kMiB);  // less its own RssAnon
  BOOST_TEST(*internal::total_cpu_memory(k.sources) == 8 * kGiB);                   // MemTotal: no swap
  BOOST_TEST(internal::own_resident_memory(k.sources) == 700000u * 1024u);           // VmRSS: mapped files too
  k.put("cgroup/farm/job/step/memory.max", "max\n");  // a cgroup without a limit changes nothing
  k.put("cgroup/farm/job/step/memory.current", "123\n");
  BOOST_TEST(*internal::available_cpu_memory(k.sources) == 4 * kGiB);
  BOOST_TEST(*internal::cpu_memory_ceiling(k.sources) == 10 * kGiB - 256 * kMiB);
}

// A Slurm job's limit sits on the job's cgroup, above the step the process runs in (no cgroup namespace): every
// level up to the root is read, the tightest wins, and reclaimable page cache is not counted as held.
BOOST_AUTO_TEST_CASE(the_tightest_cgroup_above_the_process_limits_it) {
  const FakeKernel k;
  k.put("cgroup/farm/job/step/memory.max", "max\n");
  k.put("cgroup/farm/job/step/memory.current", "100\n");
  k.put("cgroup/farm/job/memory.max", std::to_string(3 * kGiB) + "\n");
  k.put("cgroup/farm/job/memory.current", std::to_string(2 * kGiB) + "\n");
  k.put("cgroup/farm/job/memory.stat", "anon 1\nfile 9\ninactive_file " + std::to_string(512 * kMiB) + "\nactive_file 3\n");
  k.put("cgroup/farm/job/memory.swap.max", "0\n");
  k.put("cgroup/farm/memory.max", std::to_string(6 * kGiB) + "\n");
  k.put("cgroup/farm/memory.current", std::to_string(5 * kGiB) + "\n");
  // job: 3 GiB - (2 GiB - 512 MiB of cache) = 1.5 GiB; farm: 1 GiB; the machine: 4 GiB.
  BOOST_TEST(*internal::available_cpu_memory(k.sources) == 1 * kGiB);
  // No swap for the job, whatever the machine has free.
  BOOST_TEST(*internal::free_swap(k.sources) == 0u);
  // job: 3 GiB + no swap; farm: 6 GiB + the machine's 2 GiB.
  BOOST_TEST(*internal::cpu_memory_ceiling(k.sources) == 3 * kGiB - 256 * kMiB);
  BOOST_TEST(*internal::total_cpu_memory(k.sources) == 3 * kGiB);  // the job's limit, however much it holds
  // Inside a cgroup namespace the process's cgroup is the root of the hierarchy.
  k.put("proc/self/cgroup", "0::/\n");
  k.put("cgroup/memory.max", std::to_string(2 * kGiB) + "\n");
  k.put("cgroup/memory.current", std::to_string(kGiB + 256 * kMiB) + "\n");
  BOOST_TEST(*internal::available_cpu_memory(k.sources) == 768 * kMiB);
  BOOST_TEST(*internal::cpu_memory_ceiling(k.sources) == 4 * kGiB - 256 * kMiB);  // 2 GiB + 2 GiB of swap
  BOOST_TEST(*internal::total_cpu_memory(k.sources) == 2 * kGiB);
}

// cgroup v1 (hybrid hierarchies, older farms): the memory controller's own tree, "no limit" written as
// PAGE_COUNTER_MAX, and swap limited together with memory (memsw).
BOOST_AUTO_TEST_CASE(a_cgroup_v1_memory_limit_counts_too) {
  const FakeKernel k;
  k.put("proc/self/cgroup", "9:name=systemd:/\n4:memory:/slurm/uid_0/job_7\n1:cpu:/\n0::/\n");
  const std::string job = "cgroup/memory/slurm/uid_0/job_7/";
  std::filesystem::create_directories(k.dir.path / job);
  k.put(job + "memory.limit_in_bytes", std::to_string(2 * kGiB) + "\n");
  k.put(job + "memory.usage_in_bytes", std::to_string(kGiB + 512 * kMiB) + "\n");
  k.put(job + "memory.stat", "cache 5\ninactive_file 7\ntotal_inactive_file " + std::to_string(512 * kMiB) + "\n");
  k.put(job + "memory.memsw.limit_in_bytes", std::to_string(2 * kGiB + 512 * kMiB) + "\n");
  k.put(job + "memory.memsw.usage_in_bytes", std::to_string(kGiB + 512 * kMiB) + "\n");
  k.put("cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");  // the root: no limit
  k.put("cgroup/memory/memory.usage_in_bytes", std::to_string(7 * kGiB) + "\n");
  // 2 GiB - (1.5 GiB - 512 MiB of cache); memory and swap: 2.5 GiB - 1.5 GiB; at most memsw's 2.5 GiB.
  BOOST_TEST(*internal::available_cpu_memory(k.sources) == 1 * kGiB);
  BOOST_TEST(*internal::free_swap(k.sources) == 1 * kGiB);
  BOOST_TEST(*internal::cpu_memory_ceiling(k.sources) == 2 * kGiB + 256 * kMiB);
  BOOST_TEST(*internal::total_cpu_memory(k.sources) == 2 * kGiB);  // the root's PAGE_COUNTER_MAX is no limit
}

BOOST_AUTO_TEST_CASE(an_allocation_beyond_the_machine_is_a_config_error) {
  const Error e = allocation_error("predict", libtorch_refusal("2560000000000000"));  // 2.56 PB
  BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
  const std::string m = e.what();
  BOOST_TEST(m.find("predict: could not allocate 2560000000000000 bytes (2384185.8 GiB), more than this process can ever add (") ==
                 0u, m);
  BOOST_TEST(m.find(" GiB: memory and swap within its cgroup and ulimit -v, less what it holds)") != std::string::npos, m);
  BOOST_TEST(m.find("alloc_cpu") == std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(an_allocation_the_machine_could_hold_is_out_of_memory) {
  const Error small = allocation_error("decode", libtorch_refusal("4096"));
  BOOST_TEST(small.code() == GENPLUG_E_OUT_OF_MEMORY);
  BOOST_TEST(std::string(small.what()) == "decode: could not allocate 4096 bytes (4.0 KiB)");  // not "0.0 GiB"
  BOOST_TEST(flux::byte_size_text(36.0 * kMiB) == "36.0 MiB");
  BOOST_TEST(flux::byte_size_text(1023) == "1023 bytes");
  BOOST_TEST(flux::byte_size_text(1.5 * kGiB) == "1.5 GiB");
  BOOST_TEST(flux::byte_size_text(4096.0 * kGiB) == "4096.0 GiB");
  // No size named ("not enough memory" where malloc failed): passed on as it is, out of memory.
  const Error unsized = allocation_error("predict", "DefaultCPUAllocator: not enough memory: you tried");
  BOOST_TEST(unsized.code() == GENPLUG_E_OUT_OF_MEMORY);
  BOOST_TEST(std::string(unsized.what()) == "predict: DefaultCPUAllocator: not enough memory: you tried");
}

// A mapping larger than the ulimit -v itself is beyond reach, said with the limit; one within it (however little
// is left), or any without a limit, is not. A file the readers could not map is then a config error (no retry maps
// it), else out of memory.
BOOST_AUTO_TEST_CASE(a_mapping_beyond_ulimit_v_is_beyond_reach) {
  internal::MemorySources unlimited;
  unlimited.address_space_limit = false;
  BOOST_TEST(!internal::beyond_address_space(uint64_t(1) << 60, unlimited).has_value());
  const int child = genplug::test::under_address_space_limit(256 * kMiB, [] {
    rlimit limit{};
    if (::getrlimit(RLIMIT_AS, &limit) != 0) return false;
    const std::optional<std::string> far = internal::beyond_address_space(limit.rlim_cur + 1);
    return far && *far == "more than the address-space limit (ulimit -v) of " + std::to_string(limit.rlim_cur) + " bytes" &&
           !internal::beyond_address_space(limit.rlim_cur).has_value();  // within it, though not within what is left
  });
  BOOST_TEST(child == 0);  // 1: wrong answer; 2: no limit could be set
  const Error beyond = unmappable_file_error("transformer: ", safetensors::OutOfMemory("f: cannot memory-map", true));
  BOOST_TEST(beyond.code() == GENPLUG_E_CONFIG);
  const Error retry = unmappable_file_error("transformer: ", safetensors::OutOfMemory("f: cannot memory-map"));
  BOOST_TEST(retry.code() == GENPLUG_E_OUT_OF_MEMORY);
  BOOST_TEST(std::string(retry.what()) == "transformer: f: cannot memory-map");
}

BOOST_AUTO_TEST_CASE(random_weights_that_fit_are_drawn) {
  BOOST_CHECK_NO_THROW(check_random_weights_fit(flux_preset("tiny"), 4, "f32", "tiny"));
  FluxConfig huge = flux_preset("tiny");
  huge.vec_in_dim = 10'000'000'000'000;  // vector_in alone 2.56 PB
  try {
    check_random_weights_fit(huge, 2, "bf16", "tiny");
    BOOST_FAIL("2.56 PB of weights were let through");
  } catch (const Error& e) {
    BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
    // 6.4e14 weights: 2 bytes each, and the largest (vector_in, 6.4e14 of them) drawn in float32 first.
    BOOST_TEST(std::string(e.what()).find("(640000000") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("GiB as bf16, ") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find(" with what building the model takes besides, more than this process can "
                                          "ever add (") != std::string::npos, e.what());
  }
  // Any depth is counted without listing its blocks (10^15 of them had been gigabytes of names first), exactly.
  FluxConfig deep = flux_preset("tiny");
  deep.depth = 1'000'000'000'000'000;
  const double per_block = double(flux_parameter_count([&] { FluxConfig one = flux_preset("tiny"); one.depth = 1; return one; }()) -
                                  flux_parameter_count([&] { FluxConfig none = flux_preset("tiny"); none.depth = 0; return none; }()));
  try {
    check_random_weights_fit(deep, 4, "f32", "tiny");
    BOOST_FAIL("10^15 blocks were let through");
  } catch (const Error& e) {
    BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
    char parameters[32];
    std::snprintf(parameters, sizeof parameters, "(%.4g parameters)", 1e15 * per_block +
                  double(flux_parameter_count([&] { FluxConfig none = flux_preset("tiny"); none.depth = 0; return none; }())));
    BOOST_TEST(std::string(e.what()).find(parameters) != std::string::npos, e.what() << " / " << parameters);
  }
}

// A checkpoint's copies (what the load does not map): none is no check at all; beyond the machine, a config error
// naming the file and dtype and saying what loads it with less; the int8 weights built from it count too.
BOOST_AUTO_TEST_CASE(checkpoint_copies_beyond_the_machine_are_a_config_error) {
  BOOST_CHECK_NO_THROW(check_checkpoint_copies_fit(0, 0, 0, "/models/flux.safetensors", "f32"));
  BOOST_CHECK_NO_THROW(check_checkpoint_copies_fit(1 << 20, 1 << 20, 0, "/models/flux.safetensors", "f32"));
  auto refusal = [](double copied, double temporary, double quantized) {
    try {
      check_checkpoint_copies_fit(copied, temporary, quantized, "/models/flux.safetensors", "bf16");
    } catch (const Error& e) {
      BOOST_TEST(e.code() == GENPLUG_E_CONFIG);
      return std::string(e.what());
    }
    return std::string("let through");
  };
  std::string m = refusal(2.56e15, 0, 0);
  BOOST_TEST(m.find("transformer /models/flux.safetensors: loading it as bf16 copies 2384185.8 GiB out of the file, ") !=
                 std::string::npos, m);
  BOOST_TEST(m.find("more than this process can ever add (") != std::string::npos, m);
  BOOST_TEST(m.find("Instead: a smaller model, or for a safetensors file of BFL's layout the dtype it stores") !=
                 std::string::npos, m);
  BOOST_TEST(m.find("quantize") == std::string::npos, m);
  m = refusal(0, 2.56e15, 0);  // a decode's peak alone
  BOOST_TEST(m.find("copies 0 bytes out of the file, 2384186.") != std::string::npos, m);
  // Mapped (nothing copied), but int8 weights built from it: the quantized bytes, and no advice about the dtype.
  m = refusal(0, 0, 2.56e15);
  BOOST_TEST(m.find("copies 0 bytes out of the file and quantizes its weights to int8 in 2384185.8 GiB") !=
                 std::string::npos, m);
  BOOST_TEST(m.find("Instead: a smaller model, or quantize \"none\"") != std::string::npos, m);
  // quantized_build_bytes: a byte per weight and the largest twice in float32.
  const FluxConfig tiny = flux_preset("tiny");
  double largest = 0;
  for (const auto& [name, shape] : flux_weight_shapes(tiny)) {
    double n = 1;
    for (int64_t d : shape) n *= double(d);
    largest = std::max(largest, n);
  }
  BOOST_TEST(quantized_build_bytes(tiny) == double(flux_parameter_count(tiny)) + largest * 8);
  BOOST_TEST(quantized_build_bytes(1000, 100) == 1000 + 800);
}

// A LoRA merge: a copy of each weight it changes as the merge stores it, and the largest target and module factors
// in float32 while they are merged. Beyond the machine, a config error ahead of the merge and at it; a merge that fits
// now passes both.
BOOST_AUTO_TEST_CASE(lora_merges_beyond_the_machine_are_a_config_error) {
  BOOST_TEST(lora_merge_bytes(2000, 300, 50) == 2000 + (300 + 50) * 4 + (32 << 20));
  BOOST_CHECK_NO_THROW(check_lora_merge_fits(0, "loras", true));
  BOOST_CHECK_NO_THROW(check_lora_merge_fits(1 << 20, "loras", true));
  BOOST_CHECK_NO_THROW(check_lora_merge_fits(1 << 20, "loras", false));
  for (const bool now : {false, true}) {
    try {
      check_lora_merge_fits(2.56e15, "config.loras", now);
      BOOST_FAIL("a merge beyond the machine was let through");
    } catch (const Error& e) {
      const std::string m = e.what();
      BOOST_TEST(e.code() == GENPLUG_E_CONFIG, m);
      BOOST_TEST(m.find("config.loras: merging them copies the weights they change, 2682209.0 GiB, more than this "
                        "process can ever add (") != std::string::npos, m);
      BOOST_TEST(m.find("Instead: fewer LoRAs, or LoRAs that change fewer weights") != std::string::npos, m);
    }
  }
}

// A text encoder's load on the CPU: beyond the machine, a config error naming the encoder, its file and dtype, and
// advising bfloat16 where it loads as float32, and precomputed conditioning in every case.
BOOST_AUTO_TEST_CASE(text_encoders_beyond_the_machine_are_a_config_error) {
  BOOST_CHECK_NO_THROW(check_text_encoder_fits("T5 encoder", "/models/t5.safetensors", "float32", 1 << 20, 1 << 16));
  for (const std::string dtype : {"float32", "bfloat16"}) {
    try {
      check_text_encoder_fits("T5 encoder", "/models/t5.safetensors", dtype, 2.56e15, 1e9);
      BOOST_FAIL("a load beyond the machine was let through");
    } catch (const Error& e) {
      const std::string m = e.what();
      BOOST_TEST(e.code() == GENPLUG_E_CONFIG, m);
      BOOST_TEST(m.find("T5 encoder /models/t5.safetensors: loading it as " + dtype + " takes 2384185.8 GiB, ") !=
                     std::string::npos, m);
      BOOST_TEST(m.find("more than this process can ever add (") != std::string::npos, m);
      BOOST_TEST(m.find("precomputed conditioning (genplug encode, then config.conditioning)") != std::string::npos, m);
      BOOST_TEST((m.find("text_dtype \"bfloat16\"") != std::string::npos) == (dtype == "float32"), m);
    }
  }
}
