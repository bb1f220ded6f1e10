/* Elementwise kernels of the CUDA backend: tp_unary, tp_binary, tp_where, tp_copy_strided,
 * tp_assign and tp_cast, with the formulas, NaN rules and validation of the CPU backend
 * (native/cpu/tp_elementwise.c, tp_assign.c). On the host the operand layouts are collapsed
 * jointly (size-1 dims dropped, neighbours merged where every operand is contiguous across
 * them); a call that collapses to one dim runs a kernel that addresses element i as
 * offset + i * stride (contiguous, scalar broadcast, single strided run), anything else a
 * kernel that maps the dense output index through tp__offset_of. Kernels are grid-stride
 * loops with 64-bit indices; each output element is written by exactly one thread, so an
 * output may alias an input that is the identical dense view (as the CPU allows). NaN: RELU
 * and SIGN keep NaN, CLAMP(NaN) = min(a, b) by the same selects as the CPU, binary MAX/MIN
 * propagate NaN, where() takes a when cond is NaN. Transcendentals (expf, logf, tanhf, powf)
 * are CUDA's, within a few ulp of glibc's rather than bit-identical. tp_assign writes through
 * a scratch copy when source and destination share a buffer and overlap, and for destination
 * dims of stride 0 keeps the last source element in row-major order (the CPU's serial order). */
#include "tp_cuda_internal.h"

/* ---- validation (the CPU's checks and messages) ------------------------------------------ */

/* Joint collapse of `nops` layouts over `shape` into l[0..nops) (same collapsed shape);
 * returns the collapsed ndim (>= 1). Row-major element order is preserved. */
static int ew_collapse(int ndim, const int64_t* shape, int nops, const int64_t* const* strides,
                       const int64_t* offsets, tp_layout* l) {
  int nd = 0;
  for (int k = 0; k < nops; k++) l[k] = tp__layout(0, NULL, NULL, offsets[k]);
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 1) continue;
    int merge = nd > 0;
    for (int k = 0; k < nops && merge; k++) {
      int64_t m;
      if (__builtin_mul_overflow(strides[k][i], shape[i], &m) || l[k].strides[nd - 1] != m)
        merge = 0;
    }
    for (int k = 0; k < nops; k++) {
      if (merge) l[k].shape[nd - 1] *= shape[i];
      else l[k].shape[nd] = shape[i];
      l[k].strides[merge ? nd - 1 : nd] = strides[k][i];
    }
    if (!merge) nd++;
  }
  if (nd == 0) nd = 1; /* scalar: shape [1], stride 0 */
  for (int k = 0; k < nops; k++) l[k].ndim = nd;
  return nd;
}

/* ---- device helpers ------------------------------------------------------------------------ */

#define EW_LOOP(i, n)                                                              \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);        \
       i += (int64_t)gridDim.x * blockDim.x)

/* Element offset of dense index i: one collapsed dim (LIN) or the general map. */
template <bool LIN>
static __device__ __forceinline__ int64_t ew_off(const tp_layout& l, int64_t i) {
  return LIN ? l.offset + i * l.strides[0] : tp__offset_of(l, i);
}

/* fmaxf / fminf as the CPU's selects (NaN bound -> v, NaN v -> bound). */
#define F_FMAX(v, a) (((v) > (a) || (a) != (a)) ? (v) : (a))
#define F_FMIN(v, b) (((v) < (b) || (b) != (b)) ? (v) : (b))
/* NaN-propagating max/min (like torch.maximum / torch.minimum). */
#define F_MAX(u, v) (((u) > (v) || (u) != (u)) ? (u) : (v))
#define F_MIN(u, v) (((u) < (v) || (u) != (u)) ? (u) : (v))

static __device__ __forceinline__ float un_apply(int op, float v, float a, float b) {
  switch (op) {
    case TP_UNARY_COPY: return v;
    case TP_UNARY_NEG: return -v;
    case TP_UNARY_RELU: return (v > 0 || v != v) ? v : 0.0f;
    case TP_UNARY_SIGN: return v > 0 ? 1.0f : v < 0 ? -1.0f : v == 0 ? 0.0f : v;
    case TP_UNARY_ABS: return fabsf(v);
    case TP_UNARY_EXP: return expf(v);
    case TP_UNARY_LOG: return logf(v);
    case TP_UNARY_SQRT: return sqrtf(v);
    case TP_UNARY_POW:
      return a == 2.0f ? v * v : a == 0.5f ? sqrtf(v) : a == 1.0f ? v : powf(v, a);
    case TP_UNARY_CLAMP: { const float m = F_FMAX(v, a); return F_FMIN(m, b); }
    case TP_UNARY_AFFINE: return fmaf(a, v, b); /* one rounding */
    case TP_UNARY_SQUARE: return v * v;
    case TP_UNARY_RECIPROCAL: return 1.0f / v;
    case TP_UNARY_RSQRT: return 1.0f / sqrtf(v);
    case TP_UNARY_TANH: return tanhf(v);
    case TP_UNARY_SIGMOID: return 1.0f / (1.0f + expf(-v));
    default: return (v >= a && v <= b) ? 1.0f : 0.0f; /* CLAMP_MASK */
  }
}

static __device__ __forceinline__ float bin_apply(int op, float u, float v) {
  switch (op) {
    case TP_BINARY_ADD: return u + v;
    case TP_BINARY_SUB: return u - v;
    case TP_BINARY_MUL: return u * v;
    case TP_BINARY_DIV: return u / v;
    case TP_BINARY_MAX: return F_MAX(u, v);
    case TP_BINARY_MIN: return F_MIN(u, v);
    case TP_BINARY_EQ: return u == v ? 1.0f : 0.0f;
    case TP_BINARY_NE: return u != v ? 1.0f : 0.0f;
    case TP_BINARY_LT: return u < v ? 1.0f : 0.0f;
    case TP_BINARY_LE: return u <= v ? 1.0f : 0.0f;
    case TP_BINARY_GT: return u > v ? 1.0f : 0.0f;
    case TP_BINARY_GE: return u >= v ? 1.0f : 0.0f;
    case TP_BINARY_RELU_BACKWARD: return u > 0 ? v : 0.0f;
    default: return powf(u, v); /* POW */
  }
}

/* ---- kernels (no __restrict__: y may be the buffer of an identical dense input) ----------- */

/* Launches KERNEL<true> (one collapsed dim) or KERNEL<false> over n elements. */
#define EW_LAUNCH(KERNEL, nd, n, ...)                                                          \
  do {                                                                                         \
    if ((nd) == 1) KERNEL<true><<<tp__blocks(n), TP_THREADS, 0, tp__stream()>>>(__VA_ARGS__);  \
    else KERNEL<false><<<tp__blocks(n), TP_THREADS, 0, tp__stream()>>>(__VA_ARGS__);           \
  } while (0)

template <bool LIN>
static __global__ void un_kernel(int op, int64_t n, tp_layout xl, const float* x, float* y,
                                 float a, float b) {
  EW_LOOP(i, n) y[i] = un_apply(op, x[ew_off<LIN>(xl, i)], a, b);
}

template <bool LIN>
static __global__ void bin_kernel(int op, int64_t n, tp_layout al, const float* a,
                                  tp_layout bl, const float* b, float* y) {
  EW_LOOP(i, n) y[i] = bin_apply(op, a[ew_off<LIN>(al, i)], b[ew_off<LIN>(bl, i)]);
}

template <bool LIN>
static __global__ void where_kernel(int64_t n, tp_layout cl, const float* c, tp_layout al,
                                    const float* a, tp_layout bl, const float* b, float* y) {
  EW_LOOP(i, n) {
    const float cs = c[ew_off<LIN>(cl, i)];
    y[i] = cs != 0 ? a[ew_off<LIN>(al, i)] : b[ew_off<LIN>(bl, i)];
  }
}

/* y[dense i or yl(i)] = x[xl(i)], raw element bits. */
template <bool LIN, typename T>
static __global__ void copy_kernel(int64_t n, tp_layout xl, const T* x, tp_layout yl, int ydense,
                                   T* y) {
  EW_LOOP(i, n) y[ydense ? i : ew_off<LIN>(yl, i)] = x[ew_off<LIN>(xl, i)];
}

/* Launches copy_kernel for element size es (4 or 1) over collapsed layouts. */
static void launch_copy(int es, int64_t n, const tp_layout& xl, const void* x,
                        const tp_layout& yl, int ydense, void* y) {
  if (es == 4)
    EW_LAUNCH(copy_kernel, xl.ndim, n, n, xl, (const uint32_t*)x, yl, ydense, (uint32_t*)y);
  else
    EW_LAUNCH(copy_kernel, xl.ndim, n, n, xl, (const uint8_t*)x, yl, ydense, (uint8_t*)y);
}

/* ---- unary / binary / where ------------------------------------------------------------------ */

int tp_unary(int op, int ndim, const int64_t* shape, const void* x, const int64_t* x_strides,
             int64_t x_offset, void* y, float a, float b) {
  static const char* F = "tp_unary";
  TP_REQUIRE(op >= 0 && op < TP_UNARY_COUNT, "tp_unary: unknown op %d", op);
  int64_t n = 0;
  TP_TRY(tp__ew_shape(F, ndim, shape, &n));
  TP_REQUIRE(ndim == 0 || x_strides != NULL, "tp_unary: x_strides is NULL");
  TP_TRY(tp__ensure_init());
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "x", x, ndim, shape, x_strides, x_offset, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, n, 4));
  TP_TRY(tp__ew_alias(F, "x", y, x, ndim, shape, x_strides, x_offset));
  tp_layout l[1];
  const int64_t* st[1] = {x_strides};
  const int nd = ew_collapse(ndim, shape, 1, st, &x_offset, l);
  EW_LAUNCH(un_kernel, nd, n, op, n, l[0], (const float*)x, (float*)y, a, b);
  TP_TRY(tp__launch_check(F));
  return TP_OK;
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
  TP_TRY(tp__ensure_init());
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "a", a, ndim, shape, a_strides, a_offset, 4));
  TP_TRY(tp__ew_check(F, "b", b, ndim, shape, b_strides, b_offset, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, n, 4));
  TP_TRY(tp__ew_alias(F, "a", y, a, ndim, shape, a_strides, a_offset));
  TP_TRY(tp__ew_alias(F, "b", y, b, ndim, shape, b_strides, b_offset));
  tp_layout l[2];
  const int64_t* st[2] = {a_strides, b_strides};
  const int64_t off[2] = {a_offset, b_offset};
  const int nd = ew_collapse(ndim, shape, 2, st, off, l);
  const float *A = (const float*)a, *B = (const float*)b;
  EW_LAUNCH(bin_kernel, nd, n, op, n, l[0], A, l[1], B, (float*)y);
  TP_TRY(tp__launch_check(F));
  return TP_OK;
}

int tp_where(int ndim, const int64_t* shape, const void* cond, const int64_t* c_strides,
             int64_t c_offset, const void* a, const int64_t* a_strides, int64_t a_offset,
             const void* b, const int64_t* b_strides, int64_t b_offset, void* y) {
  static const char* F = "tp_where";
  int64_t n = 0;
  TP_TRY(tp__ew_shape(F, ndim, shape, &n));
  TP_REQUIRE(ndim == 0 || (c_strides != NULL && a_strides != NULL && b_strides != NULL),
             "tp_where: c_strides, a_strides or b_strides is NULL");
  TP_TRY(tp__ensure_init());
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "cond", cond, ndim, shape, c_strides, c_offset, 4));
  TP_TRY(tp__ew_check(F, "a", a, ndim, shape, a_strides, a_offset, 4));
  TP_TRY(tp__ew_check(F, "b", b, ndim, shape, b_strides, b_offset, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, n, 4));
  TP_TRY(tp__ew_alias(F, "cond", y, cond, ndim, shape, c_strides, c_offset));
  TP_TRY(tp__ew_alias(F, "a", y, a, ndim, shape, a_strides, a_offset));
  TP_TRY(tp__ew_alias(F, "b", y, b, ndim, shape, b_strides, b_offset));
  tp_layout l[3];
  const int64_t* st[3] = {c_strides, a_strides, b_strides};
  const int64_t off[3] = {c_offset, a_offset, b_offset};
  const int nd = ew_collapse(ndim, shape, 3, st, off, l);
  const float *C = (const float*)cond, *A = (const float*)a, *B = (const float*)b;
  EW_LAUNCH(where_kernel, nd, n, n, l[0], C, l[1], A, l[2], B, (float*)y);
  TP_TRY(tp__launch_check(F));
  return TP_OK;
}

/* ---- strided copy and assignment (any dtype) ---------------------------------------------- */

int tp_copy_strided(int dtype, int ndim, const int64_t* shape, const void* x,
                    const int64_t* x_strides, int64_t x_offset, void* y) {
  static const char* F = "tp_copy_strided";
  int es = tp__dtype_size(dtype);
  TP_REQUIRE(es != 0, "tp_copy_strided: unknown dtype %d", dtype);
  int64_t n = 0;
  TP_TRY(tp__ew_shape(F, ndim, shape, &n));
  TP_REQUIRE(ndim == 0 || x_strides != NULL, "tp_copy_strided: x_strides is NULL");
  TP_TRY(tp__ensure_init());
  if (n == 0) return TP_OK;
  TP_TRY(tp__ew_check(F, "x", x, ndim, shape, x_strides, x_offset, es));
  TP_TRY(tp__check_range(F, "y", y, 0, n, es));
  TP_TRY(tp__ew_alias(F, "x", y, x, ndim, shape, x_strides, x_offset));
  if (y == x) return TP_OK; /* identical dense view: nothing to do */
  tp_layout l[1];
  const int64_t* st[1] = {x_strides};
  const int nd = ew_collapse(ndim, shape, 1, st, &x_offset, l);
  if (nd == 1 && (l[0].strides[0] == 1 || l[0].shape[0] == 1)) { /* one contiguous run */
    cudaError_t e = cudaMemcpyAsync(y, (const char*)x + x_offset * es, (size_t)(n * es),
                                    cudaMemcpyDeviceToDevice, tp__stream());
    return tp__cuda_status(e, F);
  }
  launch_copy(es, n, l[0], x, l[0], 1, y);
  TP_TRY(tp__launch_check(F));
  return TP_OK;
}

/* Lowest and highest element offsets addressed by a collapsed layout. */
static void layout_span(const tp_layout& l, int64_t* lo, int64_t* hi) {
  *lo = *hi = l.offset;
  for (int d = 0; d < l.ndim; d++) {
    const int64_t s = (l.shape[d] - 1) * l.strides[d];
    if (s < 0) *lo += s; else *hi += s;
  }
}

int tp_assign(int dtype, int ndim, const int64_t* shape, const void* x, const int64_t* x_strides,
              int64_t x_offset, void* y, const int64_t* y_strides, int64_t y_offset) {
  static const char* F = "tp_assign";
  int es = tp__dtype_size(dtype);
  TP_REQUIRE(es != 0, "tp_assign: unknown dtype %d", dtype);
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_layout(F, "source", x, ndim, shape, x_strides, x_offset, es));
  TP_TRY(tp__check_layout(F, "destination", y, ndim, shape, y_strides, y_offset, es));
  int64_t n = tp__numel(ndim, shape);
  if (n == 0) return TP_OK;
  /* A destination dim of stride 0 receives its last source element (serial CPU order). */
  int64_t sh[TP_MAX_DIMS], xo = x_offset;
  for (int i = 0; i < ndim; i++) {
    sh[i] = shape[i];
    if (y_strides[i] == 0 && shape[i] > 1) xo += (shape[i] - 1) * x_strides[i], sh[i] = 1;
  }
  n = tp__numel(ndim, sh);
  tp_layout l[2];
  const int64_t* st[2] = {x_strides, y_strides};
  const int64_t off[2] = {xo, y_offset};
  const int nd = ew_collapse(ndim, sh, 2, st, off, l);
  if (x == y) {
    bool same = l[0].offset == l[1].offset;
    for (int d = 0; d < nd; d++) same = same && l[0].strides[d] == l[1].strides[d];
    if (same) return TP_OK; /* every element is written with itself */
    int64_t xlo, xhi, ylo, yhi;
    layout_span(l[0], &xlo, &xhi);
    layout_span(l[1], &ylo, &yhi);
    if (xlo <= yhi && ylo <= xhi) { /* overlap: read everything before writing */
      void* tmp = tp__scratch_alloc((uint64_t)n * (uint64_t)es);
      if (!tmp)
        return tp__fail(TP_ERR_OUT_OF_MEMORY, "tp_assign: out of memory for a %lld-element "
                        "staging copy of an overlapping source", (long long)n);
      tp_layout dense = l[0];
      dense.offset = 0;
      for (int64_t d = nd - 1, s = 1; d >= 0; d--) dense.strides[d] = s, s *= dense.shape[d];
      launch_copy(es, n, l[0], x, dense, 1, tmp);
      int rc = tp__launch_check(F);
      if (rc == TP_OK) {
        launch_copy(es, n, dense, tmp, l[1], 0, y);
        rc = tp__launch_check(F);
      }
      tp__scratch_free(tmp); /* stream-ordered reuse: later work on the stream runs after */
      return rc;
    }
  }
  launch_copy(es, n, l[0], x, l[1], 0, y);
  TP_TRY(tp__launch_check(F));
  return TP_OK;
}

/* ---- cast ------------------------------------------------------------------------------------
 * f32 -> i32: truncation toward zero, saturating to [INT32_MIN, INT32_MAX], NaN -> 0.
 * f32 -> u8: NaN -> 0, clamp to [0, 255], then truncation. i32 -> u8: saturating to [0, 255].
 * i32 -> f32 rounds to nearest; u8 widens exactly. Same dtype copies. */
static __device__ __forceinline__ int32_t cv(float v, int32_t*) {
  if (v != v) return 0;
  if (v >= 2147483648.0f) return INT32_MAX;
  if (v < -2147483648.0f) return INT32_MIN;
  return (int32_t)v;
}
static __device__ __forceinline__ uint8_t cv(float v, uint8_t*) {
  if (!(v > 0)) return 0; /* also NaN */
  if (v >= 255.0f) return 255;
  return (uint8_t)v;
}
static __device__ __forceinline__ float cv(int32_t v, float*) { return (float)v; }
static __device__ __forceinline__ uint8_t cv(int32_t v, uint8_t*) {
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}
static __device__ __forceinline__ float cv(uint8_t v, float*) { return (float)v; }
static __device__ __forceinline__ int32_t cv(uint8_t v, int32_t*) { return (int32_t)v; }

template <typename S, typename D>
static __global__ void cast_kernel(int64_t n, const S* x, D* y) {
  EW_LOOP(i, n) y[i] = cv(x[i], (D*)0);
}

template <typename S, typename D>
static void launch_cast(int64_t n, const void* x, void* y) {
  cast_kernel<S, D><<<tp__blocks(n), TP_THREADS, 0, tp__stream()>>>(n, (const S*)x, (D*)y);
}

int tp_cast(int src_dtype, const void* x, int64_t x_offset, int dst_dtype, void* y, int64_t n) {
  static const char* F = "tp_cast";
  int ses = tp__dtype_size(src_dtype), des = tp__dtype_size(dst_dtype);
  TP_REQUIRE(ses != 0, "tp_cast: unknown source dtype %d", src_dtype);
  TP_REQUIRE(des != 0, "tp_cast: unknown destination dtype %d", dst_dtype);
  TP_REQUIRE(n >= 0 && n <= ((int64_t)1 << 56), "tp_cast: element count %lld out of range",
             (long long)n);
  TP_REQUIRE(x_offset >= 0 && x_offset <= ((int64_t)1 << 56),
             "tp_cast: x_offset %lld out of range", (long long)x_offset);
  TP_TRY(tp__ensure_init());
  if (n == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "x", x, x_offset, n, ses));
  TP_TRY(tp__check_range(F, "y", y, 0, n, des));
  TP_REQUIRE(y != x || (x_offset == 0 && ses == des),
             "tp_cast: in-place cast needs x_offset 0 and equal element sizes (got offset %lld, "
             "%d -> %d bytes)", (long long)x_offset, ses, des);
  const char* xb = (const char*)x + x_offset * ses;
  if (src_dtype == dst_dtype) {
    if ((const void*)xb == y) return TP_OK;
    cudaError_t e = cudaMemcpyAsync(y, xb, (size_t)(n * ses), cudaMemcpyDeviceToDevice,
                                    tp__stream());
    return tp__cuda_status(e, F);
  }
  const int s = src_dtype, d = dst_dtype;
  if (s == TP_F32 && d == TP_I32) launch_cast<float, int32_t>(n, xb, y);
  else if (s == TP_F32 && d == TP_U8) launch_cast<float, uint8_t>(n, xb, y);
  else if (s == TP_I32 && d == TP_F32) launch_cast<int32_t, float>(n, xb, y);
  else if (s == TP_I32 && d == TP_U8) launch_cast<int32_t, uint8_t>(n, xb, y);
  else if (s == TP_U8 && d == TP_F32) launch_cast<uint8_t, float>(n, xb, y);
  else launch_cast<uint8_t, int32_t>(n, xb, y);
  TP_TRY(tp__launch_check(F));
  return TP_OK;
}
