/* Fused attack steps on dense f32 [batch, dim] inputs in [0, 1], on the device, with the CPU
 * backend's arithmetic. Linf: x = clamp(clamp(fmaf(alpha, sign(g), x), x0 - eps, x0 + eps),
 * 0, 1) per element, sign(0) = sign(NaN) = 0. L2 (and projection): one block per example; the
 * norms ||g|| and ||delta|| are sums of exact double squares, each thread adding its strided
 * elements in index order and the block combining the partial sums in a fixed tree, so results
 * never depend on timing (no atomics), but the double rounding order differs from the CPU's
 * sequential sum, so s = alpha / ||g|| or the eps scale can, very rarely, differ from the CPU
 * in the last bit of the float. The element steps copy the roundings gcc -O3 -march=native
 * gives the CPU code on FMA hardware: delta = fmaf(s, g, x) - x0, x = clamp(fmaf(delta, f,
 * x0), 0, 1). x is updated in place and must not share a buffer with x0 or g; eps >= 0 (inf
 * allowed); a NaN in x stays NaN. No host sync. */
#include <math.h>

#include "tp_cuda_internal.h"

/* Comparisons as on the CPU (not fminf/fmaxf), so a NaN x stays NaN. */
static __device__ __forceinline__ float clampf(float v, float lo, float hi) {
  return v < lo ? lo : v > hi ? hi : v;
}
static __device__ __forceinline__ float clamp01(float v) { return clampf(v, 0.0f, 1.0f); }
static __device__ __forceinline__ float sign0(float v) {
  return v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f;
}

static int check_args(const char* f, int64_t batch, int64_t dim, const void* x, const void* x0,
                      const void* g, float eps, int64_t* n) {
  TP_REQUIRE(batch >= 0 && dim >= 0, "%s: negative size batch=%lld dim=%lld", f,
             (long long)batch, (long long)dim);
  TP_REQUIRE(!__builtin_mul_overflow(batch, dim, n) && *n <= ((int64_t)1 << 56),
             "%s: batch=%lld x dim=%lld is too large", f, (long long)batch, (long long)dim);
  TP_REQUIRE(eps >= 0, "%s: eps must be >= 0, got %g", f, (double)eps);
  if (*n == 0) return TP_OK;
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_range(f, "x", x, 0, *n, 4));
  TP_TRY(tp__check_range(f, "x0", x0, 0, *n, 4));
  if (g) TP_TRY(tp__check_range(f, "g", g, 0, *n, 4));
  TP_REQUIRE(x != x0 && x != g, "%s: x shares a buffer with x0 or g", f);
  return TP_OK;
}

/* Linf step (g != NULL) or projection (g == NULL), one thread per element. */
static __global__ void linf_kernel(int64_t n, float* __restrict__ x,
                                   const float* __restrict__ x0, const float* __restrict__ g,
                                   float alpha, float eps) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    float v = g ? fmaf(alpha, sign0(g[i]), x[i]) : x[i];
    const float c = x0[i];
    v = clampf(v, __fsub_rn(c, eps), __fadd_rn(c, eps));
    x[i] = clamp01(v);
  }
}

#define L2_WARPS (TP_THREADS / 32)

/* Sum of each thread's v over the block in a fixed order; every thread gets the result. */
static __device__ __forceinline__ double block_sum(double v, double* sh) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = __dadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  double s = sh[0];
#pragma unroll
  for (int w = 1; w < L2_WARPS; w++) s = __dadd_rn(s, sh[w]);
  __syncthreads(); /* sh is reused by the next call */
  return s;
}

/* L2 step (g != NULL) or projection (g == NULL); one block (TP_THREADS) per example. */
static __global__ void __launch_bounds__(TP_THREADS)
    l2_kernel(int64_t batch, int64_t dim, float* __restrict__ x, const float* __restrict__ x0,
              const float* __restrict__ g, float alpha, float eps) {
  __shared__ double sh[L2_WARPS];
  for (int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    float* xr = x + b * dim;
    const float* x0r = x0 + b * dim;
    const float* gr = g ? g + b * dim : NULL;
    float s = 0;
    if (gr) {
      double p = 0;
      for (int64_t j = threadIdx.x; j < dim; j += TP_THREADS) {
        const double v = (double)gr[j];
        p = __dadd_rn(p, __dmul_rn(v, v)); /* the square is exact in double */
      }
      const double gn = __dsqrt_rn(block_sum(p, sh));
      s = (float)__ddiv_rn((double)alpha, gn > 1e-12 ? gn : 1e-12);
    }
    double p = 0;
    for (int64_t j = threadIdx.x; j < dim; j += TP_THREADS) {
      const float d = gr ? __fsub_rn(fmaf(gr[j], s, xr[j]), x0r[j]) : __fsub_rn(xr[j], x0r[j]);
      xr[j] = d; /* delta, read back below by this same thread */
      p = __dadd_rn(p, __dmul_rn((double)d, (double)d));
    }
    const double dn = __dsqrt_rn(block_sum(p, sh));
    const float f = dn > (double)eps ? (float)__ddiv_rn((double)eps, dn) : 1.0f;
    for (int64_t j = threadIdx.x; j < dim; j += TP_THREADS)
      xr[j] = clamp01(fmaf(xr[j], f, x0r[j]));
  }
}

static int linf(const char* f, int64_t n, void* x, const void* x0, const void* g, float alpha,
                float eps) {
  linf_kernel<<<tp__blocks(n), TP_THREADS, 0, tp__stream()>>>(n, (float*)x, (const float*)x0,
                                                               (const float*)g, alpha, eps);
  return tp__launch_check(f);
}

static int l2(const char* f, int64_t batch, int64_t dim, void* x, const void* x0, const void* g,
              float alpha, float eps) {
  const unsigned grid = (unsigned)(batch < 65535 * 8 ? batch : 65535 * 8);
  l2_kernel<<<grid, TP_THREADS, 0, tp__stream()>>>(batch, dim, (float*)x, (const float*)x0,
                                                    (const float*)g, alpha, eps);
  return tp__launch_check(f);
}

int tp_attack_step_linf(int64_t batch, int64_t dim, void* x, const void* x0, const void* g,
                        float alpha, float eps) {
  static const char* F = "tp_attack_step_linf";
  int64_t n = 0;
  TP_REQUIRE(!isnan(alpha), "%s: alpha is NaN", F);
  TP_REQUIRE(g != NULL || batch == 0 || dim == 0, "%s: g is NULL", F);
  TP_TRY(check_args(F, batch, dim, x, x0, g, eps, &n));
  if (n == 0) return TP_OK;
  return linf(F, n, x, x0, g, alpha, eps);
}

int tp_attack_step_l2(int64_t batch, int64_t dim, void* x, const void* x0, const void* g,
                      float alpha, float eps) {
  static const char* F = "tp_attack_step_l2";
  int64_t n = 0;
  TP_REQUIRE(!isnan(alpha), "%s: alpha is NaN", F);
  TP_REQUIRE(g != NULL || batch == 0 || dim == 0, "%s: g is NULL", F);
  TP_TRY(check_args(F, batch, dim, x, x0, g, eps, &n));
  if (n == 0) return TP_OK;
  return l2(F, batch, dim, x, x0, g, alpha, eps);
}

int tp_attack_project(int norm, int64_t batch, int64_t dim, void* x, const void* x0, float eps) {
  static const char* F = "tp_attack_project";
  int64_t n = 0;
  TP_REQUIRE(norm == 0 || norm == 2, "%s: norm must be 0 (Linf) or 2 (L2), got %d", F, norm);
  TP_TRY(check_args(F, batch, dim, x, x0, NULL, eps, &n));
  if (n == 0) return TP_OK;
  if (norm == 0) return linf(F, n, x, x0, NULL, 0, eps);
  return l2(F, batch, dim, x, x0, NULL, 0, eps);
}
