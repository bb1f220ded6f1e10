/* 2:4 structured-sparse weights in a compressed layout, and a linear layer on them. A 2:4
 * matrix [rows, cols] (cols a multiple of 4) keeps at most 2 of every 4 consecutive entries of
 * a row; it is stored as values (f32 [rows, cols / 2], the kept entries of each group in
 * column order, a group with fewer than two padded with zeros) and meta (u8 [rows, cols / 4]:
 * bits 0-1 the column of the group's first value, bits 2-3 the second's). Every meta byte
 * decodes to valid columns, so a call needs no per-entry validation. The kernels mirror the
 * CSR linear layer's (tp_sparse.c): per-example dot products below BATCH_INNER, else a
 * transposed input and batch tiles in registers; threads split output rows and sums run in
 * group order, so results do not depend on the thread count. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tp_onednn.h"

#define BATCH_INNER 8
#define BT 32

int tp_nm24_from_dense(int64_t rows, int64_t cols, const void* dense, void* values, void* meta) {
  static const char* op = "tp_nm24_from_dense";
  TP_TRY(tp__check_nm24_from_dense(op, rows, cols, dense, values, meta));
  const float* d = dense;
  float* v = values;
  uint8_t* m = meta;
  const int64_t G = cols / 4;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t g = 0; g < G; g++) {
      const float* q = d + r * cols + 4 * g;
      int idx[2] = {0, 1}, n = 0;
      for (int k = 0; k < 4; k++) {
        if (q[k] == 0.0f) continue;
        TP_REQUIRE(n < 2, "%s: row %lld, columns %lld-%lld hold more than 2 non-zeros: not 2:4",
                   op, (long long)r, (long long)(4 * g), (long long)(4 * g + 3));
        idx[n++] = k;
      }
      /* Fewer than two: pad with zero values at distinct unused columns. */
      if (n == 1 && idx[1] == idx[0]) idx[1] = idx[0] == 0 ? 1 : 0;
      if (n == 1 && idx[1] < idx[0]) idx[1] = idx[0], idx[0] = idx[0] == 0 ? 1 : 0;
      float* vo = v + r * 2 * G + 2 * g;
      vo[0] = q[idx[0]];
      vo[1] = q[idx[1]];
      m[r * G + g] = (uint8_t)(idx[0] | (idx[1] << 2));
    }
  }
  return TP_OK;
}

typedef struct {
  int64_t batch, in, out;
  const float *x, *xt, *v, *bias;
  const uint8_t* m;
  float* y;
} nm_ctx;

/* One dot product per (example, output row), two groups per iteration. */
static void nm_rows_outer(void* p, int64_t o0, int64_t o1) {
  const nm_ctx* c = p;
  const int64_t G = c->in / 4;
  for (int64_t b = 0; b < c->batch; b++) {
    const float* xb = c->x + b * c->in;
    for (int64_t o = o0; o < o1; o++) {
      const float* v = c->v + o * 2 * G;
      const uint8_t* m = c->m + o * G;
      float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      int64_t g = 0;
      for (; g + 2 <= G; g += 2) {
        const float* x0 = xb + 4 * g;
        const uint8_t m0 = m[g], m1 = m[g + 1];
        a0 += v[2 * g] * x0[m0 & 3], a1 += v[2 * g + 1] * x0[(m0 >> 2) & 3];
        a2 += v[2 * g + 2] * x0[4 + (m1 & 3)], a3 += v[2 * g + 3] * x0[4 + ((m1 >> 2) & 3)];
      }
      for (; g < G; g++) {
        a0 += v[2 * g] * xb[4 * g + (m[g] & 3)];
        a1 += v[2 * g + 1] * xb[4 * g + ((m[g] >> 2) & 3)];
      }
      c->y[b * c->out + o] = (c->bias ? c->bias[o] : 0.0f) + ((a0 + a1) + (a2 + a3));
    }
  }
}

/* Batch-inner: output rows [o0, o1), BT examples at a time from the transposed input. */
static void nm_rows_inner(void* p, int64_t o0, int64_t o1) {
  const nm_ctx* c = p;
  const int64_t B = c->batch, G = c->in / 4;
  for (int64_t o = o0; o < o1; o++) {
    const float b0 = c->bias ? c->bias[o] : 0.0f;
    const float* v = c->v + o * 2 * G;
    const uint8_t* m = c->m + o * G;
    for (int64_t t = 0; t < B; t += BT) {
      const int64_t nt = B - t < BT ? B - t : BT;
      float acc[BT];
      for (int k = 0; k < BT; k++) acc[k] = b0;
      for (int64_t g = 0; g < G; g++) {
        const float w0 = v[2 * g], w1 = v[2 * g + 1];
        const float* r0 = c->xt + (4 * g + (m[g] & 3)) * B + t;
        const float* r1 = c->xt + (4 * g + ((m[g] >> 2) & 3)) * B + t;
        if (nt == BT) {
#pragma omp simd
          for (int k = 0; k < BT; k++) acc[k] += w0 * r0[k] + w1 * r1[k];
        } else {
          for (int64_t k = 0; k < nt; k++) acc[k] += w0 * r0[k] + w1 * r1[k];
        }
      }
      for (int64_t k = 0; k < nt; k++) c->y[(t + k) * c->out + o] = acc[k];
    }
  }
}

int tp_nm24_linear(int64_t batch, int64_t in, int64_t out, const void* x, const void* values,
                   const void* meta, const void* bias, void* y) {
  static const char* op = "tp_nm24_linear";
  TP_TRY(tp__check_nm24_linear(op, batch, in, out, x, values, meta, bias, y));
  nm_ctx c = {batch, in, out, x, NULL, values, bias, meta, y};
  const int64_t grain = 1 + 8192 / in / (batch < BATCH_INNER ? batch : 1);
  if (batch < BATCH_INNER) {
    tp__parallel_for(out, grain, nm_rows_outer, &c);
    return TP_OK;
  }
  float* xt = tp__batch_inner_copy(x, batch, in);
  if (!xt) return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: no memory for the transposed input", op);
  c.xt = xt;
  tp__parallel_for(out, grain, nm_rows_inner, &c);
  tp__scratch_free(xt);
  return TP_OK;
}
