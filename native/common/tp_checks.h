/* Argument checks shared by the CPU and CUDA backends: one definition and the same messages
 * on both devices. The backends' internal headers include it after defining tp__fail,
 * TP_REQUIRE, TP_TRY and declaring tp__buffer_size. Not part of the ABI. */
#ifndef TP_CHECKS_H
#define TP_CHECKS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "topiary.h"

/* Largest buffer any op may address (the allocators' limit). */
#define TP_MAX_BYTES ((uint64_t)1 << 46)

/* Checks that `ptr` is a live buffer holding elements [offset, offset + count) of elem_size
 * bytes each; `name` and `op` name the argument in the error. */
static inline int tp__check_range(const char* op, const char* name, const void* ptr,
                                  int64_t offset, int64_t count, int elem_size) {
  TP_REQUIRE(ptr != NULL, "%s: %s is NULL", op, name);
  TP_REQUIRE(offset >= 0 && count >= 0, "%s: %s has negative offset %lld or count %lld", op,
             name, (long long)offset, (long long)count);
  uint64_t size = tp__buffer_size(ptr);
  TP_REQUIRE(size != 0, "%s: %s (%p) is not a live buffer (freed or never allocated)", op, name,
             ptr);
  uint64_t end = ((uint64_t)offset + (uint64_t)count) * (uint64_t)elem_size;
  TP_REQUIRE(end <= size, "%s: %s needs %llu bytes but its buffer holds %llu", op, name,
             (unsigned long long)end, (unsigned long long)size);
  return TP_OK;
}

/* Checks a strided n-d layout (ndim <= TP_MAX_DIMS, shape >= 0) against its buffer: every
 * element it addresses lies inside `ptr`'s allocation. */
static inline int tp__check_layout(const char* op, const char* name, const void* ptr, int ndim,
                                   const int64_t* shape, const int64_t* strides, int64_t offset,
                                   int elem_size) {
  TP_REQUIRE(ndim >= 0 && ndim <= TP_MAX_DIMS, "%s: %s has %d dims (at most %d)", op, name, ndim,
             TP_MAX_DIMS);
  TP_REQUIRE(ndim == 0 || (shape != NULL && strides != NULL), "%s: %s shape or strides NULL", op,
             name);
  int64_t lo = offset, hi = offset;
  for (int i = 0; i < ndim; i++) {
    TP_REQUIRE(shape[i] >= 0, "%s: %s has negative dim %lld at axis %d", op, name,
               (long long)shape[i], i);
    if (shape[i] == 0) return TP_OK; /* empty: touches nothing */
    int64_t span;
    TP_REQUIRE(!__builtin_mul_overflow(shape[i] - 1, strides[i], &span) &&
                   !__builtin_add_overflow(span < 0 ? lo : hi, span, span < 0 ? &lo : &hi),
               "%s: %s layout overflows (dim %lld, stride %lld at axis %d)", op, name,
               (long long)shape[i], (long long)strides[i], i);
  }
  TP_REQUIRE(lo >= 0, "%s: %s addresses element %lld before its buffer", op, name, (long long)lo);
  return tp__check_range(op, name, ptr, 0, hi + 1, elem_size);
}

/* "[a,b,c]" into buf. */
static inline const char* tp__dims_str(char* buf, int cap, int ndim, const int64_t* dims) {
  int n = snprintf(buf, (size_t)cap, "[");
  for (int i = 0; i < ndim && n < cap; i++)
    n += snprintf(buf + n, (size_t)(cap - n), i ? ",%lld" : "%lld", (long long)dims[i]);
  if (n < cap) snprintf(buf + n, (size_t)(cap - n), "]");
  return buf;
}

/* Every dim >= 1 and the f32 tensor fits TP_MAX_BYTES; `name` names it in the error. */
static inline int tp__check_dims(const char* op, const char* name, int ndim,
                                 const int64_t* dims) {
  char s[160];
  uint64_t bytes = 4;
  for (int i = 0; i < ndim; i++) {
    TP_REQUIRE(dims[i] >= 1 && (uint64_t)dims[i] <= TP_MAX_BYTES,
               "%s: %s dims %s must all be >= 1", op, name, tp__dims_str(s, sizeof s, ndim, dims));
    TP_REQUIRE(!__builtin_mul_overflow(bytes, (uint64_t)dims[i], &bytes) && bytes <= TP_MAX_BYTES,
               "%s: %s dims %s are too large", op, name, tp__dims_str(s, sizeof s, ndim, dims));
  }
  return TP_OK;
}

/* Validates TP_CONV_NPARAMS convolution parameters (ranges, non-empty output, sizes) and
 * gives the output height P and width Q. */
static inline int tp__conv_check(const char* op, const int64_t* p, int64_t* P, int64_t* Q) {
  enum { N, C, H, W, K, R, S, SH, SW, PT, PL, PB, PR, DH, DW, BIAS };
  TP_REQUIRE(p != NULL, "%s: params is NULL", op);
  static const char* names[TP_CONV_NPARAMS] = {
      "N", "C", "H", "W", "K", "R", "S", "stride_h", "stride_w", "pad_top", "pad_left",
      "pad_bottom", "pad_right", "dilation_h", "dilation_w", "has_bias"};
  for (int i = 0; i < TP_CONV_NPARAMS; i++) {
    int64_t lo = (i >= PT && i <= PR) || i == BIAS ? 0 : 1;
    int64_t hi = i == BIAS ? 1 : ((int64_t)1 << 31) - 1;
    TP_REQUIRE(p[i] >= lo && p[i] <= hi, "%s: %s = %lld must be in [%lld, %lld]", op, names[i],
               (long long)p[i], (long long)lo, (long long)hi);
  }
  int64_t eh = (p[R] - 1) * p[DH] + 1, ew = (p[S] - 1) * p[DW] + 1;
  int64_t nh = p[H] + p[PT] + p[PB] - eh, nw = p[W] + p[PL] + p[PR] - ew;
  *P = nh < 0 ? 0 : nh / p[SH] + 1;
  *Q = nw < 0 ? 0 : nw / p[SW] + 1;
  TP_REQUIRE(*P >= 1 && *Q >= 1,
             "%s: empty output: input %lldx%lld, padding (%lld,%lld,%lld,%lld), kernel "
             "%lldx%lld, dilation %lldx%lld, stride %lldx%lld give %lldx%lld",
             op, (long long)p[H], (long long)p[W], (long long)p[PT], (long long)p[PL],
             (long long)p[PB], (long long)p[PR], (long long)p[R], (long long)p[S],
             (long long)p[DH], (long long)p[DW], (long long)p[SH], (long long)p[SW],
             (long long)*P, (long long)*Q);
  const int64_t xd[4] = {p[N], p[C], p[H], p[W]}, wd[4] = {p[K], p[C], p[R], p[S]};
  const int64_t yd[4] = {p[N], p[K], *P, *Q};
  TP_TRY(tp__check_dims(op, "x", 4, xd));
  TP_TRY(tp__check_dims(op, "w", 4, wd));
  return tp__check_dims(op, "y", 4, yd);
}

/* ---- elementwise ops (both backends' tp_elementwise) ---------------------------------- */
/* Overflow-safe layout check on top of tp__check_layout. */
static inline int tp__ew_check(const char* op, const char* name, const void* ptr, int ndim,
                    const int64_t* shape, const int64_t* strides, int64_t offset, int es) {
  const int64_t lim = (int64_t)1 << 61;
  TP_REQUIRE(offset >= 0 && offset < lim, "%s: %s offset %lld is out of range", op, name,
             (long long)offset);
  int64_t span = offset;
  for (int i = 0; i < ndim; i++) {
    int64_t st = strides[i] < 0 ? -strides[i] : strides[i], d = shape[i] > 0 ? shape[i] - 1 : 0;
    TP_REQUIRE(strides[i] > -lim && strides[i] < lim, "%s: %s stride %lld at axis %d is out of range",
               op, name, (long long)strides[i], i);
    TP_REQUIRE(d == 0 || st <= (lim - span) / d, "%s: %s layout spans more than 2^61 elements",
               op, name);
    span += st * d;
  }
  return tp__check_layout(op, name, ptr, ndim, shape, strides, offset, es);
}

/* Validates ndim/shape, returns the element count (overflow-checked) in *n. */
static inline int tp__ew_shape(const char* op, int ndim, const int64_t* shape, int64_t* n) {
  TP_REQUIRE(ndim >= 0 && ndim <= TP_MAX_DIMS, "%s: ndim %d outside [0, %d]", op, ndim,
             TP_MAX_DIMS);
  TP_REQUIRE(ndim == 0 || shape != NULL, "%s: shape is NULL", op);
  int64_t c = 1;
  int zero = 0;
  for (int i = 0; i < ndim; i++) {
    TP_REQUIRE(shape[i] >= 0, "%s: negative dim %lld at axis %d", op, (long long)shape[i], i);
    if (shape[i] == 0) zero = 1;
    else if (!zero) TP_REQUIRE(!__builtin_mul_overflow(c, shape[i], &c) && c <= ((int64_t)1 << 56),
                               "%s: shape has too many elements", op);
  }
  *n = zero ? 0 : c;
  return TP_OK;
}

/* Output `y` may share a buffer with input `x` only if x is the same dense row-major view. */
static inline int tp__ew_alias(const char* op, const char* name, const void* y, const void* x, int ndim,
                    const int64_t* shape, const int64_t* strides, int64_t offset) {
  if (y != x) return TP_OK;
  int ok = offset == 0;
  int64_t dense = 1;
  for (int i = ndim - 1; i >= 0 && ok; i--) {
    if (shape[i] != 1 && strides[i] != dense) ok = 0;
    dense *= shape[i];
  }
  TP_REQUIRE(ok, "%s: output aliases input %s, which is not the same dense row-major view", op,
             name);
  return TP_OK;
}


/* ---- optimizer updates (both backends' tp_optim) ----------------------------------------- */
/* No two of the k non-NULL buffers may be the same. */
static inline int tp__check_distinct(const char* f, const void* const* p, const char* const* names,
                                     int k) {
  for (int i = 0; i < k; i++)
    for (int j = i + 1; j < k; j++)
      TP_REQUIRE(!p[i] || p[i] != p[j], "%s: %s and %s share a buffer", f, names[i], names[j]);
  return TP_OK;
}

/* The arguments of tp_sgd_update (buffers only when n > 0). */
static inline int tp__check_sgd(const char* F, int64_t n, const void* w, const void* g,
                                const void* buf, const void* mask, double lr, double momentum,
                                double dampening, double weight_decay) {
  TP_REQUIRE(n >= 0, "%s: negative element count %lld", F, (long long)n);
  TP_REQUIRE(buf != NULL || momentum == 0,
             "%s: buf is NULL but momentum is %g (buf may be NULL only when momentum == 0)", F,
             momentum);
  TP_REQUIRE(!isnan(lr) && !isnan(momentum) && !isnan(dampening) && !isnan(weight_decay),
             "%s: NaN hyperparameter (lr %g, momentum %g, dampening %g, weight_decay %g)", F,
             lr, momentum, dampening, weight_decay);
  if (n == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "w", w, 0, n, 4));
  TP_TRY(tp__check_range(F, "g", g, 0, n, 4));
  if (buf) TP_TRY(tp__check_range(F, "buf", buf, 0, n, 4));
  if (mask) TP_TRY(tp__check_range(F, "mask", mask, 0, n, 4));
  const void* ptrs[4] = {w, buf, g, mask};
  const char* names[4] = {"w", "buf", "g", "mask"};
  return tp__check_distinct(F, ptrs, names, 4);
}

/* The arguments of tp_adam_update (buffers only when n > 0). */
static inline int tp__check_adam(const char* F, int64_t n, const void* w, const void* g,
                                 const void* m, const void* v, const void* mask, double lr,
                                 double beta1, double beta2, double eps, double weight_decay,
                                 int64_t step) {
  TP_REQUIRE(n >= 0, "%s: negative element count %lld", F, (long long)n);
  TP_REQUIRE(step >= 1, "%s: step must be >= 1 (counts from 1), got %lld", F, (long long)step);
  TP_REQUIRE(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
             "%s: betas must be in [0, 1), got beta1 %g beta2 %g", F, beta1, beta2);
  TP_REQUIRE(!isnan(lr) && !isnan(eps) && !isnan(weight_decay),
             "%s: NaN hyperparameter (lr %g, eps %g, weight_decay %g)", F, lr, eps,
             weight_decay);
  if (n == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "w", w, 0, n, 4));
  TP_TRY(tp__check_range(F, "g", g, 0, n, 4));
  TP_TRY(tp__check_range(F, "m", m, 0, n, 4));
  TP_TRY(tp__check_range(F, "v", v, 0, n, 4));
  if (mask) TP_TRY(tp__check_range(F, "mask", mask, 0, n, 4));
  const void* ptrs[5] = {w, m, v, g, mask};
  const char* names[5] = {"w", "m", "v", "g", "mask"};
  return tp__check_distinct(F, ptrs, names, 5);
}

/* ---- CSR matrices (both backends' tp_sparse) ---------------------------------------------- */
/* The checks of a CSR matrix [rows, cols] with nnz entries that need no data: shape, counts and
 * buffer sizes (the CPU also reads row_ptr and col_idx; see tp_sparse.c). */
static inline int tp__check_csr_buffers(const char* op, int64_t rows, int64_t cols, int64_t nnz,
                                        const void* row_ptr, const void* col_idx,
                                        const void* values) {
  TP_REQUIRE(rows >= 1 && cols >= 1, "%s: CSR shape [%lld, %lld] must be >= 1", op,
             (long long)rows, (long long)cols);
  TP_REQUIRE(nnz >= 0 && nnz < ((int64_t)1 << 31) && cols < ((int64_t)1 << 31) &&
                 nnz <= rows * cols,
             "%s: nnz %lld is out of range for [%lld, %lld]", op, (long long)nnz,
             (long long)rows, (long long)cols);
  TP_TRY(tp__check_range(op, "row_ptr", row_ptr, 0, rows + 1, 4));
  if (nnz) {
    TP_TRY(tp__check_range(op, "col_idx", col_idx, 0, nnz, 4));
    TP_TRY(tp__check_range(op, "values", values, 0, nnz, 4));
  }
  return TP_OK;
}

/* ---- 2:4 matrices (both backends' tp_nm) -------------------------------------------------- */
/* Dimensions of 2:4 ops stay below 2^31, so products of two fit int64 and no size check wraps. */
#define TP_NM_DIM_MAX ((int64_t)1 << 31)

/* The arguments of tp_nm24_from_dense. */
static inline int tp__check_nm24_from_dense(const char* op, int64_t rows, int64_t cols,
                                            const void* dense, const void* values,
                                            const void* meta) {
  TP_REQUIRE(rows >= 1 && cols >= 4 && cols % 4 == 0 && rows < TP_NM_DIM_MAX &&
                 cols < TP_NM_DIM_MAX,
             "%s: shape [%lld, %lld] needs rows in [1, 2^31) and a multiple of 4 columns below "
             "2^31", op, (long long)rows, (long long)cols);
  TP_TRY(tp__check_range(op, "dense", dense, 0, rows * cols, 4));
  TP_TRY(tp__check_range(op, "values", values, 0, rows * cols / 2, 4));
  return tp__check_range(op, "meta", meta, 0, rows * cols / 4, 1);
}

/* The arguments of tp_nm24_linear. */
static inline int tp__check_nm24_linear(const char* op, int64_t batch, int64_t in, int64_t out,
                                        const void* x, const void* values, const void* meta,
                                        const void* bias, const void* y) {
  TP_REQUIRE(batch >= 1 && out >= 1 && in >= 4 && in % 4 == 0 && batch < TP_NM_DIM_MAX &&
                 in < TP_NM_DIM_MAX && out < TP_NM_DIM_MAX,
             "%s: batch %lld, in %lld, out %lld (each in [1, 2^31); in a multiple of 4)", op,
             (long long)batch, (long long)in, (long long)out);
  TP_TRY(tp__check_range(op, "x", x, 0, batch * in, 4));
  TP_TRY(tp__check_range(op, "values", values, 0, out * in / 2, 4));
  TP_TRY(tp__check_range(op, "meta", meta, 0, out * in / 4, 1));
  TP_TRY(tp__check_range(op, "y", y, 0, batch * out, 4));
  if (bias) TP_TRY(tp__check_range(op, "bias", bias, 0, out, 4));
  TP_REQUIRE(y != x, "%s: y and x share a buffer", op);
  return TP_OK;
}

#endif
