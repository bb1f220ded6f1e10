/* Batch normalization on CUDA with our own kernels and the semantics and validation of the
 * CPU backend (native/cpu/tp_batchnorm.c, i.e. oneDNN 2.6). Training: per-channel batch mean
 * and biased variance (two passes; each a fixed split of every channel over several blocks,
 * double partial sums in a fixed element-to-thread order and a fixed tree, then the partials
 * added in order) written to mean/var, running statistics updated as PyTorch
 * does (unbiased variance, momentum); inference: mean/var are inputs. Then an elementwise
 * y = (x - mean) * (scale / sqrt(var + eps)) + shift. Backward (oneDNN's formulas): per channel
 * dshift = sum(dy), dscale = sum(dy * (x - mean)) / sqrt(var + eps) the same way, in one pass
 * (written
 * when affine and non-NULL), then dx = scale / sqrt(var + eps) * (dy - dshift / n -
 * (x - mean) * dscale / (sqrt(var + eps) n)) in training and scale / sqrt(var + eps) * dy in
 * inference (n = N*H*W). No atomics: results are deterministic. Every tensor is plain NCHW. */
#include <math.h>
#include <stdio.h>

#include "tp_cuda_internal.h"
#include "tp_checks.h"

enum { N_, C_, H_, W_, AFFINE, TRAINING };

#define BN_THREADS 512

/* ---- validation (the CPU's checks and messages) ------------------------------------------ */
static int plain_only(const char* op, const char* name, int fmt) {
  TP_REQUIRE(fmt == 0, "%s: %s has format %d, but the CUDA backend has only plain layouts "
             "(format 0)", op, name, fmt);
  return TP_OK;
}

static int check_params(const char* op, const int64_t* p, float eps, int x_fmt) {
  TP_REQUIRE(p != NULL, "%s: params is NULL", op);
  static const char* names[TP_BN_NPARAMS] = {"N", "C", "H", "W", "affine", "training"};
  for (int i = 0; i < TP_BN_NPARAMS; i++) {
    int64_t lo = i >= AFFINE ? 0 : 1, hi = i >= AFFINE ? 1 : ((int64_t)1 << 31) - 1;
    TP_REQUIRE(p[i] >= lo && p[i] <= hi, "%s: %s = %lld must be in [%lld, %lld]", op, names[i],
               (long long)p[i], (long long)lo, (long long)hi);
  }
  TP_REQUIRE(isfinite(eps) && eps >= 0.0f, "%s: eps must be finite and >= 0, got %g", op,
             (double)eps);
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]};
  TP_TRY(tp__check_dims(op, "x", 4, xd));
  return plain_only(op, "x", x_fmt);
}

static int check_vec(const char* op, const char* name, const void* ptr, int64_t C) {
  return tp__check_range(op, name, ptr, 0, C, 4);
}

/* ---- kernels -------------------------------------------------------------------------------- */
/* Per-channel sums are split over S blocks per channel (grid C x S), each summing a fixed
 * contiguous range of the channel's N*HW values in double and a fixed tree; one thread per
 * channel then adds the S partials in order. S depends on the shape alone, so the order of
 * summation (and every result) is the same on every run and every device. */
#define BN_BLOCKS_TARGET 1024 /* about 8 blocks per SM on an H100/H200 */
#define BN_MIN_PER_BLOCK 4096

/* Blocks per channel for C channels of n values each. */
static int64_t bn_splits(int64_t C, int64_t n) {
  int64_t s = (BN_BLOCKS_TARGET + C - 1) / C;
  const int64_t cap = (n + BN_MIN_PER_BLOCK - 1) / BN_MIN_PER_BLOCK;
  if (s > cap) s = cap;
  return s < 1 ? 1 : s;
}

/* Calls f(index into x) for this thread's elements of channel c's values [lo, hi) (row-major
 * over N x HW): lo + t, lo + t + blockDim.x, ... */
template <typename F>
static __device__ __forceinline__ void for_range(int64_t C, int64_t HW, int64_t c, int64_t lo,
                                                 int64_t hi, F f) {
  const int64_t sn = blockDim.x / HW, sq = blockDim.x % HW;
  int64_t j = lo + threadIdx.x, n = j / HW, q = j % HW;
  for (; j < hi; j += blockDim.x) {
    f((n * C + c) * HW + q);
    n += sn, q += sq;
    if (q >= HW) q -= HW, n++;
  }
}

/* Block sum of v in a fixed tree (blockDim.x a power of two); every thread gets it. */
static __device__ double block_sum(double v, double* sh) {
  const int t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    __syncthreads();
  }
  const double r = sh[0];
  __syncthreads();
  return r;
}

enum { SUM_X, SUM_SQDEV, SUM_BWD };

/* Partial sums of block (s, c) into p1[c S + s] (and p2): SUM_X: x; SUM_SQDEV: (x - mu)^2 with
 * mu = mud[c]; SUM_BWD: dy and dy (x - mean[c]). */
template <int MODE>
static __global__ void partial_kernel(const float* x, const float* dy, int64_t C, int64_t HW,
                                      int64_t n, int64_t S, const double* mud, const float* mean,
                                      double* p1, double* p2) {
  __shared__ double sh[BN_THREADS];
  const int64_t c = blockIdx.x, s = blockIdx.y, chunk = (n + S - 1) / S;
  const int64_t lo = s * chunk, hi = lo + chunk < n ? lo + chunk : n;
  double a = 0.0, b = 0.0;
  if (MODE == SUM_X) {
    for_range(C, HW, c, lo, hi, [&](int64_t i) { a += (double)x[i]; });
  } else if (MODE == SUM_SQDEV) {
    const double mu = mud[c];
    for_range(C, HW, c, lo, hi, [&](int64_t i) {
      const double d = (double)x[i] - mu;
      a += d * d;
    });
  } else {
    const double mu = (double)mean[c];
    for_range(C, HW, c, lo, hi, [&](int64_t i) {
      const double g = (double)dy[i];
      a += g, b += g * ((double)x[i] - mu);
    });
  }
  a = block_sum(a, sh);
  if (MODE == SUM_BWD) b = block_sum(b, sh);
  if (threadIdx.x != 0) return;
  p1[c * S + s] = a;
  if (MODE == SUM_BWD) p2[c * S + s] = b;
}

/* Sum of channel c's S partials, in order. */
static __device__ double partials_sum(const double* p, int64_t c, int64_t S) {
  double r = 0.0;
  for (int64_t s = 0; s < S; s++) r += p[c * S + s];
  return r;
}

/* mud[c] = batch mean of channel c (double, for the second pass). */
static __global__ void mean_kernel(const double* p1, int64_t C, int64_t S, double cnt,
                                   double* mud) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c < C) mud[c] = partials_sum(p1, c, S) / cnt;
}

/* Batch mean and biased variance of channel c; running statistics as PyTorch updates them. */
static __global__ void stats_kernel(const double* p1, const double* mud, int64_t C, int64_t S,
                                    double cnt, float* mean, float* var, float* rmean,
                                    float* rvar, float m, float corr) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  const float bm = (float)mud[c], bv = (float)(partials_sum(p1, c, S) / cnt);
  mean[c] = bm, var[c] = bv;
  /* PyTorch: running = (1 - m) * running + m * batch, with the unbiased variance */
  if (rmean) rmean[c] = (1.0f - m) * rmean[c] + m * bm;
  if (rvar) rvar[c] = (1.0f - m) * rvar[c] + m * bv * corr;
}

/* y = (x - mean) * a [+ shift], a = [scale] / sqrt(var + eps) (oneDNN's order) */
static __global__ void norm_kernel(const float* x, float* y, int64_t total, int64_t HW, int64_t C,
                                   const float* mean, const float* var, const float* scale,
                                   const float* shift, float eps) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = (i / HW) % C;
    const float a = (scale ? scale[c] : 1.0f) / sqrtf(var[c] + eps), d = x[i] - mean[c];
    y[i] = shift ? d * a + shift[c] : d * a;
  }
}

/* dshift = sum(dy), dscale = sum(dy (x - mean)) / sqrt(var + eps) from the partials;
 * coef[c], coef[C + c], coef[2C + c] get the dx factors a, b1, b2 (see dx_kernel). */
static __global__ void bwd_stats_kernel(const double* p1, const double* p2, int64_t C, int64_t S,
                                        float nf, const float* var, const float* scale, float eps,
                                        float* dscale, float* dshift, float* coef) {
  const int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double sdy = partials_sum(p1, c, S), sdx = partials_sum(p2, c, S);
  const float inv = 1.0f / sqrtf(var[c] + eps);
  const float g = scale ? scale[c] : 1.0f, dg = (float)(sdx * (double)inv), db = (float)sdy;
  if (dscale) dscale[c] = dg;
  if (dshift) dshift[c] = db;
  coef[c] = g * inv;
  coef[C + c] = db / nf;
  coef[2 * C + c] = dg * inv / nf;
}

/* training: dx = (dy - (b1 + (x - mean) b2)) a; inference: dx = dy a */
static __global__ void dx_kernel(const float* x, const float* dy, float* dx, int64_t total,
                                 int64_t HW, int64_t C, const float* mean, const float* coef,
                                 int training) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = (i / HW) % C;
    float v = dy[i];
    if (training) v -= coef[C + c] + (x[i] - mean[c]) * coef[2 * C + c];
    dx[i] = v * coef[c];
  }
}

/* ---- ABI ------------------------------------------------------------------------------------ */
int tp_batchnorm_query(const int64_t* p, float eps, int x_fmt, int64_t* out) {
  static const char* op = "tp_batchnorm_query";
  TP_REQUIRE(out != NULL, "%s: out is NULL", op);
  TP_TRY(check_params(op, p, eps, x_fmt));
  const int64_t bytes = p[N_] * p[C_] * p[H_] * p[W_] * 4;
  out[0] = 0, out[1] = bytes, out[2] = 0, out[3] = bytes;
  return TP_OK;
}

int tp_batchnorm_fwd(const int64_t* p, float eps, float momentum, int x_fmt, const void* x,
                     const void* scale, const void* shift, void* mean, void* var,
                     void* running_mean, void* running_var, void* y) {
  static const char* op = "tp_batchnorm_fwd";
  TP_TRY(tp__ensure_init());
  TP_TRY(check_params(op, p, eps, x_fmt));
  const int64_t C = p[C_], HW = p[H_] * p[W_], n = p[N_] * HW, total = n * C;
  const int train = p[TRAINING] != 0, affine = p[AFFINE] != 0;
  TP_REQUIRE(isfinite(momentum), "%s: momentum must be finite, got %g", op, (double)momentum);
  TP_REQUIRE(!train || n > 1,
             "%s: training needs more than one value per channel (N*H*W = %lld)", op,
             (long long)n);
  TP_TRY(check_vec(op, "mean", mean, C));
  TP_TRY(check_vec(op, "var", var, C));
  if (affine) {
    TP_TRY(check_vec(op, "scale", scale, C));
    TP_TRY(check_vec(op, "shift", shift, C));
  }
  if (train && running_mean) TP_TRY(check_vec(op, "running_mean", running_mean, C));
  if (train && running_var) TP_TRY(check_vec(op, "running_var", running_var, C));
  TP_TRY(tp__check_range(op, "x", x, 0, total * 4, 1));
  TP_TRY(tp__check_range(op, "y", y, 0, total * 4, 1));
  if (train) {
    const float corr = (float)((double)n / (double)(n - 1));
    const int64_t S = bn_splits(C, n);
    double* part = (double*)tp__scratch_alloc((uint64_t)(C * S + C) * 8);
    if (!part) return TP_ERR_OUT_OF_MEMORY;
    double* mud = part + C * S;
    const dim3 grid((unsigned)C, (unsigned)S);
    const unsigned cb = (unsigned)((C + TP_THREADS - 1) / TP_THREADS);
    const float* xf = (const float*)x;
    partial_kernel<SUM_X><<<grid, BN_THREADS, 0, tp__stream()>>>(xf, NULL, C, HW, n, S, NULL,
                                                                 NULL, part, NULL);
    mean_kernel<<<cb, TP_THREADS, 0, tp__stream()>>>(part, C, S, (double)n, mud);
    partial_kernel<SUM_SQDEV><<<grid, BN_THREADS, 0, tp__stream()>>>(xf, NULL, C, HW, n, S, mud,
                                                                     NULL, part, NULL);
    stats_kernel<<<cb, TP_THREADS, 0, tp__stream()>>>(
        part, mud, C, S, (double)n, (float*)mean, (float*)var, (float*)running_mean,
        (float*)running_var, momentum, corr);
    const int st = tp__launch_check(op);
    tp__scratch_free(part); /* stream-ordered reuse by the caching allocator */
    TP_TRY(st);
  }
  norm_kernel<<<tp__blocks(total), TP_THREADS, 0, tp__stream()>>>(
      (const float*)x, (float*)y, total, HW, C, (const float*)mean, (const float*)var,
      affine ? (const float*)scale : NULL, affine ? (const float*)shift : NULL, eps);
  return tp__launch_check(op);
}

int tp_batchnorm_bwd(const int64_t* p, float eps, int x_fmt, const void* x, int dy_fmt,
                     const void* dy, const void* scale, const void* mean, const void* var,
                     void* dx, void* dscale, void* dshift) {
  static const char* op = "tp_batchnorm_bwd";
  TP_TRY(tp__ensure_init());
  TP_TRY(check_params(op, p, eps, x_fmt));
  const int64_t C = p[C_], HW = p[H_] * p[W_], total = p[N_] * HW * C;
  const int affine = p[AFFINE] != 0;
  TP_TRY(plain_only(op, "dy", dy_fmt));
  TP_TRY(tp__check_range(op, "dy", dy, 0, total * 4, 1));
  TP_TRY(check_vec(op, "mean", mean, C));
  TP_TRY(check_vec(op, "var", var, C));
  if (affine) TP_TRY(check_vec(op, "scale", scale, C));
  if (affine && dscale) TP_TRY(check_vec(op, "dscale", dscale, C));
  if (affine && dshift) TP_TRY(check_vec(op, "dshift", dshift, C));
  TP_TRY(tp__check_range(op, "x", x, 0, total * 4, 1));
  TP_TRY(tp__check_range(op, "dx", dx, 0, total * 4, 1));
  const int64_t n = p[N_] * HW, S = bn_splits(C, n);
  float* coef = (float*)tp__scratch_alloc((uint64_t)C * 3 * 4);
  double* part = (double*)tp__scratch_alloc((uint64_t)C * S * 2 * 8);
  if (!coef || !part) {
    tp__scratch_free(coef), tp__scratch_free(part);
    return TP_ERR_OUT_OF_MEMORY;
  }
  partial_kernel<SUM_BWD><<<dim3((unsigned)C, (unsigned)S), BN_THREADS, 0, tp__stream()>>>(
      (const float*)x, (const float*)dy, C, HW, n, S, NULL, (const float*)mean, part,
      part + C * S);
  bwd_stats_kernel<<<(unsigned)((C + TP_THREADS - 1) / TP_THREADS), TP_THREADS, 0,
                     tp__stream()>>>(part, part + C * S, C, S, (float)n, (const float*)var,
                                     affine ? (const float*)scale : NULL, eps,
                                     affine ? (float*)dscale : NULL,
                                     affine ? (float*)dshift : NULL, coef);
  int s = tp__launch_check(op);
  if (s == TP_OK) {
    dx_kernel<<<tp__blocks(total), TP_THREADS, 0, tp__stream()>>>(
        (const float*)x, (const float*)dy, (float*)dx, total, HW, C, (const float*)mean, coef,
        p[TRAINING] != 0);
    s = tp__launch_check(op);
  }
  tp__scratch_free(coef), tp__scratch_free(part); /* stream-ordered reuse */
  return s;
}
