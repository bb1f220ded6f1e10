/* Errors, threads, version and backend information. */
#include <omp.h>
#include <xmmintrin.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "tp_internal.h"

static _Thread_local char tp_error[1024];
static int tp_num_threads = 0;
static int tp_flush_denormal = 0;

/* Sets or clears flush-to-zero and denormals-are-zero on this thread and every OpenMP
 * worker (MXCSR is per thread; the workers persist, so one region reaches them all). */
static void apply_denormal_mode(int on, int threads) {
  const unsigned bits = 0x8040; /* FTZ | DAZ */
  _mm_setcsr(on ? (_mm_getcsr() | bits) : (_mm_getcsr() & ~bits));
#pragma omp parallel num_threads(threads)
  _mm_setcsr(on ? (_mm_getcsr() | bits) : (_mm_getcsr() & ~bits));
}

int tp__fail(int status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tp_error, sizeof tp_error, fmt, ap);
  va_end(ap);
  return status;
}

const char* tp_last_error(void) { return tp_error; }

int tp_abi_version(void) { return TP_ABI_VERSION; }

int tp_synchronize(void) { return TP_OK; } /* every CPU call has finished when it returns */
/* oneDNN's primitive choice depends only on the machine and the shapes: nothing to keep. */
int tp_conv_algorithms_file(const char* path) {
  (void)path;
  return TP_OK;
}

int tp__threads(void) {
  return tp_num_threads > 0 ? tp_num_threads : omp_get_max_threads();
}

int tp_set_num_threads(int n) {
  TP_REQUIRE(n >= 1 && n <= 4096, "tp_set_num_threads: thread count must be in [1, 4096], got %d", n);
  tp_num_threads = n;
  omp_set_num_threads(n);
  apply_denormal_mode(tp_flush_denormal, n);
  return TP_OK;
}

int tp_set_flush_denormal(int on) {
  TP_REQUIRE(on == 0 || on == 1, "tp_set_flush_denormal: expected 0 or 1, got %d", on);
  tp_flush_denormal = on;
  apply_denormal_mode(on, tp__threads());
  return TP_OK;
}

int tp_get_num_threads(int* out) {
  TP_REQUIRE(out != NULL, "tp_get_num_threads: out is NULL");
  *out = tp__threads();
  return TP_OK;
}

static const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "all";
  }
}

int tp_backend_info(char* buf, int64_t capacity) {
  TP_REQUIRE(buf != NULL && capacity > 0, "tp_backend_info: empty output buffer");
  const dnnl_version_t* v = dnnl_version();
  int n = snprintf(buf, (size_t)capacity,
                   "{\"backend\":\"cpu\",\"abi\":%d,\"onednn\":\"%d.%d.%d\",\"isa\":\"%s\","
                   "\"threads\":%d,\"openmp\":%d,\"flush_denormal\":%s}",
                   TP_ABI_VERSION, v->major, v->minor, v->patch,
                   isa_name(dnnl_get_effective_cpu_isa()), tp__threads(), _OPENMP,
                   tp_flush_denormal ? "true" : "false");
  TP_REQUIRE(n >= 0 && n < capacity, "tp_backend_info: buffer of %lld bytes is too small",
             (long long)capacity);
  return TP_OK;
}

int64_t tp__numel(int ndim, const int64_t* shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

int tp__dtype_size(int dtype) {
  switch (dtype) {
    case TP_F32: return 4;
    case TP_I32: return 4;
    case TP_U8: return 1;
    default: return 0;
  }
}

void tp__parallel_for(int64_t n, int64_t grain, tp_range_fn fn, void* ctx) {
  if (n <= 0) return;
  int nt = tp__threads();
  if (n < grain || nt <= 1) {
    fn(ctx, 0, n);
    return;
  }
  int64_t parts = (n + grain - 1) / grain;
  if (parts > nt) parts = nt;
  if (parts <= 1) {
    fn(ctx, 0, n);
    return;
  }
#pragma omp parallel for schedule(static) num_threads((int)parts)
  for (int64_t t = 0; t < parts; t++) {
    int64_t b = (int64_t)((__int128)n * t / parts), e = (int64_t)((__int128)n * (t + 1) / parts);
    if (e > b) fn(ctx, b, e);
  }
}
