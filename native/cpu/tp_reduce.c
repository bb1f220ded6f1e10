/* Reductions with thread-count independent results.
 *
 * Both dim groups are collapsed (size-1 dims dropped, contiguous neighbours merged), which keeps
 * the row-major order of outputs and of reduced elements. The reduced index space [0, R) of each
 * output is cut into chunks of TP_REDUCE_CHUNK; a work item is (outputs, chunk), where
 * `outputs` is one output, or a tile of up to RED_TILE neighbours along the innermost kept dim
 * when that dim is closer in memory than the innermost reduced one (column sums: the tile is
 * read as a vector while every output still sums its own elements strictly in order). Chunk
 * sums are in double; chunk partials are combined in chunk order. No step depends on how items
 * are spread over threads.
 *
 * MAX/MIN propagate NaN; ARGMAX/ARGMIN treat NaN as the extreme value (first NaN wins), else the
 * first occurrence of the extreme. Empty reductions: SUM and SUM_SQUARES give 0, MEAN gives NaN,
 * MAX/MIN/ARGMAX/ARGMIN fail. */
#include <math.h>
#include <stdlib.h>

#include "tp_internal.h"

#define RED_TILE 64
#define RED_PAR_MIN 32768

typedef struct {
  int op, kn, rn, tile;
  int64_t kshape[TP_MAX_DIMS], kst[TP_MAX_DIMS], rshape[TP_MAX_DIMS], rst[TP_MAX_DIMS];
  int64_t n_out, R, nchunks, L, tiles_per_row;
  const float* x;
  void* y;
  double* psum; /* partials [n_out * nchunks] (sum ops) */
  float* pval;  /* partials (max ops) */
  int64_t* pidx;
} red_ctx;

static int is_sum(int op) {
  return op == TP_REDUCE_SUM || op == TP_REDUCE_MEAN || op == TP_REDUCE_SUM_SQUARES;
}
static int is_maxop(int op) { return op == TP_REDUCE_MAX || op == TP_REDUCE_ARGMAX; }

/* v replaces cur: strictly more extreme, or the first NaN. */
static inline int better(int maxop, float v, float cur) {
  return (maxop ? v > cur : v < cur) || (v != v && cur == cur);
}

/* Drops size-1 dims and merges contiguous neighbours; always returns >= 1 dim. */
static int collapse(int ndim, const int64_t* shape, const int64_t* st, int64_t* os, int64_t* ost) {
  int nd = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 1) continue;
    if (nd > 0 && ost[nd - 1] == st[i] * shape[i]) {
      os[nd - 1] *= shape[i];
      ost[nd - 1] = st[i];
    } else {
      os[nd] = shape[i];
      ost[nd] = st[i];
      nd++;
    }
  }
  if (nd == 0) os[0] = 1, ost[0] = 0, nd = 1;
  return nd;
}

/* Validates one dim group; accumulates the element count and the address span. */
static int check_dims(const char* grp, int nd, const int64_t* shape, const int64_t* st,
                      int64_t* count, int64_t* lo, int64_t* hi) {
  const int64_t lim = (int64_t)1 << 61;
  TP_REQUIRE(nd >= 0 && nd <= TP_MAX_DIMS, "tp_reduce: %s_ndim %d outside [0, %d]", grp, nd,
             TP_MAX_DIMS);
  TP_REQUIRE(nd == 0 || (shape != NULL && st != NULL), "tp_reduce: %s_shape or %s_strides is NULL",
             grp, grp);
  for (int i = 0; i < nd; i++) {
    TP_REQUIRE(shape[i] >= 0, "tp_reduce: %s_shape[%d] = %lld is negative", grp, i,
               (long long)shape[i]);
    TP_REQUIRE(st[i] > -lim && st[i] < lim, "tp_reduce: %s_strides[%d] = %lld out of range", grp,
               i, (long long)st[i]);
    if (*count != 0 && shape[i] != 0)
      TP_REQUIRE(!__builtin_mul_overflow(*count, shape[i], count) && *count <= ((int64_t)1 << 56),
                 "tp_reduce: too many elements");
    else
      *count = 0;
    int64_t d = shape[i] > 0 ? shape[i] - 1 : 0, span;
    TP_REQUIRE(!__builtin_mul_overflow(d, st[i], &span) && span > -lim && span < lim,
               "tp_reduce: %s dim %d spans too many elements", grp, i);
    if (span < 0) *lo += span; else *hi += span;
    TP_REQUIRE(*lo > -lim && *hi < lim, "tp_reduce: layout spans too many elements");
  }
  return TP_OK;
}

/* Element offset of flat output index o (relative to x). */
static int64_t keep_offset(const red_ctx* c, int64_t o) {
  int64_t off = 0;
  for (int d = c->kn - 1; d >= 0; d--) {
    off += (o % c->kshape[d]) * c->kst[d];
    o /= c->kshape[d];
  }
  return off;
}

static void finish(const red_ctx* c, int64_t o, double s, float v, int64_t idx) {
  switch (c->op) {
    case TP_REDUCE_SUM:
    case TP_REDUCE_SUM_SQUARES: ((float*)c->y)[o] = (float)s; break;
    case TP_REDUCE_MEAN: ((float*)c->y)[o] = (float)(s / (double)c->R); break;
    case TP_REDUCE_MAX:
    case TP_REDUCE_MIN: ((float*)c->y)[o] = v; break;
    default: ((int32_t*)c->y)[o] = (int32_t)idx; break;
  }
}

/* One work item: outputs [o0, o0 + cnt) along the innermost kept dim, chunk `ch`. */
static void red_item(const red_ctx* c, int64_t o0, int cnt, int64_t ch) {
  const int op = c->op, sum = is_sum(op), sq = op == TP_REDUCE_SUM_SQUARES, mx = is_maxop(op);
  const int rn = c->rn;
  const int64_t ks = c->kst[c->kn - 1], rs = c->rst[rn - 1];
  const float* base = c->x + keep_offset(c, o0);
  int64_t r0 = ch * TP_REDUCE_CHUNK, r1 = r0 + TP_REDUCE_CHUNK;
  if (r1 > c->R) r1 = c->R;
  double acc[RED_TILE];
  float val[RED_TILE];
  int64_t idx[RED_TILE];
  /* position of r0 in the reduced dims */
  int64_t ri[TP_MAX_DIMS], roff = 0, t = r0;
  for (int d = rn - 1; d >= 0; d--) {
    ri[d] = t % c->rshape[d];
    t /= c->rshape[d];
    roff += ri[d] * c->rst[d];
  }
  for (int j = 0; j < cnt; j++) acc[j] = 0, val[j] = base[roff + j * ks], idx[j] = r0;
  for (int64_t r = r0; r < r1;) {
    int64_t len = c->rshape[rn - 1] - ri[rn - 1];
    if (len > r1 - r) len = r1 - r;
    const float* p = base + roff;
    if (cnt == 1) {
      if (sum) {
        double s = acc[0];
        if (sq) for (int64_t i = 0; i < len; i++) { double v = p[i * rs]; s += v * v; }
        else if (rs == 1) for (int64_t i = 0; i < len; i++) s += p[i];
        else for (int64_t i = 0; i < len; i++) s += p[i * rs];
        acc[0] = s;
      } else {
        float v0 = val[0];
        int64_t i0 = idx[0];
        if (mx) {
          for (int64_t i = 0; i < len; i++)
            if (better(1, p[i * rs], v0)) v0 = p[i * rs], i0 = r + i;
        } else {
          for (int64_t i = 0; i < len; i++)
            if (better(0, p[i * rs], v0)) v0 = p[i * rs], i0 = r + i;
        }
        val[0] = v0, idx[0] = i0;
      }
    } else {
      for (int64_t i = 0; i < len; i++) {
        const float* q = p + i * rs;
        if (sq) for (int j = 0; j < cnt; j++) { double v = q[j * ks]; acc[j] += v * v; }
        else if (sum && ks == 1) for (int j = 0; j < cnt; j++) acc[j] += q[j];
        else if (sum) for (int j = 0; j < cnt; j++) acc[j] += q[j * ks];
        else
          for (int j = 0; j < cnt; j++)
            if (better(mx, q[j * ks], val[j])) val[j] = q[j * ks], idx[j] = r + i;
      }
    }
    r += len;
    ri[rn - 1] += len;
    roff += len * rs;
    for (int d = rn - 1; d > 0 && ri[d] == c->rshape[d]; d--) {
      ri[d] = 0;
      ri[d - 1]++;
      roff += c->rst[d - 1] - c->rshape[d] * c->rst[d];
    }
  }
  for (int j = 0; j < cnt; j++) {
    if (c->nchunks == 1) {
      finish(c, o0 + j, acc[j], val[j], idx[j]);
    } else {
      int64_t k = (o0 + j) * c->nchunks + ch;
      if (sum) c->psum[k] = acc[j];
      else c->pval[k] = val[j], c->pidx[k] = idx[j];
    }
  }
}

static void red_range(void* p, int64_t b, int64_t e) {
  const red_ctx* c = p;
  for (int64_t w = b; w < e; w++) {
    int64_t ch = w % c->nchunks, tl = w / c->nchunks;
    int64_t row = tl / c->tiles_per_row, t = tl % c->tiles_per_row;
    int64_t j0 = t * c->tile, cnt = c->L - j0 < c->tile ? c->L - j0 : c->tile;
    red_item(c, row * c->L + j0, (int)cnt, ch);
  }
}

int tp_reduce(int op, int keep_ndim, const int64_t* keep_shape, const int64_t* keep_strides,
              int red_ndim, const int64_t* red_shape, const int64_t* red_strides, const void* x,
              int64_t x_offset, void* y) {
  static const char* F = "tp_reduce";
  TP_REQUIRE(op >= 0 && op < TP_REDUCE_COUNT, "tp_reduce: unknown op %d", op);
  int64_t n_out = 1, R = 1, lo = 0, hi = 0;
  TP_REQUIRE(x_offset >= 0 && x_offset < ((int64_t)1 << 56), "tp_reduce: x_offset %lld out of range",
             (long long)x_offset);
  lo = hi = x_offset;
  TP_TRY(check_dims("keep", keep_ndim, keep_shape, keep_strides, &n_out, &lo, &hi));
  TP_TRY(check_dims("red", red_ndim, red_shape, red_strides, &R, &lo, &hi));
  if (R == 0 && !is_sum(op))
    return tp__fail(TP_ERR_INVALID_ARGUMENT,
                    "tp_reduce: op %d (max/min/argmax/argmin) over an empty set of elements", op);
  TP_REQUIRE(R <= INT32_MAX || (op != TP_REDUCE_ARGMAX && op != TP_REDUCE_ARGMIN),
             "tp_reduce: %lld reduced elements do not fit an i32 index", (long long)R);
  if (n_out == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "y", y, 0, n_out, 4));
  if (R == 0) {
    float v = op == TP_REDUCE_MEAN ? NAN : 0.0f;
    for (int64_t o = 0; o < n_out; o++) ((float*)y)[o] = v;
    return TP_OK;
  }
  TP_REQUIRE(lo >= 0, "tp_reduce: x addresses element %lld before its buffer", (long long)lo);
  TP_TRY(tp__check_range(F, "x", x, 0, hi + 1, 4));
  TP_REQUIRE(y != x, "tp_reduce: output y aliases input x");

  red_ctx c = {0};
  c.op = op;
  c.x = (const float*)x + x_offset;
  c.y = y;
  c.n_out = n_out;
  c.R = R;
  c.kn = collapse(keep_ndim, keep_shape, keep_strides, c.kshape, c.kst);
  c.rn = collapse(red_ndim, red_shape, red_strides, c.rshape, c.rst);
  c.nchunks = (R + TP_REDUCE_CHUNK - 1) / TP_REDUCE_CHUNK;
  c.L = c.kshape[c.kn - 1];
  int64_t ks = llabs(c.kst[c.kn - 1]), rs = llabs(c.rst[c.rn - 1]);
  c.tile = (c.L > 1 && (R == 1 || ks < rs)) ? RED_TILE : 1;
  c.tiles_per_row = (c.L + c.tile - 1) / c.tile;

  void* scratch = NULL;
  if (c.nchunks > 1) {
    scratch = tp__scratch_alloc((uint64_t)(n_out * c.nchunks) * 16);
    if (!scratch)
      return tp__fail(TP_ERR_OUT_OF_MEMORY, "tp_reduce: out of memory for %lld chunk partials",
                      (long long)(n_out * c.nchunks));
    c.psum = scratch;
    c.pidx = scratch;
    c.pval = (float*)((int64_t*)scratch + n_out * c.nchunks);
  }
  /* items: (row of the kept dims but the innermost, tile, chunk); grain ~ RED_PAR_MIN elements */
  const int64_t items = (n_out / c.L) * c.tiles_per_row * c.nchunks;
  const int64_t per_item = c.tile * (R < TP_REDUCE_CHUNK ? R : TP_REDUCE_CHUNK);
  tp__parallel_for(items, (RED_PAR_MIN + per_item - 1) / per_item, red_range, &c);
  if (c.nchunks > 1) {
    const int mx = is_maxop(op);
    const int64_t nc = c.nchunks;
    for (int64_t o = 0; o < n_out; o++) {
      const int64_t k = o * nc;
      if (is_sum(op)) {
        double s = c.psum[k];
        for (int64_t ch = 1; ch < nc; ch++) s += c.psum[k + ch];
        finish(&c, o, s, 0, 0);
      } else {
        float v = c.pval[k];
        int64_t i = c.pidx[k];
        for (int64_t ch = 1; ch < nc; ch++)
          if (better(mx, c.pval[k + ch], v)) v = c.pval[k + ch], i = c.pidx[k + ch];
        finish(&c, o, 0, v, i);
      }
    }
  }
  tp__scratch_free(scratch);
  return TP_OK;
}
