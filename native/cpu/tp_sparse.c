/* Sparse inference on CSR weights: conversion from dense, a CSR linear layer and a direct
 * sparse convolution. Both compute kernels are output-stationary: each output (row of a plane,
 * or a tile of the batch at one output position) is accumulated in registers over the non-zero
 * weights of its output channel, then stored once, so the work is proportional to the number
 * of non-zeros and no im2col buffer is built.
 *   - batch >= BATCH_INNER: the input is transposed so the batch is innermost ([in, batch] for
 *     linear, [C, H, W, batch] for convolution) and every non-zero weight becomes an axpy over
 *     a tile of BT batch elements (vectorised, accumulators in registers);
 *   - smaller batches: per example, each non-zero weight is an axpy along an output row.
 * Threads split output channels (and rows), so each output is written by one thread and the
 * sums run in CSR order: results do not depend on the thread count. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tp_onednn.h"

enum { N_, C_, H_, W_, K_, R_, S_, SH, SW, PT, PL, PB, PR, DH, DW, HAS_BIAS };

#define BATCH_INNER 8
#define BT 32 /* batch tile of the batch-inner kernels */

/* Checks a CSR matrix [rows, cols] with nnz entries: buffers, row_ptr and col_idx. */
static int check_csr(const char* op, int64_t rows, int64_t cols, int64_t nnz,
                     const void* row_ptr, const void* col_idx, const void* values) {
  TP_TRY(tp__check_csr_buffers(op, rows, cols, nnz, row_ptr, col_idx, values));
  const int32_t* rp = row_ptr;
  const int32_t* ci = col_idx;
  TP_REQUIRE(rp[0] == 0 && rp[rows] == nnz, "%s: row_ptr runs from %d to %d, expected 0 to %lld",
             op, rp[0], rp[rows], (long long)nnz);
  int bad_row = 0;
  for (int64_t r = 0; r < rows; r++) bad_row |= rp[r] > rp[r + 1];
  if (bad_row) {
    for (int64_t r = 0; r < rows; r++) {
      TP_REQUIRE(rp[r] <= rp[r + 1], "%s: row_ptr decreases at row %lld", op, (long long)r);
    }
  }
  /* Column bounds as a vectorised min/max (a per-call cost of about nnz/16 cycles). */
  int32_t lo = 0, hi = 0;
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (int64_t j = 0; j < nnz; j++) lo = ci[j] < lo ? ci[j] : lo, hi = ci[j] > hi ? ci[j] : hi;
  if (lo < 0 || hi >= cols) {
    for (int64_t j = 0; j < nnz; j++) {
      TP_REQUIRE(ci[j] >= 0 && ci[j] < cols, "%s: col_idx[%lld] = %d is outside [0, %lld)", op,
                 (long long)j, ci[j], (long long)cols);
    }
  }
  return TP_OK;
}

int tp_csr_count(int64_t rows, int64_t cols, const void* dense, int64_t* nnz) {
  static const char* op = "tp_csr_count";
  TP_REQUIRE(nnz != NULL, "%s: nnz is NULL", op);
  TP_REQUIRE(rows >= 1 && cols >= 1, "%s: shape [%lld, %lld] must be >= 1", op, (long long)rows,
             (long long)cols);
  TP_TRY(tp__check_range(op, "dense", dense, 0, rows * cols, 4));
  const float* d = dense;
  int64_t n = 0;
  for (int64_t i = 0; i < rows * cols; i++) n += d[i] != 0.0f;
  *nnz = n;
  return TP_OK;
}

int tp_csr_from_dense(int64_t rows, int64_t cols, const void* dense, int64_t nnz, void* row_ptr,
                      void* col_idx, void* values) {
  static const char* op = "tp_csr_from_dense";
  int64_t have = 0;
  TP_TRY(tp_csr_count(rows, cols, dense, &have));
  TP_REQUIRE(have == nnz, "%s: the matrix has %lld non-zeros, nnz says %lld", op,
             (long long)have, (long long)nnz);
  TP_REQUIRE(nnz < ((int64_t)1 << 31) && cols < ((int64_t)1 << 31),
             "%s: %lld non-zeros or %lld columns exceed i32 indices", op, (long long)nnz,
             (long long)cols);
  TP_TRY(tp__check_range(op, "row_ptr", row_ptr, 0, rows + 1, 4));
  if (nnz) {
    TP_TRY(tp__check_range(op, "col_idx", col_idx, 0, nnz, 4));
    TP_TRY(tp__check_range(op, "values", values, 0, nnz, 4));
  }
  const float* d = dense;
  int32_t* rp = row_ptr;
  int32_t* ci = col_idx;
  float* v = values;
  int32_t k = 0;
  rp[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++) {
      const float w = d[r * cols + c];
      if (w != 0.0f) ci[k] = (int32_t)c, v[k] = w, k++;
    }
    rp[r + 1] = k;
  }
  return TP_OK;
}

/* ---- linear --------------------------------------------------------------------------------- */
typedef struct {
  int64_t batch, in, out;
  const float *x, *xt, *v, *bias;
  const int32_t *rp, *ci;
  float* y;
} lin_ctx;

typedef struct {
  const float* x;
  float* xt;
  int64_t batch, in;
} tr_ctx;

/* Transposes input columns [i0, i1) of x [batch, in] into xt [in, batch], in 16x16 tiles. */
static void transpose_cols(void* p, int64_t i0, int64_t i1) {
  const tr_ctx* c = p;
  const int64_t B = c->batch, in = c->in;
  for (int64_t ib = i0; ib < i1; ib += 16) {
    const int64_t ie = ib + 16 < i1 ? ib + 16 : i1;
    for (int64_t bb = 0; bb < B; bb += 16) {
      const int64_t be = bb + 16 < B ? bb + 16 : B;
      for (int64_t i = ib; i < ie; i++)
        for (int64_t b = bb; b < be; b++) c->xt[i * B + b] = c->x[b * in + i];
    }
  }
}

float* tp__batch_inner_copy(const float* x, int64_t batch, int64_t in) {
  float* xt = tp__scratch_alloc((uint64_t)(in * batch) * 4);
  if (!xt) return NULL;
  tr_ctx c = {x, xt, batch, in};
  tp__parallel_for(in, 1 + 65536 / batch, transpose_cols, &c);
  return xt;
}

/* Batch-inner: output rows [o0, o1), BT examples at a time from xt. */
static void lin_rows_inner(void* p, int64_t o0, int64_t o1) {
  const lin_ctx* c = p;
  const int64_t B = c->batch;
  for (int64_t o = o0; o < o1; o++) {
    const float b0 = c->bias ? c->bias[o] : 0.0f;
    for (int64_t t = 0; t < B; t += BT) {
      const int64_t nt = B - t < BT ? B - t : BT;
      float acc[BT];
      for (int k = 0; k < BT; k++) acc[k] = b0;
      for (int32_t j = c->rp[o]; j < c->rp[o + 1]; j++) {
        const float w = c->v[j];
        const float* xr = c->xt + (int64_t)c->ci[j] * B + t;
        if (nt == BT) {
#pragma omp simd
          for (int k = 0; k < BT; k++) acc[k] += w * xr[k];
        } else {
          for (int64_t k = 0; k < nt; k++) acc[k] += w * xr[k];
        }
      }
      for (int64_t k = 0; k < nt; k++) c->y[(t + k) * c->out + o] = acc[k];
    }
  }
}

/* Batch-outer: one dot product per (example, output) for output rows [o0, o1). */
static void lin_rows_outer(void* p, int64_t o0, int64_t o1) {
  const lin_ctx* c = p;
  for (int64_t b = 0; b < c->batch; b++) {
    const float* xb = c->x + b * c->in;
    for (int64_t o = o0; o < o1; o++) {
      float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      int32_t j = c->rp[o];
      const int32_t e = c->rp[o + 1];
      for (; j + 4 <= e; j += 4) {
        a0 += c->v[j] * xb[c->ci[j]], a1 += c->v[j + 1] * xb[c->ci[j + 1]];
        a2 += c->v[j + 2] * xb[c->ci[j + 2]], a3 += c->v[j + 3] * xb[c->ci[j + 3]];
      }
      for (; j < e; j++) a0 += c->v[j] * xb[c->ci[j]];
      c->y[b * c->out + o] = (c->bias ? c->bias[o] : 0.0f) + ((a0 + a1) + (a2 + a3));
    }
  }
}

int tp_csr_linear(int64_t batch, int64_t in, int64_t out, int64_t nnz, const void* x,
                  const void* row_ptr, const void* col_idx, const void* values, const void* bias,
                  void* y) {
  static const char* op = "tp_csr_linear";
  TP_REQUIRE(batch >= 1, "%s: batch %lld must be >= 1", op, (long long)batch);
  TP_TRY(check_csr(op, out, in, nnz, row_ptr, col_idx, values));
  TP_TRY(tp__check_range(op, "x", x, 0, batch * in, 4));
  TP_TRY(tp__check_range(op, "y", y, 0, batch * out, 4));
  if (bias) TP_TRY(tp__check_range(op, "bias", bias, 0, out, 4));
  TP_REQUIRE(y != x, "%s: y and x share a buffer", op);
  lin_ctx c = {batch, in, out, x, NULL, values, bias, row_ptr, col_idx, y};
  const int64_t grain = 1 + 4096 / (1 + nnz / out) / (batch < BATCH_INNER ? batch : 1);
  if (batch < BATCH_INNER) {
    tp__parallel_for(out, grain, lin_rows_outer, &c);
    return TP_OK;
  }
  float* xt = tp__batch_inner_copy(x, batch, in);
  if (!xt) return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: no memory for the transposed input", op);
  c.xt = xt;
  tp__parallel_for(out, grain, lin_rows_inner, &c);
  tp__scratch_free(xt);
  return TP_OK;
}

/* ---- convolution ------------------------------------------------------------------------------ */
/* One non-zero weight, decoded once per call: input plane offset, the input offsets of output
 * (0, 0) (ih = oh * sh + dh_off, iw = ow * sw + dw_off) and the output rows and columns for
 * which the tap lands inside the input. */
typedef struct {
  int64_t plane;
  int32_t dh_off, dw_off, oh_lo, oh_hi, ow_lo, ow_hi;
} tap;

typedef struct {
  const int64_t* p;
  int64_t P, Q;
  const float *x, *xt, *v, *b;
  const int32_t* rp;
  const tap* taps;
  float* y;
  float* bufs; /* batch-inner: one [P*Q, N] buffer per thread */
} conv_ctx;

/* First and last o in [0, n) with 0 <= o * s + off < lim (lo > hi when none). */
static void valid_range(int64_t off, int64_t s, int64_t lim, int64_t n, int32_t* lo, int32_t* hi) {
  int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t b = lim - 1 - off < 0 ? -1 : (lim - 1 - off) / s;
  if (b > n - 1) b = n - 1;
  *lo = (int32_t)a, *hi = (int32_t)b;
}

/* Transposes x [N, C, H, W] into xt [C, H, W, N] for channels [c0, c1), 16x16 tiles. */
static void conv_transpose(void* q, int64_t c0, int64_t c1) {
  const conv_ctx* c = q;
  const int64_t* p = c->p;
  const int64_t N = p[N_], C = p[C_], HW = p[H_] * p[W_];
  float* xt = (float*)c->xt;
  for (int64_t ch = c0; ch < c1; ch++)
    for (int64_t ib = 0; ib < HW; ib += 16)
      for (int64_t nb = 0; nb < N; nb += 16) {
        const int64_t ie = ib + 16 < HW ? ib + 16 : HW, ne = nb + 16 < N ? nb + 16 : N;
        for (int64_t i = ib; i < ie; i++)
          for (int64_t n = nb; n < ne; n++) xt[(ch * HW + i) * N + n] = c->x[(n * C + ch) * HW + i];
      }
}

/* Batch-inner: output channels [k0, k1). Each output position accumulates BT examples over
 * the channel's taps in registers (output-stationary), into a [P*Q, N] buffer that is then
 * written out as N contiguous planes. */
static void conv_inner(void* q, int64_t k0, int64_t k1) {
  const conv_ctx* c = q;
  const int64_t* p = c->p;
  const int64_t N = p[N_], K = p[K_], P = c->P, Q = c->Q, sh = p[SH], sw = p[SW];
  float* buf = c->bufs + (int64_t)omp_get_thread_num() * P * Q * N;
  for (int64_t k = k0; k < k1; k++) {
    const float b0 = c->b ? c->b[k] : 0.0f;
    const tap* t0 = c->taps + c->rp[k];
    const int32_t nt = c->rp[k + 1] - c->rp[k];
    const float* v0 = c->v + c->rp[k];
    for (int64_t oh = 0; oh < P; oh++)
      for (int64_t ow = 0; ow < Q; ow++)
        for (int64_t t = 0; t < N; t += BT) {
          const int64_t m = N - t < BT ? N - t : BT;
          float acc[BT];
          for (int e = 0; e < BT; e++) acc[e] = b0;
          for (int32_t j = 0; j < nt; j++) {
            const tap* tp = t0 + j;
            if (oh < tp->oh_lo || oh > tp->oh_hi || ow < tp->ow_lo || ow > tp->ow_hi) continue;
            const float w = v0[j];
            const float* xr =
                c->xt + (tp->plane + (oh * sh + tp->dh_off) * p[W_] + ow * sw + tp->dw_off) * N + t;
            if (m == BT) {
#pragma omp simd
              for (int e = 0; e < BT; e++) acc[e] += w * xr[e];
            } else {
              for (int64_t e = 0; e < m; e++) acc[e] += w * xr[e];
            }
          }
          memcpy(buf + (oh * Q + ow) * N + t, acc, (size_t)m * sizeof(float));
        }
    for (int64_t n = 0; n < N; n++) {
      float* yk = c->y + (n * K + k) * P * Q;
      for (int64_t i = 0; i < P * Q; i++) yk[i] = buf[i * N + n];
    }
  }
}

/* Batch-outer: items (n, k) in [i0, i1). Each tap is an axpy over its valid output rows and
 * columns into the channel's output plane, accumulated in a local tile of TILE outputs. */
#define TILE 4096
static void conv_outer(void* q, int64_t i0, int64_t i1) {
  const conv_ctx* c = q;
  const int64_t* p = c->p;
  const int64_t C = p[C_], H = p[H_], W = p[W_], K = p[K_], P = c->P, Q = c->Q;
  const int64_t sh = p[SH], sw = p[SW];
  const int64_t qs = Q < TILE ? Q : TILE, rs = TILE / qs;
  float acc[TILE];
  for (int64_t it = i0; it < i1; it++) {
    const int64_t k = it % K, n = it / K;
    const float b0 = c->b ? c->b[k] : 0.0f;
    const float* xn = c->x + n * C * H * W;
    float* yk = c->y + (n * K + k) * P * Q;
    for (int64_t r0 = 0; r0 < P; r0 += rs)
      for (int64_t q0 = 0; q0 < Q; q0 += qs) {
        const int64_t r1 = r0 + rs < P ? r0 + rs : P, q1 = q0 + qs < Q ? q0 + qs : Q;
        const int64_t wq = q1 - q0;
        for (int64_t i = 0; i < (r1 - r0) * wq; i++) acc[i] = b0;
        for (int32_t j = c->rp[k]; j < c->rp[k + 1]; j++) {
          const tap* tp = c->taps + j;
          const int64_t ra = tp->oh_lo > r0 ? tp->oh_lo : r0, rb = tp->oh_hi < r1 - 1 ? tp->oh_hi : r1 - 1;
          const int64_t qa = tp->ow_lo > q0 ? tp->ow_lo : q0, qb = tp->ow_hi < q1 - 1 ? tp->ow_hi : q1 - 1;
          const float w = c->v[j];
          for (int64_t oh = ra; oh <= rb; oh++) {
            const float* xr = xn + tp->plane + (oh * sh + tp->dh_off) * W + tp->dw_off;
            float* a = acc + (oh - r0) * wq - q0;
            if (sw == 1 && qb - qa >= 8) {
#pragma omp simd
              for (int64_t ow = qa; ow <= qb; ow++) a[ow] += w * xr[ow];
            } else if (sw == 1) { /* short rows: a plain loop beats the vector prologue */
              for (int64_t ow = qa; ow <= qb; ow++) a[ow] += w * xr[ow];
            } else {
              for (int64_t ow = qa; ow <= qb; ow++) a[ow] += w * xr[ow * sw];
            }
          }
        }
        for (int64_t oh = r0; oh < r1; oh++)
          memcpy(yk + oh * Q + q0, acc + (oh - r0) * wq, (size_t)wq * sizeof(float));
      }
  }
}

/* Small output planes at small batch (P <= 16, Q in {1, 2, 4, 8}): the input is zero-padded
 * once, so every tap covers the whole plane with no bounds, and the plane's accumulators have a
 * compile-time width (registers instead of a store/reload per tap and row). Taps hold padded
 * offsets here: plane = ch * Hp * Wp, dh_off = r * dh, dw_off = s * dw. */
#define SMALL_P 16
static inline __attribute__((always_inline)) void small_plane(const conv_ctx* c, const float* xp,
                                                              int64_t Wp, int64_t k, float* yk,
                                                              const int QC) {
  const int64_t P = c->P, sh = c->p[SH], sw = c->p[SW];
  float acc[SMALL_P * 8];
  const float b0 = c->b ? c->b[k] : 0.0f;
  for (int64_t i = 0; i < P * QC; i++) acc[i] = b0;
  for (int32_t j = c->rp[k]; j < c->rp[k + 1]; j++) {
    const tap* tp = c->taps + j;
    const float w = c->v[j];
    const float* xr = xp + tp->plane + tp->dh_off * Wp + tp->dw_off;
    if (sw == 1) {
      /* Unit stride: each row is one contiguous QC-wide vector. */
      for (int64_t oh = 0; oh < P; oh++) {
        const float* row = xr + oh * sh * Wp;
#pragma omp simd
        for (int q = 0; q < QC; q++) acc[oh * QC + q] += w * row[q];
      }
    } else {
      for (int64_t oh = 0; oh < P; oh++) {
        const float* row = xr + oh * sh * Wp;
        for (int q = 0; q < QC; q++) acc[oh * QC + q] += w * row[q * sw];
      }
    }
  }
  memcpy(yk, acc, (size_t)(P * QC) * sizeof(float));
}

/* Items (n, k) in [i0, i1) over the padded input c->xt ([N, C, Hp, Wp]). */
static void conv_small(void* q, int64_t i0, int64_t i1) {
  const conv_ctx* c = q;
  const int64_t* p = c->p;
  const int64_t C = p[C_], K = p[K_], P = c->P, Q = c->Q;
  const int64_t Hp = p[H_] + p[PT] + p[PB], Wp = p[W_] + p[PL] + p[PR];
  for (int64_t it = i0; it < i1; it++) {
    const int64_t k = it % K, n = it / K;
    const float* xp = c->xt + n * C * Hp * Wp;
    float* yk = c->y + (n * K + k) * P * Q;
    switch (Q) {
      case 1: small_plane(c, xp, Wp, k, yk, 1); break;
      case 2: small_plane(c, xp, Wp, k, yk, 2); break;
      case 4: small_plane(c, xp, Wp, k, yk, 4); break;
      default: small_plane(c, xp, Wp, k, yk, 8); break;
    }
  }
}

/* Zero-padded copy of x into xp [N, C, Hp, Wp], planes [i0, i1) of N*C. */
static void conv_pad(void* q, int64_t i0, int64_t i1) {
  const conv_ctx* c = q;
  const int64_t* p = c->p;
  const int64_t H = p[H_], W = p[W_], Hp = H + p[PT] + p[PB], Wp = W + p[PL] + p[PR];
  float* xp = (float*)c->xt;
  for (int64_t i = i0; i < i1; i++) {
    float* dst = xp + i * Hp * Wp;
    memset(dst, 0, (size_t)(Hp * Wp) * sizeof(float));
    for (int64_t h = 0; h < H; h++) {
      memcpy(dst + (h + p[PT]) * Wp + p[PL], c->x + (i * H + h) * W, (size_t)W * sizeof(float));
    }
  }
}

typedef struct {
  const int32_t* ci;
  const tap* tmpl;
  tap* taps;
  int64_t rs, hw;
} decode_ctx;

/* Taps [j0, j1): channel = col / (R*S) by a double reciprocal (exact for col < 2^31). */
static void decode_range(void* q, int64_t j0, int64_t j1) {
  const decode_ctx* d = q;
  const double inv = 1.0 / (double)d->rs;
  for (int64_t j = j0; j < j1; j++) {
    int64_t ch = (int64_t)((double)d->ci[j] * inv);
    int64_t rem = d->ci[j] - ch * d->rs;
    if (rem < 0) ch--, rem += d->rs;
    else if (rem >= d->rs) ch++, rem -= d->rs;
    d->taps[j] = d->tmpl[rem];
    d->taps[j].plane = ch * d->hw;
  }
}

int tp_sparse_conv2d_fwd(const int64_t* p, int64_t nnz, const void* x, const void* row_ptr,
                         const void* col_idx, const void* values, const void* b, void* y) {
  static const char* op = "tp_sparse_conv2d_fwd";
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  const int64_t N = p[N_], C = p[C_], H = p[H_], W = p[W_], K = p[K_], R = p[R_], S = p[S_];
  TP_TRY(check_csr(op, K, C * R * S, nnz, row_ptr, col_idx, values));
  TP_TRY(tp__check_range(op, "x", x, 0, N * C * H * W, 4));
  TP_TRY(tp__check_range(op, "y", y, 0, N * K * P * Q, 4));
  if (p[HAS_BIAS]) TP_TRY(tp__check_range(op, "b", b, 0, K, 4));
  TP_REQUIRE(y != x, "%s: y and x share a buffer", op);
  const int inner = N >= BATCH_INNER;
  /* Scratch from the caching allocator (a fresh malloc of this size would map new pages on
   * every call). */
  tap* taps = tp__scratch_alloc((uint64_t)(nnz ? nnz : 1) * sizeof(tap));
  if (!taps) {
    return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: no memory for %lld taps", op, (long long)nnz);
  }
  /* Taps share their geometry per kernel position (r, s): compute it R*S times, then give
   * each non-zero its plane (the channel by a reciprocal multiply, no division per tap). */
  tap* tmpl = malloc((size_t)(R * S) * sizeof(tap));
  if (!tmpl) {
    tp__scratch_free(taps);
    return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: no memory for %lld kernel positions", op,
                    (long long)(R * S));
  }
  const int64_t Hp = H + p[PT] + p[PB], Wp = W + p[PL] + p[PR];
  const int small = !inner && P <= SMALL_P && (Q == 1 || Q == 2 || Q == 4 || Q == 8);
  for (int64_t r = 0; r < R; r++)
    for (int64_t s = 0; s < S; s++) {
      tap* t = tmpl + r * S + s;
      t->plane = 0;
      t->dh_off = (int32_t)(r * p[DH] - (small ? 0 : p[PT]));
      t->dw_off = (int32_t)(s * p[DW] - (small ? 0 : p[PL]));
      valid_range(t->dh_off, p[SH], H, P, &t->oh_lo, &t->oh_hi);
      valid_range(t->dw_off, p[SW], W, Q, &t->ow_lo, &t->ow_hi);
    }
  decode_ctx d = {col_idx, tmpl, taps, R * S, small ? Hp * Wp : H * W};
  tp__parallel_for(nnz, 16384, decode_range, &d);
  free(tmpl);
  conv_ctx c = {p, P, Q, x, NULL, values, p[HAS_BIAS] ? b : NULL, row_ptr, taps, y, NULL};
  const int64_t per_k = P * Q * (1 + nnz / K);
  int status = TP_OK;
  if (small) {
    float* xp = tp__scratch_alloc((uint64_t)(N * C * Hp * Wp) * 4);
    if (!xp) {
      status = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: no memory for the padded input", op);
    } else {
      c.xt = xp;
      tp__parallel_for(N * C, 1 + 65536 / (Hp * Wp), conv_pad, &c);
      tp__parallel_for(N * K, 1 + 16384 / per_k, conv_small, &c);
    }
    tp__scratch_free(xp);
  } else if (!inner) {
    tp__parallel_for(N * K, 1 + 16384 / per_k, conv_outer, &c);
  } else {
    float* xt = tp__scratch_alloc((uint64_t)(N * C * H * W) * 4);
    float* bufs = tp__scratch_alloc((uint64_t)(tp__threads() * P * Q * N) * 4);
    if (!xt || !bufs) {
      status = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: no memory for the transposed input", op);
    } else {
      c.xt = xt, c.bufs = bufs;
      tp__parallel_for(C, 1 + 65536 / (N * H * W), conv_transpose, &c);
      tp__parallel_for(K, 1 + 16384 / (per_k * N), conv_inner, &c);
    }
    tp__scratch_free(xt);
    tp__scratch_free(bufs);
  }
  tp__scratch_free(taps);
  return status;
}
