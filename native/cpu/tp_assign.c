/* Strided assignment: y[strided view] = x[strided view], any dtype (slice writes, concat). */
#include <string.h>

#include "tp_internal.h"

typedef struct {
  const char* x;
  char* y;
  const int64_t *shape, *xs, *ys;
  int64_t xo, yo;
  int ndim, es;
} assign_ctx;

static void assign_rows(void* ctx, int64_t begin, int64_t end) {
  const assign_ctx* c = ctx;
  int nd = c->ndim, es = c->es;
  int64_t inner = nd ? c->shape[nd - 1] : 1;
  int64_t xs = nd ? c->xs[nd - 1] : 1, ys = nd ? c->ys[nd - 1] : 1;
  for (int64_t r = begin; r < end; r++) {
    int64_t xo = c->xo, yo = c->yo, rem = r;
    for (int d = nd - 2; d >= 0; d--) {
      int64_t i = rem % c->shape[d];
      rem /= c->shape[d];
      xo += i * c->xs[d];
      yo += i * c->ys[d];
    }
    if (xs == 1 && ys == 1) {
      memmove(c->y + yo * es, c->x + xo * es, (size_t)(inner * es));
    } else {
      for (int64_t i = 0; i < inner; i++)
        memcpy(c->y + (yo + i * ys) * es, c->x + (xo + i * xs) * es, (size_t)es);
    }
  }
}

int tp_assign(int dtype, int ndim, const int64_t* shape, const void* x, const int64_t* x_strides,
              int64_t x_offset, void* y, const int64_t* y_strides, int64_t y_offset) {
  int es = tp__dtype_size(dtype);
  TP_REQUIRE(es != 0, "tp_assign: unknown dtype %d", dtype);
  TP_TRY(tp__check_layout("tp_assign", "source", x, ndim, shape, x_strides, x_offset, es));
  TP_TRY(tp__check_layout("tp_assign", "destination", y, ndim, shape, y_strides, y_offset, es));
  int64_t n = tp__numel(ndim, shape);
  if (n == 0) return TP_OK;
  assign_ctx c = {(const char*)x, (char*)y, shape, x_strides, y_strides, x_offset, y_offset,
                  ndim, es};
  int64_t inner = ndim ? shape[ndim - 1] : 1;
  tp__parallel_for(n / inner, (1 << 16) / (inner + 1) + 1, assign_rows, &c);
  return TP_OK;
}
