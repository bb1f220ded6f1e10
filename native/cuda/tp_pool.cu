/* 2-D max / average pooling on CUDA with our own kernels and the semantics of the CPU backend
 * (native/cpu/tp_pool.c, i.e. oneDNN 2.6): output size floor((H + pad_top + pad_bottom -
 * kernel_h) / stride_h) + 1, asymmetric padding, padding smaller than the kernel so no window
 * lies wholly in it. Max: starts from -FLT_MAX with window index 0 and takes an element only
 * when strictly greater, in row-major window order (first maximum wins, NaN never wins); the
 * workspace holds that i32 window index kh * kernel_w + kw per output (N*C*P*Q*4 bytes, may
 * be NULL at inference). Avg: sum of the in-input elements divided by kernel_h * kernel_w
 * (include pad) or by their count (exclude pad). Backward runs one thread per input element
 * gathering, in (oh, ow) order, from the outputs whose windows cover it (max: those whose
 * argmax is this element; an argmax index pointing into padding drops its gradient, as
 * oneDNN does); no atomics, so results are deterministic. Every tensor is plain NCHW. */
#include <float.h>
#include <limits.h>
#include <stdio.h>

#include "tp_cuda_internal.h"
#include "tp_checks.h"

enum { N_, C_, H_, W_, KH, KW, SH, SW, PT, PL, PB, PR, KIND };


typedef struct {
  int64_t H, W, KH, KW, SH, SW, PT, PL, P, Q;
  int kind;
} pool_geom;

/* ---- validation (the CPU's checks and messages) ------------------------------------------ */
static int plain_only(const char* op, const char* name, int fmt) {
  TP_REQUIRE(fmt == 0, "%s: %s has format %d, but the CUDA backend has only plain layouts "
             "(format 0)", op, name, fmt);
  return TP_OK;
}

/* Validates p and x_fmt, computes the output size. */
static int check_params(const char* op, const int64_t* p, int x_fmt, int64_t* P, int64_t* Q) {
  TP_REQUIRE(p != NULL, "%s: params is NULL", op);
  static const char* names[TP_POOL_NPARAMS] = {
      "N", "C", "H", "W", "kernel_h", "kernel_w", "stride_h", "stride_w", "pad_top",
      "pad_left", "pad_bottom", "pad_right", "kind"};
  for (int i = 0; i < TP_POOL_NPARAMS; i++) {
    int64_t lo = i >= PT && i <= KIND ? 0 : 1, hi = i == KIND ? 2 : ((int64_t)1 << 31) - 1;
    TP_REQUIRE(p[i] >= lo && p[i] <= hi, "%s: %s = %lld must be in [%lld, %lld]", op, names[i],
               (long long)p[i], (long long)lo, (long long)hi);
  }
  /* a window lying wholly in the padding has no input (PyTorch needs pad <= kernel / 2) */
  TP_REQUIRE(p[PT] < p[KH] && p[PB] < p[KH] && p[PL] < p[KW] && p[PR] < p[KW],
             "%s: padding (%lld,%lld,%lld,%lld) must be smaller than the kernel %lldx%lld", op,
             (long long)p[PT], (long long)p[PL], (long long)p[PB], (long long)p[PR],
             (long long)p[KH], (long long)p[KW]);
  int64_t nh = p[H_] + p[PT] + p[PB] - p[KH], nw = p[W_] + p[PL] + p[PR] - p[KW];
  *P = nh < 0 ? 0 : nh / p[SH] + 1;
  *Q = nw < 0 ? 0 : nw / p[SW] + 1;
  TP_REQUIRE(*P >= 1 && *Q >= 1,
             "%s: empty output: input %lldx%lld, padding (%lld,%lld,%lld,%lld), kernel %lldx%lld",
             op, (long long)p[H_], (long long)p[W_], (long long)p[PT], (long long)p[PL],
             (long long)p[PB], (long long)p[PR], (long long)p[KH], (long long)p[KW]);
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]}, yd[4] = {p[N_], p[C_], *P, *Q};
  TP_TRY(tp__check_dims(op, "x", 4, xd));
  TP_TRY(tp__check_dims(op, "y", 4, yd)); /* P, Q can exceed H, W by the padding */
  TP_TRY(plain_only(op, "x", x_fmt));
  if (p[KIND] == TP_POOL_MAX && p[KH] * p[KW] > INT_MAX)
    return tp__fail(TP_ERR_UNSUPPORTED,
                    "%s: max pooling window %lldx%lld has more positions than the i32 workspace "
                    "indices can address", op, (long long)p[KH], (long long)p[KW]);
  return TP_OK;
}

static pool_geom geom_of(const int64_t* p, int64_t P, int64_t Q) {
  pool_geom g;
  g.H = p[H_], g.W = p[W_], g.KH = p[KH], g.KW = p[KW], g.SH = p[SH], g.SW = p[SW];
  g.PT = p[PT], g.PL = p[PL], g.P = P, g.Q = Q, g.kind = (int)p[KIND];
  return g;
}

/* ---- kernels -------------------------------------------------------------------------------- */
/* Divisor of the average at output (oh, ow). */
static __device__ __forceinline__ float avg_divisor(const pool_geom& g, int64_t oh, int64_t ow) {
  if (g.kind == TP_POOL_AVG_INCLUDE_PAD) return (float)(g.KH * g.KW);
  const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
  const int64_t nh = min(h0 + g.KH, g.H) - max(h0, (int64_t)0);
  const int64_t nw = min(w0 + g.KW, g.W) - max(w0, (int64_t)0);
  return (float)(nh * nw);
}

/* One thread per output; ws (max only) may be NULL. */
static __global__ void pool_fwd_kernel(pool_geom g, int64_t total, const float* x, float* y,
                                       int32_t* ws) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t ow = i % g.Q, t = i / g.Q, oh = t % g.P, nc = t / g.P;
    const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
    const int64_t kh0 = max(-h0, (int64_t)0), kh1 = min(g.KH, g.H - h0);
    const int64_t kw0 = max(-w0, (int64_t)0), kw1 = min(g.KW, g.W - w0);
    const int64_t base = (nc * g.H + h0) * g.W + w0; /* window origin, maybe in padding */
    if (g.kind == TP_POOL_MAX) {
      float best = -FLT_MAX;
      int64_t arg = 0;
      for (int64_t kh = kh0; kh < kh1; kh++)
        for (int64_t kw = kw0; kw < kw1; kw++) {
          const float v = x[base + kh * g.W + kw];
          if (v > best) best = v, arg = kh * g.KW + kw;
        }
      y[i] = best;
      if (ws) ws[i] = (int32_t)arg;
    } else {
      float sum = 0.0f;
      for (int64_t kh = kh0; kh < kh1; kh++)
        for (int64_t kw = kw0; kw < kw1; kw++) sum += x[base + kh * g.W + kw];
      y[i] = sum / avg_divisor(g, oh, ow);
    }
  }
}

/* One thread per input element: dx = sum, in (oh, ow) order, over the outputs whose window
 * covers it of dy (max: when the output's argmax is this element; avg: dy / divisor). */
static __global__ void pool_bwd_kernel(pool_geom g, int64_t total, const float* dy,
                                       const int32_t* ws, float* dx) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t w = i % g.W, t = i / g.W, h = t % g.H, nc = t / g.H;
    const int64_t hp = h + g.PT, wp = w + g.PL; /* padded coordinates */
    /* windows [o*S, o*S + K) containing hp: o >= (hp - K) / S + 1 (when hp >= K), o <= hp / S */
    const int64_t oh0 = hp < g.KH ? 0 : (hp - g.KH) / g.SH + 1, oh1 = min(g.P - 1, hp / g.SH);
    const int64_t ow0 = wp < g.KW ? 0 : (wp - g.KW) / g.SW + 1, ow1 = min(g.Q - 1, wp / g.SW);
    float acc = 0.0f;
    for (int64_t oh = oh0; oh <= oh1; oh++)
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        const int64_t o = (nc * g.P + oh) * g.Q + ow;
        if (g.kind == TP_POOL_MAX) {
          const int64_t arg = ws[o], kh = arg / g.KW, kw = arg - kh * g.KW;
          if (oh * g.SH + kh == hp && ow * g.SW + kw == wp) acc += dy[o];
        } else {
          acc += dy[o] / avg_divisor(g, oh, ow);
        }
      }
    dx[i] = acc;
  }
}

/* ---- ABI ------------------------------------------------------------------------------------ */
int tp_pool2d_query(const int64_t* p, int x_fmt, int64_t* out) {
  static const char* op = "tp_pool2d_query";
  TP_REQUIRE(out != NULL, "%s: out is NULL", op);
  int64_t P = 0, Q = 0;
  TP_TRY(check_params(op, p, x_fmt, &P, &Q));
  const int64_t ny = p[N_] * p[C_] * P * Q;
  out[0] = 0, out[1] = ny * 4, out[2] = p[KIND] == TP_POOL_MAX ? ny * 4 : 0;
  out[3] = 0, out[4] = p[N_] * p[C_] * p[H_] * p[W_] * 4, out[5] = P, out[6] = Q;
  return TP_OK;
}

int tp_pool2d_fwd(const int64_t* p, int x_fmt, const void* x, void* y, void* ws) {
  static const char* op = "tp_pool2d_fwd";
  TP_TRY(tp__ensure_init());
  int64_t P = 0, Q = 0;
  TP_TRY(check_params(op, p, x_fmt, &P, &Q));
  const int is_max = p[KIND] == TP_POOL_MAX;
  const int64_t nx = p[N_] * p[C_] * p[H_] * p[W_], ny = p[N_] * p[C_] * P * Q;
  TP_TRY(tp__check_range(op, "x", x, 0, nx * 4, 1));
  TP_TRY(tp__check_range(op, "y", y, 0, ny * 4, 1));
  if (is_max && ws) TP_TRY(tp__check_range(op, "ws", ws, 0, ny * 4, 1));
  pool_fwd_kernel<<<tp__blocks(ny), TP_THREADS, 0, tp__stream()>>>(
      geom_of(p, P, Q), ny, (const float*)x, (float*)y, is_max ? (int32_t*)ws : NULL);
  return tp__launch_check(op);
}

int tp_pool2d_bwd(const int64_t* p, int x_fmt, int dy_fmt, const void* dy, const void* ws,
                  void* dx) {
  static const char* op = "tp_pool2d_bwd";
  TP_TRY(tp__ensure_init());
  int64_t P = 0, Q = 0;
  TP_TRY(check_params(op, p, x_fmt, &P, &Q));
  const int is_max = p[KIND] == TP_POOL_MAX;
  const int64_t nx = p[N_] * p[C_] * p[H_] * p[W_], ny = p[N_] * p[C_] * P * Q;
  TP_TRY(plain_only(op, "dy", dy_fmt));
  TP_TRY(tp__check_range(op, "dy", dy, 0, ny * 4, 1));
  TP_TRY(tp__check_range(op, "dx", dx, 0, nx * 4, 1));
  TP_REQUIRE(!is_max || ws, "%s: max pooling backward needs the forward's ws", op);
  if (is_max) TP_TRY(tp__check_range(op, "ws", ws, 0, ny * 4, 1));
  pool_bwd_kernel<<<tp__blocks(nx), TP_THREADS, 0, tp__stream()>>>(
      geom_of(p, P, Q), nx, (const float*)dy, is_max ? (const int32_t*)ws : NULL, (float*)dx);
  return tp__launch_check(op);
}
