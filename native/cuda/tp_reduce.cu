/* tp_reduce for the CUDA backend, with the validation and semantics of the CPU backend
 * (native/cpu/tp_reduce.c) and results that never depend on timing (no atomics). Both dim
 * groups are collapsed as on the CPU. Two schedules, chosen from the shapes only:
 *   - per-thread (R <= 32, or the outputs are closer in memory than the reduced elements and
 *     there are >= max(1024, 16 R) of them, e.g. column sums of a wide, short matrix, where
 *     neighbouring threads then read neighbouring addresses): one thread reduces one output in
 *     row-major order of the reduced dims, summing chunks of TP_REDUCE_CHUNK in double and
 *     adding the chunk sums in chunk order: exactly the CPU's order, so bit-identical results;
 *   - per-chunk: the reduced index space [0, R) of each output is cut into chunks of
 *     TP_REDUCE_CHUNK as on the CPU; one group (a warp when R <= 2048, else a 256-thread block)
 *     reduces one (output, chunk): lane l accumulates elements r0 + l, r0 + l + G, ... in
 *     increasing order in double, then a fixed shared-memory tree (stride G/2, G/4, .., 1)
 *     combines the lanes. With several chunks a second kernel combines the chunk partials of
 *     each output in chunk order in one thread (as the CPU does). Sums can differ from the CPU
 *     in the last double bits (tree inside a chunk), almost never after rounding to float.
 * MAX/MIN propagate NaN (the first NaN); ARGMAX/ARGMIN treat NaN as the extreme value (first
 * NaN wins), else the first occurrence of the extreme; the lane/tree/chunk combination breaks
 * ties by the lower index, so these are exact in both schedules. Empty reductions: SUM and
 * SUM_SQUARES give 0, MEAN gives NaN, MAX/MIN/ARGMAX/ARGMIN fail. */
#include <math.h>
#include <stdlib.h>

#include "tp_cuda_internal.h"

#define RED_THREAD_R 32     /* at most this many reduced elements: per-thread schedule */
#define RED_THREAD_OUT 1024 /* column layouts with >= this many (and >= 16 R) outputs: per-thread */
#define RED_WARP_R 2048     /* at most this many reduced elements: a warp per chunk */
#define RED_THREAD_BLOCK 64 /* threads per block of the per-thread schedule */

typedef struct {
  int op;
  int64_t n_out, R, nchunks;
  tp_layout kl, rl; /* collapsed kept / reduced dims, offsets 0 */
  const float* x;   /* x + x_offset */
  void* y;
  double* psum; /* chunk partials [n_out * nchunks] (sum ops) */
  float* pval;  /* chunk partials (max ops) */
  int64_t* pidx;
} red_arg;

/* ---- host ----------------------------------------------------------------------------------- */

static int is_sum(int op) {
  return op == TP_REDUCE_SUM || op == TP_REDUCE_MEAN || op == TP_REDUCE_SUM_SQUARES;
}

/* Drops size-1 dims and merges contiguous neighbours; always >= 1 dim. */
static void collapse(int ndim, const int64_t* shape, const int64_t* st, tp_layout* l) {
  int nd = 0;
  *l = tp__layout(0, NULL, NULL, 0);
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 1) continue;
    if (nd > 0 && l->strides[nd - 1] == st[i] * shape[i]) {
      l->shape[nd - 1] *= shape[i];
      l->strides[nd - 1] = st[i];
    } else {
      l->shape[nd] = shape[i];
      l->strides[nd] = st[i];
      nd++;
    }
  }
  l->ndim = nd > 0 ? nd : 1; /* scalar: shape [1], stride 0 */
}

/* Validates one dim group; accumulates the element count and the address span. */
static int check_dims(const char* grp, int nd, const int64_t* shape, const int64_t* st,
                      int64_t* count, int64_t* lo, int64_t* hi) {
  const int64_t lim = (int64_t)1 << 61;
  TP_REQUIRE(nd >= 0 && nd <= TP_MAX_DIMS, "tp_reduce: %s_ndim %d outside [0, %d]", grp, nd,
             TP_MAX_DIMS);
  TP_REQUIRE(nd == 0 || (shape != NULL && st != NULL),
             "tp_reduce: %s_shape or %s_strides is NULL", grp, grp);
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

/* ---- device helpers ------------------------------------------------------------------------- */

#define GRID_LOOP(i, n)                                                            \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);        \
       i += (int64_t)gridDim.x * blockDim.x)

/* Offset of reduced index r (one collapsed dim needs no division). */
static __device__ __forceinline__ int64_t red_off(const tp_layout& l, int64_t r) {
  return l.ndim == 1 ? r * l.strides[0] : tp__offset_of(l, r);
}

/* Whether candidate (bv, bi) replaces (av, ai) for max (mx) or min; index < 0 means none.
 * NaN beats numbers; a strictly more extreme value wins; equal values (and two NaNs) keep the
 * lower index. Folding in increasing index order this is the CPU's `better`. */
static __device__ __forceinline__ bool beats(bool mx, float bv, int64_t bi, float av,
                                             int64_t ai) {
  if (bi < 0) return false;
  if (ai < 0) return true;
  const bool an = av != av, bn = bv != bv;
  if (an != bn) return bn;
  if (!an) {
    if (mx ? bv > av : bv < av) return true;
    if (bv != av) return false;
  }
  return bi < ai;
}

static __device__ __forceinline__ void red_finish(const red_arg& c, int64_t o, double s,
                                                  float v, int64_t idx) {
  switch (c.op) {
    case TP_REDUCE_SUM:
    case TP_REDUCE_SUM_SQUARES: ((float*)c.y)[o] = (float)s; break;
    case TP_REDUCE_MEAN: ((float*)c.y)[o] = (float)(s / (double)c.R); break;
    case TP_REDUCE_MAX:
    case TP_REDUCE_MIN: ((float*)c.y)[o] = v; break;
    default: ((int32_t*)c.y)[o] = (int32_t)idx; break;
  }
}

/* ---- kernels -------------------------------------------------------------------------------- */

/* One thread per output, the CPU's exact order: rows of the innermost reduced dim, the outer
 * reduced index advanced with carries; chunk sums restart every TP_REDUCE_CHUNK elements. */
static __global__ void red_thread_kernel(red_arg c) {
  const int op = c.op, rn = c.rl.ndim;
  const bool sum = op == TP_REDUCE_SUM || op == TP_REDUCE_MEAN || op == TP_REDUCE_SUM_SQUARES;
  const bool sq = op == TP_REDUCE_SUM_SQUARES, mx = op == TP_REDUCE_MAX || op == TP_REDUCE_ARGMAX;
  const int64_t rlen = c.rl.shape[rn - 1], rs = c.rl.strides[rn - 1], rows = c.R / rlen;
  GRID_LOOP(o, c.n_out) {
    const float* base = c.x + tp__offset_of(c.kl, o);
    double total = 0, acc = 0;
    int64_t left = TP_REDUCE_CHUNK, vi = -1, r = 0, ooff = 0;
    float v = 0;
    int64_t idx[TP_MAX_DIMS];
    for (int d = 0; d < TP_MAX_DIMS; d++) idx[d] = 0;
    for (int64_t q = 0; q < rows; q++) {
      const float* p = base + ooff;
      for (int64_t i = 0; i < rlen; i++, r++) {
        const float f = p[i * rs];
        if (sum) {
          const double e = f;
          acc += sq ? e * e : e;
          if (--left == 0) total += acc, acc = 0, left = TP_REDUCE_CHUNK;
        } else if (beats(mx, f, r, v, vi)) {
          v = f, vi = r;
        }
      }
      for (int d = rn - 2; d >= 0; d--) { /* next row: carry through the outer dims */
        ooff += c.rl.strides[d];
        if (++idx[d] < c.rl.shape[d]) break;
        ooff -= c.rl.shape[d] * c.rl.strides[d];
        idx[d] = 0;
      }
    }
    red_finish(c, o, total + acc, v, vi);
  }
}

/* One group of G lanes per (output, chunk) work item w = o * nchunks + ch. The loop over items
 * is uniform within a block, so every thread reaches every __syncthreads. */
template <int G>
static __global__ void red_chunk_kernel(red_arg c) {
  __shared__ double ss[TP_THREADS];
  __shared__ float sv[TP_THREADS];
  __shared__ int64_t si[TP_THREADS];
  const int op = c.op, t = threadIdx.x, lane = t % G, gpb = TP_THREADS / G;
  const bool sum = op == TP_REDUCE_SUM || op == TP_REDUCE_MEAN || op == TP_REDUCE_SUM_SQUARES;
  const bool sq = op == TP_REDUCE_SUM_SQUARES, mx = op == TP_REDUCE_MAX || op == TP_REDUCE_ARGMAX;
  const int64_t items = c.n_out * c.nchunks;
  for (int64_t b0 = (int64_t)blockIdx.x * gpb; b0 < items; b0 += (int64_t)gridDim.x * gpb) {
    const int64_t w = b0 + t / G;
    double s = 0;
    float v = 0;
    int64_t vi = -1;
    if (w < items) {
      const int64_t o = w / c.nchunks, ch = w - o * c.nchunks;
      const float* base = c.x + tp__offset_of(c.kl, o);
      const int64_t r0 = ch * TP_REDUCE_CHUNK;
      const int64_t r1 = c.R - r0 < TP_REDUCE_CHUNK ? c.R : r0 + TP_REDUCE_CHUNK;
      for (int64_t r = r0 + lane; r < r1; r += G) {
        const float f = base[red_off(c.rl, r)];
        if (sum) {
          const double e = f;
          s += sq ? e * e : e;
        } else if (beats(mx, f, r, v, vi)) {
          v = f, vi = r;
        }
      }
    }
    ss[t] = s, sv[t] = v, si[t] = vi;
    __syncthreads();
    for (int h = G / 2; h > 0; h >>= 1) { /* fixed tree: lane l takes lane l + h */
      if (lane < h) {
        if (sum) ss[t] += ss[t + h];
        else if (beats(mx, sv[t + h], si[t + h], sv[t], si[t]))
          sv[t] = sv[t + h], si[t] = si[t + h];
      }
      __syncthreads();
    }
    if (lane == 0 && w < items) {
      if (c.nchunks == 1) red_finish(c, w, ss[t], sv[t], si[t]);
      else if (sum) c.psum[w] = ss[t];
      else c.pval[w] = sv[t], c.pidx[w] = si[t];
    }
    __syncthreads(); /* shared arrays are reused by the next item */
  }
}

/* Chunk partials of each output combined in chunk order (the CPU's order). */
static __global__ void red_combine_kernel(red_arg c) {
  const int op = c.op;
  const bool sum = op == TP_REDUCE_SUM || op == TP_REDUCE_MEAN || op == TP_REDUCE_SUM_SQUARES;
  const bool mx = op == TP_REDUCE_MAX || op == TP_REDUCE_ARGMAX;
  const int64_t nc = c.nchunks;
  GRID_LOOP(o, c.n_out) {
    const int64_t k = o * nc;
    if (sum) {
      double s = c.psum[k];
      for (int64_t ch = 1; ch < nc; ch++) s += c.psum[k + ch];
      red_finish(c, o, s, 0, 0);
    } else {
      float v = c.pval[k];
      int64_t i = c.pidx[k];
      for (int64_t ch = 1; ch < nc; ch++)
        if (beats(mx, c.pval[k + ch], c.pidx[k + ch], v, i))
          v = c.pval[k + ch], i = c.pidx[k + ch];
      red_finish(c, o, 0, v, i);
    }
  }
}

static __global__ void red_fill_kernel(float* y, int64_t n, float v) {
  GRID_LOOP(i, n) y[i] = v;
}

/* ---- entry ---------------------------------------------------------------------------------- */

int tp_reduce(int op, int keep_ndim, const int64_t* keep_shape, const int64_t* keep_strides,
              int red_ndim, const int64_t* red_shape, const int64_t* red_strides, const void* x,
              int64_t x_offset, void* y) {
  static const char* F = "tp_reduce";
  TP_REQUIRE(op >= 0 && op < TP_REDUCE_COUNT, "tp_reduce: unknown op %d", op);
  int64_t n_out = 1, R = 1, lo = 0, hi = 0;
  TP_REQUIRE(x_offset >= 0 && x_offset < ((int64_t)1 << 56),
             "tp_reduce: x_offset %lld out of range", (long long)x_offset);
  lo = hi = x_offset;
  TP_TRY(check_dims("keep", keep_ndim, keep_shape, keep_strides, &n_out, &lo, &hi));
  TP_TRY(check_dims("red", red_ndim, red_shape, red_strides, &R, &lo, &hi));
  if (R == 0 && !is_sum(op))
    return tp__fail(TP_ERR_INVALID_ARGUMENT,
                    "tp_reduce: op %d (max/min/argmax/argmin) over an empty set of elements", op);
  TP_REQUIRE(R <= INT32_MAX || (op != TP_REDUCE_ARGMAX && op != TP_REDUCE_ARGMIN),
             "tp_reduce: %lld reduced elements do not fit an i32 index", (long long)R);
  TP_TRY(tp__ensure_init());
  if (n_out == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "y", y, 0, n_out, 4));
  cudaStream_t stream = tp__stream();
  if (R == 0) {
    red_fill_kernel<<<tp__blocks(n_out), TP_THREADS, 0, stream>>>(
        (float*)y, n_out, op == TP_REDUCE_MEAN ? NAN : 0.0f);
    TP_TRY(tp__launch_check(F));
    return TP_OK;
  }
  TP_REQUIRE(lo >= 0, "tp_reduce: x addresses element %lld before its buffer", (long long)lo);
  TP_TRY(tp__check_range(F, "x", x, 0, hi + 1, 4));
  TP_REQUIRE(y != x, "tp_reduce: output y aliases input x");

  red_arg c;
  c.op = op;
  c.n_out = n_out;
  c.R = R;
  c.nchunks = (R + TP_REDUCE_CHUNK - 1) / TP_REDUCE_CHUNK;
  collapse(keep_ndim, keep_shape, keep_strides, &c.kl);
  collapse(red_ndim, red_shape, red_strides, &c.rl);
  c.x = (const float*)x + x_offset;
  c.y = y;
  c.psum = NULL, c.pval = NULL, c.pidx = NULL;

  const int64_t ks = llabs(c.kl.strides[c.kl.ndim - 1]), rs = llabs(c.rl.strides[c.rl.ndim - 1]);
  const bool column = c.kl.shape[c.kl.ndim - 1] > 1 && ks < rs;
  if (R <= RED_THREAD_R || (column && n_out >= RED_THREAD_OUT && n_out / 16 >= R)) {
    int64_t b = (n_out + RED_THREAD_BLOCK - 1) / RED_THREAD_BLOCK;
    if (b > 65535 * 8) b = 65535 * 8;
    red_thread_kernel<<<(unsigned)b, RED_THREAD_BLOCK, 0, stream>>>(c);
    TP_TRY(tp__launch_check(F));
    return TP_OK;
  }

  void* scratch = NULL;
  if (c.nchunks > 1) {
    /* n_out <= 2^56 and nchunks <= 2^42 separately: check the product before forming it */
    const bool fits = n_out <= (INT64_MAX / 16) / c.nchunks;
    const int64_t np = fits ? n_out * c.nchunks : 0;
    if (!fits || !(scratch = tp__scratch_alloc((uint64_t)np * 16)))
      return tp__fail(TP_ERR_OUT_OF_MEMORY, "tp_reduce: out of memory for %lld x %lld chunk "
                      "partials", (long long)n_out, (long long)c.nchunks);
    c.psum = (double*)scratch;
    c.pidx = (int64_t*)scratch;
    c.pval = (float*)((int64_t*)scratch + np);
  }
  const int64_t items = n_out * c.nchunks;
  const int G = R <= RED_WARP_R ? 32 : TP_THREADS;
  int64_t b = (items + TP_THREADS / G - 1) / (TP_THREADS / G);
  if (b > 65535 * 8) b = 65535 * 8;
  if (G == 32) red_chunk_kernel<32><<<(unsigned)b, TP_THREADS, 0, stream>>>(c);
  else red_chunk_kernel<TP_THREADS><<<(unsigned)b, TP_THREADS, 0, stream>>>(c);
  int rc = tp__launch_check(F);
  if (rc == TP_OK && c.nchunks > 1) {
    int64_t bc = (n_out + RED_THREAD_BLOCK - 1) / RED_THREAD_BLOCK;
    if (bc > 65535 * 8) bc = 65535 * 8;
    red_combine_kernel<<<(unsigned)bc, RED_THREAD_BLOCK, 0, stream>>>(c);
    rc = tp__launch_check(F);
  }
  tp__scratch_free(scratch); /* stream-ordered reuse: later work on the stream runs after */
  return rc;
}
