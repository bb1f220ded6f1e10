/* Softmax cross-entropy and log-softmax over rows of a dense [n, c] f32 matrix, on the device.
 * One warp per row (c <= LOSS_BLOCK_C) or one block per row: the row max is taken in float
 * (NaN anywhere makes the row NaN, like the CPU), then sum(exp(x - max)) is accumulated in
 * double, each lane adding its strided columns in order and the lanes combined in a fixed tree,
 * so results never depend on timing; the double sum's rounding order and CUDA's double exp/log
 * (1 ulp) differ from the CPU's sequential glibc sum, so an output can, rarely, differ from the
 * CPU in the last bit of the float. log_softmax_bwd uses fma(-exp(y), sum, dy) in double, the
 * contraction gcc -O3 -march=native gives the CPU code. Labels are checked on the device: the
 * forward runs a check kernel that records the first bad index in scratch memory and reads it
 * back (one stream sync per forward call) before computing, so a bad label fails with the CPU's
 * status and message and leaves `losses` untouched. The backward does not sync: a row with a
 * bad label gets NaN gradients and no error (the forward on the same labels reports it).
 * In place: log_softmax_fwd y == x, log_softmax_bwd dx == dy or dx == y, softmax_xent_bwd
 * dlogits == logits are allowed (each row is fully read before it is written). */
#include <math.h>

#include "tp_cuda_internal.h"

#define LOSS_BLOCK_C 1024 /* wider rows get a whole block */
#define LOSS_WARPS (TP_THREADS / 32)
#define TP_NANF __int_as_float(0x7fffffff)

enum { XENT_FWD, XENT_BWD, LSM_FWD, LSM_BWD };

/* Validates n, c and returns n*c in *nc. */
static int check_nc(const char* f, int64_t n, int64_t c, int64_t* nc) {
  TP_REQUIRE(n >= 0 && c >= 0, "%s: negative size n=%lld c=%lld", f, (long long)n, (long long)c);
  TP_REQUIRE(!__builtin_mul_overflow(n, c, nc) && *nc <= ((int64_t)1 << 56),
             "%s: n=%lld x c=%lld is too large", f, (long long)n, (long long)c);
  return TP_OK;
}

struct loss_args {
  int64_t n, c, dstride;
  const float *x, *y, *dy, *dl;
  const int32_t* lab;
  float* out;
  float scale;
};

/* Max that keeps a NaN once seen. */
static __device__ __forceinline__ float nan_max(float a, float b) {
  return a != a ? a : (b > a || b != b) ? b : a;
}

/* Group (G = 32: a warp, G = TP_THREADS: the block) reductions in a fixed order; every lane
 * of the group gets the same value. */
template <int G>
static __device__ __forceinline__ float group_max(float v, float* sh) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  v = __shfl_sync(0xffffffffu, v, 0);
  if (G == 32) return v;
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  float m = sh[0];
#pragma unroll
  for (int w = 1; w < LOSS_WARPS; w++) m = nan_max(m, sh[w]);
  __syncthreads();
  return m;
}

template <int G>
static __device__ __forceinline__ double group_sum(double v, double* sh) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = __dadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (G == 32) return v; /* xor butterfly: all lanes hold the same sum (a + b == b + a) */
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  double s = sh[0];
#pragma unroll
  for (int w = 1; w < LOSS_WARPS; w++) s = __dadd_rn(s, sh[w]);
  __syncthreads();
  return s;
}

/* log(sum(exp(x))) of one row, stable, in double; NaN if the row holds a NaN. */
template <int G>
static __device__ double row_lse(const float* r, int64_t c, int lane, float* shf,
                                 double* shd) {
  float m = -INFINITY;
  for (int64_t j = lane; j < c; j += G) m = nan_max(m, r[j]);
  m = group_max<G>(m, shf);
  if (m != m) return (double)NAN; /* uniform over the group */
  double s = 0;
  for (int64_t j = lane; j < c; j += G)
    s = __dadd_rn(s, exp(__dsub_rn((double)r[j], (double)m)));
  s = group_sum<G>(s, shd);
  return __dadd_rn((double)m, log(s));
}

template <int G, int OP>
static __global__ void __launch_bounds__(TP_THREADS) loss_kernel(loss_args a) {
  __shared__ float shf[LOSS_WARPS];
  __shared__ double shd[LOSS_WARPS];
  const int R = TP_THREADS / G; /* rows per block */
  const int lane = threadIdx.x % G;
  const int64_t c = a.c;
  /* G == TP_THREADS: R == 1, so the row loop is uniform over the block. */
  for (int64_t i = (int64_t)blockIdx.x * R + threadIdx.x / G; i < a.n;
       i += (int64_t)gridDim.x * R) {
    if (OP == LSM_BWD) {
      const float *yr = a.y + i * c, *gr = a.dy + i * c;
      float* o = a.out + i * c;
      double s = 0;
      for (int64_t j = lane; j < c; j += G) s = __dadd_rn(s, (double)gr[j]);
      s = group_sum<G>(s, shd);
      for (int64_t j = lane; j < c; j += G)
        o[j] = (float)fma(-exp((double)yr[j]), s, (double)gr[j]);
      continue;
    }
    const float* r = a.x + i * c;
    const double lse = row_lse<G>(r, c, lane, shf, shd);
    if (OP == XENT_FWD) {
      const int32_t y = a.lab[i];
      if (lane == 0)
        a.out[i] = y >= 0 && y < c ? (float)__dsub_rn(lse, (double)r[y]) : TP_NANF;
    } else if (OP == XENT_BWD) {
      const int32_t y = a.lab[i];
      const bool bad = y < 0 || y >= c;
      const double g = __dmul_rn((double)a.scale, (double)a.dl[i * a.dstride]);
      float* d = a.out + i * c;
      for (int64_t j = lane; j < c; j += G) {
        const double q = exp(__dsub_rn((double)r[j], lse));
        d[j] = bad ? TP_NANF : (float)__dmul_rn(j == y ? q - 1.0 : q, g);
      }
    } else { /* LSM_FWD */
      float* o = a.out + i * c;
      for (int64_t j = lane; j < c; j += G) o[j] = (float)__dsub_rn((double)r[j], lse);
    }
  }
}

template <int OP>
static int launch(const char* f, const loss_args& a) {
  const int64_t cap = 65535 * 8;
  cudaStream_t st = tp__stream();
  if (a.c > LOSS_BLOCK_C) {
    const unsigned grid = (unsigned)(a.n < cap ? a.n : cap);
    loss_kernel<TP_THREADS, OP><<<grid, TP_THREADS, 0, st>>>(a);
  } else {
    const int64_t b = (a.n + LOSS_WARPS - 1) / LOSS_WARPS;
    loss_kernel<32, OP><<<(unsigned)(b < cap ? b : cap), TP_THREADS, 0, st>>>(a);
  }
  return tp__launch_check(f);
}

/* First index of a label outside [0, c), or ~0 (atomicMin: the result does not depend on
 * timing). */
static __global__ void label_check_kernel(int64_t n, int64_t c, const int32_t* __restrict__ lab,
                                          unsigned long long* first) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int32_t y = lab[i];
    if (y < 0 || y >= c) atomicMin(first, (unsigned long long)i);
  }
}

/* Device check of the labels with one read-back (a stream sync). */
static int check_labels(const char* f, int64_t n, int64_t c, const int32_t* lab) {
  unsigned long long* flag = (unsigned long long*)tp__scratch_alloc(sizeof(unsigned long long));
  if (!flag) return TP_ERR_OUT_OF_MEMORY; /* the allocator set the message */
  cudaStream_t st = tp__stream();
  unsigned long long first = ~0ull;
  int32_t value = 0;
  int s = tp__cuda_status(cudaMemsetAsync(flag, 0xff, sizeof *flag, st), f);
  if (s == TP_OK) {
    label_check_kernel<<<tp__blocks(n), TP_THREADS, 0, st>>>(n, c, lab, flag);
    s = tp__launch_check(f);
  }
  if (s == TP_OK)
    s = tp__cuda_status(cudaMemcpyAsync(&first, flag, sizeof first, cudaMemcpyDeviceToHost, st),
                        f);
  if (s == TP_OK) s = tp__sync(f);
  if (s == TP_OK && first != ~0ull) {
    s = tp__cuda_status(cudaMemcpyAsync(&value, lab + first, sizeof value,
                                        cudaMemcpyDeviceToHost, st),
                        f);
    if (s == TP_OK) s = tp__sync(f);
    if (s == TP_OK)
      s = tp__fail(TP_ERR_INVALID_ARGUMENT, "%s: labels[%lld] = %d is outside [0, %lld)", f,
                   (long long)first, (int)value, (long long)c);
  }
  tp__scratch_free(flag);
  return s;
}

int tp_softmax_xent_fwd(int64_t n, int64_t c, const void* logits, const void* labels,
                        void* losses) {
  static const char* F = "tp_softmax_xent_fwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  if (n == 0) return TP_OK;
  TP_REQUIRE(c >= 1, "%s: c must be >= 1 when n > 0", F);
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_range(F, "logits", logits, 0, nc, 4));
  TP_TRY(tp__check_range(F, "labels", labels, 0, n, 4));
  TP_TRY(tp__check_range(F, "losses", losses, 0, n, 4));
  TP_REQUIRE(losses != logits && losses != labels, "%s: losses aliases logits or labels", F);
  TP_TRY(check_labels(F, n, c, (const int32_t*)labels));
  loss_args a = {};
  a.n = n, a.c = c, a.x = (const float*)logits, a.lab = (const int32_t*)labels;
  a.out = (float*)losses;
  return launch<XENT_FWD>(F, a);
}

int tp_softmax_xent_bwd(int64_t n, int64_t c, const void* logits, const void* labels,
                        const void* dloss, int64_t dloss_stride, float scale, void* dlogits) {
  static const char* F = "tp_softmax_xent_bwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  TP_REQUIRE(dloss_stride == 0 || dloss_stride == 1, "%s: dloss_stride must be 0 or 1, got %lld",
             F, (long long)dloss_stride);
  if (n == 0) return TP_OK;
  TP_REQUIRE(c >= 1, "%s: c must be >= 1 when n > 0", F);
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_range(F, "logits", logits, 0, nc, 4));
  TP_TRY(tp__check_range(F, "labels", labels, 0, n, 4));
  TP_TRY(tp__check_range(F, "dloss", dloss, 0, dloss_stride ? n : 1, 4));
  TP_TRY(tp__check_range(F, "dlogits", dlogits, 0, nc, 4));
  TP_REQUIRE(dlogits != labels && dlogits != dloss, "%s: dlogits aliases labels or dloss", F);
  /* Labels are not read back here (no sync): bad ones give NaN rows. */
  loss_args a = {};
  a.n = n, a.c = c, a.dstride = dloss_stride, a.x = (const float*)logits;
  a.dl = (const float*)dloss, a.lab = (const int32_t*)labels, a.out = (float*)dlogits;
  a.scale = scale;
  return launch<XENT_BWD>(F, a);
}

int tp_log_softmax_fwd(int64_t n, int64_t c, const void* x, void* y) {
  static const char* F = "tp_log_softmax_fwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  if (nc == 0) return TP_OK;
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_range(F, "x", x, 0, nc, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, nc, 4));
  loss_args a = {};
  a.n = n, a.c = c, a.x = (const float*)x, a.out = (float*)y;
  return launch<LSM_FWD>(F, a);
}

int tp_log_softmax_bwd(int64_t n, int64_t c, const void* y, const void* dy, void* dx) {
  static const char* F = "tp_log_softmax_bwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  if (nc == 0) return TP_OK;
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_range(F, "y", y, 0, nc, 4));
  TP_TRY(tp__check_range(F, "dy", dy, 0, nc, 4));
  TP_TRY(tp__check_range(F, "dx", dx, 0, nc, 4));
  loss_args a = {};
  a.n = n, a.c = c, a.y = (const float*)y, a.dy = (const float*)dy, a.out = (float*)dx;
  return launch<LSM_BWD>(F, a);
}
