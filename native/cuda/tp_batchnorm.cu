/* Batch normalization on CUDA with our own kernels and the semantics and validation of the
 * CPU backend (native/cpu/tp_batchnorm.c, i.e. oneDNN 2.6). Training: per-channel batch mean
 * and biased variance (one block per channel, double partial sums in a fixed element-to-thread
 * order, a fixed tree, two passes) written to mean/var, running statistics updated as PyTorch
 * does (unbiased variance, momentum); inference: mean/var are inputs. Then an elementwise
 * y = (x - mean) * (scale / sqrt(var + eps)) + shift. Backward (oneDNN's formulas): per channel
 * dshift = sum(dy), dscale = sum(dy * (x - mean)) / sqrt(var + eps) the same way (written
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
/* This thread's share of f(i) over channel c of x[N, C, HW]: elements t, t + blockDim.x, ...
 * of the channel's N*HW values in row-major order, summed in double. */
template <typename F>
static __device__ __forceinline__ double channel_part(int64_t N, int64_t C, int64_t HW,
                                                      int64_t c, F f) {
  const int64_t sn = blockDim.x / HW, sq = blockDim.x % HW;
  int64_t n = threadIdx.x / HW, q = threadIdx.x % HW;
  double acc = 0.0;
  while (n < N) {
    acc += f((n * C + c) * HW + q);
    n += sn, q += sq;
    if (q >= HW) q -= HW, n++;
  }
  return acc;
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

/* One block per channel: batch mean and biased variance (two passes), running statistics. */
static __global__ void stats_kernel(const float* x, int64_t N, int64_t C, int64_t HW, float* mean,
                                    float* var, float* rmean, float* rvar, float m, float corr) {
  __shared__ double sh[BN_THREADS];
  const int64_t c = blockIdx.x;
  const double cnt = (double)(N * HW);
  const double mu = block_sum(channel_part(N, C, HW, c, [&](int64_t i) { return (double)x[i]; }),
                              sh) / cnt;
  const double ss = block_sum(channel_part(N, C, HW, c,
                                           [&](int64_t i) {
                                             const double d = (double)x[i] - mu;
                                             return d * d;
                                           }),
                              sh);
  if (threadIdx.x != 0) return;
  const float bm = (float)mu, bv = (float)(ss / cnt);
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

/* One block per channel: dshift = sum(dy), dscale = sum(dy (x - mean)) / sqrt(var + eps);
 * coef[c], coef[C + c], coef[2C + c] get the dx factors a, b1, b2 (see dx_kernel). */
static __global__ void bwd_stats_kernel(const float* x, const float* dy, int64_t N, int64_t C,
                                        int64_t HW, const float* mean, const float* var,
                                        const float* scale, float eps, float* dscale,
                                        float* dshift, float* coef) {
  __shared__ double sh[BN_THREADS];
  const int64_t c = blockIdx.x;
  const double mu = (double)mean[c];
  const double sdy =
      block_sum(channel_part(N, C, HW, c, [&](int64_t i) { return (double)dy[i]; }), sh);
  const double sdx = block_sum(
      channel_part(N, C, HW, c, [&](int64_t i) { return (double)dy[i] * ((double)x[i] - mu); }),
      sh);
  if (threadIdx.x != 0) return;
  const float inv = 1.0f / sqrtf(var[c] + eps), nf = (float)(N * HW);
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
    stats_kernel<<<(unsigned)C, BN_THREADS, 0, tp__stream()>>>(
        (const float*)x, p[N_], C, HW, (float*)mean, (float*)var, (float*)running_mean,
        (float*)running_var, momentum, corr);
    TP_TRY(tp__launch_check(op));
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
  float* coef = (float*)tp__scratch_alloc((uint64_t)C * 3 * 4);
  if (!coef) return TP_ERR_OUT_OF_MEMORY;
  bwd_stats_kernel<<<(unsigned)C, BN_THREADS, 0, tp__stream()>>>(
      (const float*)x, (const float*)dy, p[N_], C, HW, (const float*)mean, (const float*)var,
      affine ? (const float*)scale : NULL, eps, affine ? (float*)dscale : NULL,
      affine ? (float*)dshift : NULL, coef);
  int s = tp__launch_check(op);
  if (s == TP_OK) {
    dx_kernel<<<tp__blocks(total), TP_THREADS, 0, tp__stream()>>>(
        (const float*)x, (const float*)dy, (float*)dx, total, HW, C, (const float*)mean, coef,
        p[TRAINING] != 0);
    s = tp__launch_check(op);
  }
  tp__scratch_free(coef); /* stream-ordered reuse by the caching allocator */
  return s;
}
