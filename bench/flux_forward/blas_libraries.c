// blas_libraries — the FLUX blocks' linear layers through the cblas_sgemm of each BLAS library named, alternated
// in one process: would another BLAS than the OpenBLAS libtorch links be a faster GEMM for issue 18's item 1?
// (docs/performance.md, "Eager baseline": BLIS is not, on the CPUs measured.)
//
//   blas_libraries [--hidden 1024] [--tokens 1152] [--rounds 3] [--repeat 5] LIBRARY...
//
// LIBRARY: a shared library exporting cblas_sgemm, e.g. /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0
// or (Debian's libblis4-pthread) /usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4. Each is opened with its
// own symbols first (RTLD_DEEPBIND), so two BLAS libraries do not resolve into each other. Threads: each
// library's own variable (OPENBLAS_NUM_THREADS, BLIS_NUM_THREADS); unset, OpenBLAS takes one per core, BLIS one.
// Shapes, as linear_backends.py: a double block's qkv, projection and MLP products, the single block's fused
// input and output products, y = x W^T at `--tokens` rows. Per round and library: the best of `--repeat` passes
// over the six products. Prints one line per library (best round) and the time ratio of each to the first.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112, kShapes = 6 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                         int);

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float* random_floats(size_t n) {
  float* p = malloc(n * sizeof(float));
  if (!p) {
    fprintf(stderr, "blas_libraries: out of memory (%zu floats)\n", n);
    exit(1);
  }
  for (size_t i = 0; i < n; ++i) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  return p;
}

// Seconds of the best of `repeat` passes over the six products (in x out), y = x W^T, x [tokens, in].
static double best_pass(sgemm_fn sgemm, const int shapes[kShapes][2], int tokens, int repeat, const float* x,
                        const float* w, float* y) {
  double best = 1e300;
  for (int r = 0; r < repeat; ++r) {
    const double t0 = seconds_now();
    for (int s = 0; s < kShapes; ++s)
      sgemm(kRowMajor, kNoTrans, kTrans, tokens, shapes[s][1], shapes[s][0], 1.0f, x, shapes[s][0], w, shapes[s][0],
            0.0f, y, shapes[s][1]);
    const double t = seconds_now() - t0;
    if (t < best) best = t;
  }
  return best;
}

// --NAME N: a whole number in [1, most], else a usage error (atoi would read 1e3 as 1).
static int count_flag(int argc, char** argv, int* i, const char* name, long most, int* value) {
  if (strcmp(argv[*i], name) != 0) return 0;
  char* end = NULL;
  const long v = *i + 1 < argc ? strtol(argv[*i + 1], &end, 10) : 0;
  if (*i + 1 >= argc || end == argv[*i + 1] || *end != '\0' || v < 1 || v > most) {
    fprintf(stderr, "blas_libraries: %s needs a whole number from 1 to %ld\n", name, most);
    exit(2);
  }
  *value = (int)v;
  ++*i;
  return 1;
}

int main(int argc, char** argv) {
  int hidden = 1024, tokens = 1152, rounds = 3, repeat = 5;
  const char* paths[8];
  int libraries = 0;
  for (int i = 1; i < argc; ++i) {
    // The products' sizes fit an int (cblas's) at these bounds: 7 x 16 384 columns, 65 536 rows.
    if (count_flag(argc, argv, &i, "--hidden", 16384, &hidden) || count_flag(argc, argv, &i, "--tokens", 65536, &tokens) ||
        count_flag(argc, argv, &i, "--rounds", 1000, &rounds) || count_flag(argc, argv, &i, "--repeat", 1000, &repeat))
      continue;
    if (argv[i][0] == '-' || libraries == 8) {
      fprintf(stderr, "usage: blas_libraries [--hidden N] [--tokens N] [--rounds N] [--repeat N] LIBRARY... (1 to 8)\n");
      return 2;
    }
    paths[libraries++] = argv[i];
  }
  if (libraries == 0) {
    fprintf(stderr, "blas_libraries: name at least one BLAS library (a .so with cblas_sgemm)\n");
    return 2;
  }
  sgemm_fn sgemm[8];
  for (int l = 0; l < libraries; ++l) {
    void* handle = dlopen(paths[l], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    sgemm[l] = handle ? (sgemm_fn)dlsym(handle, "cblas_sgemm") : NULL;
    if (!sgemm[l]) {
      fprintf(stderr, "blas_libraries: %s: %s\n", paths[l], handle ? "no cblas_sgemm" : dlerror());
      return 1;
    }
  }
  const int mlp = 4 * hidden;  // FLUX's mlp_ratio
  const int shapes[kShapes][2] = {{hidden, 3 * hidden}, {hidden, hidden},           {hidden, mlp},
                                  {mlp, hidden},        {hidden, 3 * hidden + mlp}, {hidden + mlp, hidden}};
  double gflop = 0;
  for (int s = 0; s < kShapes; ++s) gflop += 2e-9 * tokens * (double)shapes[s][0] * shapes[s][1];
  // The widest input is hidden + mlp, the widest output 3 hidden + mlp; one W buffer serves every shape.
  const size_t in_max = (size_t)hidden + mlp, out_max = 3 * (size_t)hidden + mlp;
  float* x = random_floats((size_t)tokens * in_max);
  float* w = random_floats(in_max * out_max);
  float* y = random_floats((size_t)tokens * out_max);
  double best[8];
  for (int l = 0; l < libraries; ++l) best[l] = 1e300;
  for (int round = 0; round < rounds; ++round)
    for (int l = 0; l < libraries; ++l) {
      const double t = best_pass(sgemm[l], shapes, tokens, repeat, x, w, y);
      if (t < best[l]) best[l] = t;
      fprintf(stderr, "round %d: %s %.1f ms\n", round, paths[l], 1e3 * t);
    }
  for (int l = 0; l < libraries; ++l)
    printf("%s: %.1f ms, %.1f GFLOP/s; time / first: %.3f\n", paths[l], 1e3 * best[l], gflop / best[l],
           best[l] / best[0]);
  free(x);
  free(w);
  free(y);
  return 0;
}
