/* Elementwise kernels over strided n-d views: unary, binary, where, strided copy, cast.
 *
 * Operands are collapsed first (size-1 dims dropped, adjacent dims merged where every operand
 * is contiguous across them), then the dense output's flat index range is split evenly among
 * threads; each thread walks its range in runs along the innermost dim. A fully contiguous
 * call is one run with unit strides, which the inner loops special-case.
 *
 * NaN: RELU(NaN) = NaN (as PyTorch, so NaNs in training surface); CLAMP uses fminf(fmaxf(x, a), b), so CLAMP(NaN) = a;
 * SIGN(NaN) = NaN; binary MAX/MIN propagate NaN (like torch.maximum); where() takes a when
 * cond is NaN (cond != 0). POW uses x*x for a == 2, sqrtf for a == 0.5, x for a == 1, else
 * powf. AFFINE is fmaf(a, x, b) (one rounding).
 *
 * Aliasing: the output may be the buffer of an input only when that input is the identical
 * dense row-major view (offset 0, contiguous strides); anything else is rejected. Calls with
 * zero elements touch no buffer and do not check pointers. */
#include <math.h>
#include <string.h>

#include "tp_internal.h"

#define EW_PAR_MIN 32768
#define EW_MAX_OPS 3

typedef struct {
  int ndim, nops;
  int64_t shape[TP_MAX_DIMS];
  int64_t st[EW_MAX_OPS][TP_MAX_DIMS];
  int64_t off[EW_MAX_OPS];
} ew_iter;

/* Inner-run callback: `len` outputs starting at flat index `o`; p[k] are element offsets of
 * the inputs, s[k] their strides along the run. */
typedef void (*ew_run_fn)(const void* ctx, int64_t len, const int64_t* p, const int64_t* s,
                          int64_t o);

/* Builds the collapsed iterator for `nops` inputs over `shape`. */
static void ew_build(ew_iter* it, int ndim, const int64_t* shape, int nops,
                     const int64_t* const* strides, const int64_t* offsets) {
  int nd = 0;
  it->nops = nops;
  for (int k = 0; k < nops; k++) it->off[k] = offsets[k];
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 1) continue;
    int merge = nd > 0;
    for (int k = 0; k < nops && merge; k++)
      if (it->st[k][nd - 1] != strides[k][i] * shape[i]) merge = 0;
    if (merge) {
      it->shape[nd - 1] *= shape[i];
      for (int k = 0; k < nops; k++) it->st[k][nd - 1] = strides[k][i];
    } else {
      it->shape[nd] = shape[i];
      for (int k = 0; k < nops; k++) it->st[k][nd] = strides[k][i];
      nd++;
    }
  }
  if (nd == 0) {
    it->shape[0] = 1;
    for (int k = 0; k < nops; k++) it->st[k][0] = 0;
    nd = 1;
  }
  it->ndim = nd;
}

/* Walks flat output indices [s, e) in runs along the innermost dim. */
static void ew_walk(const ew_iter* it, int64_t s, int64_t e, ew_run_fn fn, const void* ctx) {
  int nd = it->ndim, nk = it->nops;
  int64_t idx[TP_MAX_DIMS], p[EW_MAX_OPS], in[EW_MAX_OPS];
  int64_t r = s;
  for (int k = 0; k < nk; k++) p[k] = it->off[k], in[k] = it->st[k][nd - 1];
  for (int d = nd - 1; d >= 0; d--) {
    idx[d] = r % it->shape[d];
    r /= it->shape[d];
    for (int k = 0; k < nk; k++) p[k] += idx[d] * it->st[k][d];
  }
  for (int64_t o = s; o < e;) {
    int64_t len = it->shape[nd - 1] - idx[nd - 1];
    if (len > e - o) len = e - o;
    fn(ctx, len, p, in, o);
    o += len;
    idx[nd - 1] += len;
    for (int k = 0; k < nk; k++) p[k] += len * in[k];
    for (int d = nd - 1; d > 0 && idx[d] == it->shape[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
      for (int k = 0; k < nk; k++) p[k] += it->st[k][d - 1] - it->shape[d] * it->st[k][d];
    }
  }
}

typedef struct {
  const ew_iter* it;
  ew_run_fn fn;
  const void* ctx;
} ew_job;

static void ew_range(void* p, int64_t b, int64_t e) {
  const ew_job* j = p;
  ew_walk(j->it, b, e, j->fn, j->ctx);
}

/* Small calls run on this thread without entering an OpenMP region. */
static void ew_run(const ew_iter* it, int64_t n, ew_run_fn fn, const void* ctx) {
  ew_job j = {it, fn, ctx};
  tp__parallel_for(n, EW_PAR_MIN, ew_range, &j);
}

/* ---- unary ---------------------------------------------------------------------------------- */

typedef struct {
  int op;
  float a, b;
  const float* x;
  float* y;
} un_ctx;

/* fmaxf / fminf as selects (same results, but they vectorize). */
static inline float f_fmax(float v, float a) { return (v > a || a != a) ? v : a; }
static inline float f_fmin(float v, float b) { return (v < b || b != b) ? v : b; }
static inline float f_sign(float v) { return v > 0 ? 1.0f : v < 0 ? -1.0f : v == 0 ? 0.0f : v; }

#define UN_LOOP(EXPR)                                                          \
  do {                                                                         \
    if (xs == 1) {                                                             \
      for (int64_t i = 0; i < len; i++) { float v = x[i]; y[i] = (EXPR); }    \
    } else {                                                                   \
      for (int64_t i = 0; i < len; i++) { float v = x[i * xs]; y[i] = (EXPR); } \
    }                                                                          \
  } while (0)

static void un_run(const void* vc, int64_t len, const int64_t* p, const int64_t* s, int64_t o) {
  const un_ctx* c = vc;
  const float* x = c->x + p[0];
  float* y = c->y + o;
  int64_t xs = s[0];
  const float a = c->a, b = c->b;
  switch (c->op) {
    case TP_UNARY_COPY: UN_LOOP(v); break;
    case TP_UNARY_NEG: UN_LOOP(-v); break;
    case TP_UNARY_RELU: UN_LOOP((v > 0 || v != v) ? v : 0.0f); break;
    case TP_UNARY_SIGN: UN_LOOP(f_sign(v)); break;
    case TP_UNARY_ABS: UN_LOOP(fabsf(v)); break;
    case TP_UNARY_EXP: UN_LOOP(expf(v)); break;
    case TP_UNARY_LOG: UN_LOOP(logf(v)); break;
    case TP_UNARY_SQRT: UN_LOOP(sqrtf(v)); break;
    case TP_UNARY_POW:
      if (a == 2.0f) UN_LOOP(v * v);
      else if (a == 0.5f) UN_LOOP(sqrtf(v));
      else if (a == 1.0f) UN_LOOP(v);
      else UN_LOOP(powf(v, a));
      break;
    case TP_UNARY_CLAMP: UN_LOOP(f_fmin(f_fmax(v, a), b)); break;
    case TP_UNARY_AFFINE: UN_LOOP(fmaf(a, v, b)); break; /* one rounding */
    case TP_UNARY_SQUARE: UN_LOOP(v * v); break;
    case TP_UNARY_RECIPROCAL: UN_LOOP(1.0f / v); break;
    case TP_UNARY_RSQRT: UN_LOOP(1.0f / sqrtf(v)); break;
    case TP_UNARY_TANH: UN_LOOP(tanhf(v)); break;
    case TP_UNARY_SIGMOID: UN_LOOP(1.0f / (1.0f + expf(-v))); break;
    case TP_UNARY_CLAMP_MASK: UN_LOOP((v >= a && v <= b) ? 1.0f : 0.0f); break;
  }
}

int tp_unary(int op, int ndim, const int64_t* shape, const void* x, const int64_t* x_strides,
             int64_t x_offset, void* y, float a, float b) {
  static const char* F = "tp_unary";
  TP_REQUIRE(op >= 0 && op < TP_UNARY_COUNT, "tp_unary: unknown op %d", op);
  int64_t n = 0;
  TP_TRY(tp__ew_shape(F, ndim, shape, &n));
  TP_REQUIRE(ndim == 0 || x_strides != NULL, "tp_unary: x_strides is NULL");
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "x", x, ndim, shape, x_strides, x_offset, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, n, 4));
  TP_TRY(tp__ew_alias(F, "x", y, x, ndim, shape, x_strides, x_offset));
  ew_iter it;
  const int64_t* st[1] = {x_strides};
  ew_build(&it, ndim, shape, 1, st, &x_offset);
  un_ctx c = {op, a, b, x, y};
  ew_run(&it, n, un_run, &c);
  return TP_OK;
}

/* ---- binary --------------------------------------------------------------------------------- */

typedef struct {
  int op;
  const float *a, *b;
  float* y;
} bin_ctx;

/* NaN-propagating max/min (like torch.maximum / torch.minimum). */
static inline float f_max(float u, float v) { return (u > v || u != u) ? u : v; }
static inline float f_min(float u, float v) { return (u < v || u != u) ? u : v; }

#define BIN_LOOP(EXPR)                                                                   \
  do {                                                                                   \
    if (as == 1 && bs == 1) {                                                            \
      for (int64_t i = 0; i < len; i++) { float u = A[i], v = B[i]; y[i] = (EXPR); }     \
    } else if (as == 1 && bs == 0) {                                                     \
      const float v = B[0];                                                              \
      for (int64_t i = 0; i < len; i++) { float u = A[i]; y[i] = (EXPR); }               \
    } else if (as == 0 && bs == 1) {                                                     \
      const float u = A[0];                                                              \
      for (int64_t i = 0; i < len; i++) { float v = B[i]; y[i] = (EXPR); }               \
    } else {                                                                             \
      for (int64_t i = 0; i < len; i++) { float u = A[i * as], v = B[i * bs]; y[i] = (EXPR); } \
    }                                                                                    \
  } while (0)

static void bin_run(const void* vc, int64_t len, const int64_t* p, const int64_t* s, int64_t o) {
  const bin_ctx* c = vc;
  const float *A = c->a + p[0], *B = c->b + p[1];
  float* y = c->y + o;
  int64_t as = s[0], bs = s[1];
  switch (c->op) {
    case TP_BINARY_ADD: BIN_LOOP(u + v); break;
    case TP_BINARY_SUB: BIN_LOOP(u - v); break;
    case TP_BINARY_MUL: BIN_LOOP(u * v); break;
    case TP_BINARY_DIV: BIN_LOOP(u / v); break;
    case TP_BINARY_MAX: BIN_LOOP(f_max(u, v)); break;
    case TP_BINARY_MIN: BIN_LOOP(f_min(u, v)); break;
    case TP_BINARY_EQ: BIN_LOOP(u == v ? 1.0f : 0.0f); break;
    case TP_BINARY_NE: BIN_LOOP(u != v ? 1.0f : 0.0f); break;
    case TP_BINARY_LT: BIN_LOOP(u < v ? 1.0f : 0.0f); break;
    case TP_BINARY_LE: BIN_LOOP(u <= v ? 1.0f : 0.0f); break;
    case TP_BINARY_GT: BIN_LOOP(u > v ? 1.0f : 0.0f); break;
    case TP_BINARY_GE: BIN_LOOP(u >= v ? 1.0f : 0.0f); break;
    case TP_BINARY_RELU_BACKWARD: BIN_LOOP(u > 0 ? v : 0.0f); break;
    case TP_BINARY_POW: BIN_LOOP(powf(u, v)); break;
  }
}

int tp_binary(int op, int ndim, const int64_t* shape, const void* a, const int64_t* a_strides,
              int64_t a_offset, const void* b, const int64_t* b_strides, int64_t b_offset,
              void* y) {
  static const char* F = "tp_binary";
  TP_REQUIRE(op >= 0 && op < TP_BINARY_COUNT, "tp_binary: unknown op %d", op);
  int64_t n = 0;
  TP_TRY(tp__ew_shape(F, ndim, shape, &n));
  TP_REQUIRE(ndim == 0 || (a_strides != NULL && b_strides != NULL),
             "tp_binary: a_strides or b_strides is NULL");
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "a", a, ndim, shape, a_strides, a_offset, 4));
  TP_TRY(tp__ew_check(F, "b", b, ndim, shape, b_strides, b_offset, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, n, 4));
  TP_TRY(tp__ew_alias(F, "a", y, a, ndim, shape, a_strides, a_offset));
  TP_TRY(tp__ew_alias(F, "b", y, b, ndim, shape, b_strides, b_offset));
  ew_iter it;
  const int64_t* st[2] = {a_strides, b_strides};
  int64_t off[2] = {a_offset, b_offset};
  ew_build(&it, ndim, shape, 2, st, off);
  bin_ctx c = {op, a, b, y};
  ew_run(&it, n, bin_run, &c);
  return TP_OK;
}

/* ---- where ---------------------------------------------------------------------------------- */

typedef struct {
  const float *c, *a, *b;
  float* y;
} where_ctx;

static void where_run(const void* vc, int64_t len, const int64_t* p, const int64_t* s,
                      int64_t o) {
  const where_ctx* w = vc;
  const float *C = w->c + p[0], *A = w->a + p[1], *B = w->b + p[2];
  float* y = w->y + o;
  int64_t cs = s[0], as = s[1], bs = s[2];
  if (cs == 1 && as == 1 && bs == 1) {
    for (int64_t i = 0; i < len; i++) y[i] = C[i] != 0 ? A[i] : B[i];
  } else {
    for (int64_t i = 0; i < len; i++) y[i] = C[i * cs] != 0 ? A[i * as] : B[i * bs];
  }
}

int tp_where(int ndim, const int64_t* shape, const void* cond, const int64_t* c_strides,
             int64_t c_offset, const void* a, const int64_t* a_strides, int64_t a_offset,
             const void* b, const int64_t* b_strides, int64_t b_offset, void* y) {
  static const char* F = "tp_where";
  int64_t n = 0;
  TP_TRY(tp__ew_shape(F, ndim, shape, &n));
  TP_REQUIRE(ndim == 0 || (c_strides != NULL && a_strides != NULL && b_strides != NULL),
             "tp_where: c_strides, a_strides or b_strides is NULL");
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "cond", cond, ndim, shape, c_strides, c_offset, 4));
  TP_TRY(tp__ew_check(F, "a", a, ndim, shape, a_strides, a_offset, 4));
  TP_TRY(tp__ew_check(F, "b", b, ndim, shape, b_strides, b_offset, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, n, 4));
  TP_TRY(tp__ew_alias(F, "cond", y, cond, ndim, shape, c_strides, c_offset));
  TP_TRY(tp__ew_alias(F, "a", y, a, ndim, shape, a_strides, a_offset));
  TP_TRY(tp__ew_alias(F, "b", y, b, ndim, shape, b_strides, b_offset));
  ew_iter it;
  const int64_t* st[3] = {c_strides, a_strides, b_strides};
  int64_t off[3] = {c_offset, a_offset, b_offset};
  ew_build(&it, ndim, shape, 3, st, off);
  where_ctx c = {cond, a, b, y};
  ew_run(&it, n, where_run, &c);
  return TP_OK;
}

/* ---- strided copy (any dtype) ---------------------------------------------------------------- */

typedef struct {
  int es;
  const void* x;
  void* y;
} copy_ctx;

static void copy_run(const void* vc, int64_t len, const int64_t* p, const int64_t* s,
                     int64_t o) {
  const copy_ctx* c = vc;
  int64_t xs = s[0];
  if (c->es == 4) {
    const uint32_t* x = (const uint32_t*)c->x + p[0];
    uint32_t* y = (uint32_t*)c->y + o;
    if (xs == 1) memmove(y, x, (size_t)len * 4);
    else for (int64_t i = 0; i < len; i++) y[i] = x[i * xs];
  } else {
    const uint8_t* x = (const uint8_t*)c->x + p[0];
    uint8_t* y = (uint8_t*)c->y + o;
    if (xs == 1) memmove(y, x, (size_t)len);
    else for (int64_t i = 0; i < len; i++) y[i] = x[i * xs];
  }
}

int tp_copy_strided(int dtype, int ndim, const int64_t* shape, const void* x,
                    const int64_t* x_strides, int64_t x_offset, void* y) {
  static const char* F = "tp_copy_strided";
  int es = tp__dtype_size(dtype);
  TP_REQUIRE(es != 0, "tp_copy_strided: unknown dtype %d", dtype);
  int64_t n = 0;
  TP_TRY(tp__ew_shape(F, ndim, shape, &n));
  TP_REQUIRE(ndim == 0 || x_strides != NULL, "tp_copy_strided: x_strides is NULL");
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "x", x, ndim, shape, x_strides, x_offset, es));
  TP_TRY(tp__check_range(F, "y", y, 0, n, es));
  TP_TRY(tp__ew_alias(F, "x", y, x, ndim, shape, x_strides, x_offset));
  if (y == x) return TP_OK; /* identical dense view: nothing to do */
  ew_iter it;
  const int64_t* st[1] = {x_strides};
  ew_build(&it, ndim, shape, 1, st, &x_offset);
  copy_ctx c = {es, x, y};
  ew_run(&it, n, copy_run, &c);
  return TP_OK;
}

/* ---- cast ----------------------------------------------------------------------------------
 * f32 -> i32: truncation toward zero, saturating to [INT32_MIN, INT32_MAX], NaN -> 0.
 * f32 -> u8: NaN -> 0, clamp to [0, 255], then truncation. i32 -> u8: saturating to [0, 255].
 * i32 -> f32 rounds to nearest; u8 widens exactly. Same dtype copies. */
static inline int32_t f32_to_i32(float v) {
  if (v != v) return 0;
  if (v >= 2147483648.0f) return INT32_MAX;
  if (v < -2147483648.0f) return INT32_MIN;
  return (int32_t)v;
}
static inline uint8_t f32_to_u8(float v) {
  if (!(v > 0)) return 0; /* also NaN */
  if (v >= 255.0f) return 255;
  return (uint8_t)v;
}

typedef struct {
  int src, dst;
  const void* x;
  void* y;
} cast_ctx;

static void cast_range(void* p, int64_t b, int64_t e) {
  const cast_ctx* c = p;
#define CAST_LOOP(ST, DT, EXPR)                                                   \
  do {                                                                            \
    const ST* xs = (const ST*)c->x;                                               \
    DT* yd = (DT*)c->y;                                                           \
    for (int64_t i = b; i < e; i++) { ST v = xs[i]; yd[i] = (EXPR); }             \
  } while (0)
  const int s = c->src, d = c->dst;
  if (s == TP_F32 && d == TP_I32) CAST_LOOP(float, int32_t, f32_to_i32(v));
  else if (s == TP_F32 && d == TP_U8) CAST_LOOP(float, uint8_t, f32_to_u8(v));
  else if (s == TP_I32 && d == TP_F32) CAST_LOOP(int32_t, float, (float)v);
  else if (s == TP_I32 && d == TP_U8) CAST_LOOP(int32_t, uint8_t, (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v));
  else if (s == TP_U8 && d == TP_F32) CAST_LOOP(uint8_t, float, (float)v);
  else CAST_LOOP(uint8_t, int32_t, (int32_t)v);
#undef CAST_LOOP
}

int tp_cast(int src_dtype, const void* x, int64_t x_offset, int dst_dtype, void* y, int64_t n) {
  static const char* F = "tp_cast";
  int ses = tp__dtype_size(src_dtype), des = tp__dtype_size(dst_dtype);
  TP_REQUIRE(ses != 0, "tp_cast: unknown source dtype %d", src_dtype);
  TP_REQUIRE(des != 0, "tp_cast: unknown destination dtype %d", dst_dtype);
  TP_REQUIRE(n >= 0 && n <= ((int64_t)1 << 56), "tp_cast: element count %lld out of range",
             (long long)n);
  TP_REQUIRE(x_offset >= 0 && x_offset <= ((int64_t)1 << 56), "tp_cast: x_offset %lld out of range",
             (long long)x_offset);
  if (n == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "x", x, x_offset, n, ses));
  TP_TRY(tp__check_range(F, "y", y, 0, n, des));
  TP_REQUIRE(y != x || (x_offset == 0 && ses == des),
             "tp_cast: in-place cast needs x_offset 0 and equal element sizes (got offset %lld, "
             "%d -> %d bytes)", (long long)x_offset, ses, des);
  const char* xb = (const char*)x + x_offset * ses;
  if (src_dtype == dst_dtype) {
    if ((const void*)xb != y) memmove(y, xb, (size_t)(n * ses));
    return TP_OK;
  }
  cast_ctx c = {src_dtype, dst_dtype, xb, y};
  tp__parallel_for(n, EW_PAR_MIN, cast_range, &c);
  return TP_OK;
}
