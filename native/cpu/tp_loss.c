/* Softmax cross-entropy and log-softmax over rows of a dense [n, c] f32 matrix.
 *
 * Each row subtracts its max and accumulates sum(exp(x - max)) in double, in column order, so
 * results do not depend on the thread count. Rows are spread over threads.
 * In place: log_softmax_fwd y == x, log_softmax_bwd dx == dy or dx == y, softmax_xent_bwd
 * dlogits == logits are allowed; other output/input sharing is rejected. */
#include <math.h>

#include "tp_internal.h"

#define LOSS_PAR_MIN 32768

/* Validates n, c and returns n*c in *nc. */
static int check_nc(const char* f, int64_t n, int64_t c, int64_t* nc) {
  TP_REQUIRE(n >= 0 && c >= 0, "%s: negative size n=%lld c=%lld", f, (long long)n, (long long)c);
  TP_REQUIRE(!__builtin_mul_overflow(n, c, nc) && *nc <= ((int64_t)1 << 56),
             "%s: n=%lld x c=%lld is too large", f, (long long)n, (long long)c);
  return TP_OK;
}

static int check_labels(const char* f, int64_t n, int64_t c, const int32_t* lab) {
  for (int64_t i = 0; i < n; i++)
    if (lab[i] < 0 || lab[i] >= c)
      return tp__fail(TP_ERR_INVALID_ARGUMENT, "%s: labels[%lld] = %d is outside [0, %lld)", f,
                      (long long)i, (int)lab[i], (long long)c);
  return TP_OK;
}

/* log(sum(exp(x))) of one row, stable, in double. */
static double row_lse(const float* x, int64_t c) {
  float m = x[0];
  for (int64_t j = 1; j < c; j++)
    if (x[j] > m || x[j] != x[j]) m = x[j];
  if (m != m) return NAN; /* an infinite max gives NaN below, as in PyTorch */
  double s = 0;
  for (int64_t j = 0; j < c; j++) s += exp((double)x[j] - (double)m);
  return (double)m + log(s);
}

typedef struct {
  int64_t c, dstride;
  const float *x, *y, *dy, *dl;
  const int32_t* lab;
  float* out;
  float scale;
} loss_ctx;

/* Rows per thread part: about LOSS_PAR_MIN elements. */
static int64_t row_grain(int64_t c) { return LOSS_PAR_MIN / (c > 0 ? c : 1) + 1; }

static void xent_fwd_rows(void* p, int64_t b, int64_t e) {
  const loss_ctx* k = p;
  for (int64_t i = b; i < e; i++) {
    const float* r = k->x + i * k->c;
    k->out[i] = (float)(row_lse(r, k->c) - (double)r[k->lab[i]]);
  }
}

static void xent_bwd_rows(void* p, int64_t b, int64_t e) {
  const loss_ctx* k = p;
  const int64_t c = k->c;
  for (int64_t i = b; i < e; i++) {
    const float* r = k->x + i * c;
    float* d = k->out + i * c;
    const double lse = row_lse(r, c), g = (double)k->scale * (double)k->dl[i * k->dstride];
    const int64_t y = k->lab[i];
    for (int64_t j = 0; j < c; j++) {
      double q = exp((double)r[j] - lse);
      d[j] = (float)((j == y ? q - 1.0 : q) * g);
    }
  }
}

static void lsm_fwd_rows(void* p, int64_t b, int64_t e) {
  const loss_ctx* k = p;
  const int64_t c = k->c;
  for (int64_t i = b; i < e; i++) {
    const float* r = k->x + i * c;
    float* o = k->out + i * c;
    const double lse = row_lse(r, c);
    for (int64_t j = 0; j < c; j++) o[j] = (float)((double)r[j] - lse);
  }
}

static void lsm_bwd_rows(void* p, int64_t b, int64_t e) {
  const loss_ctx* k = p;
  const int64_t c = k->c;
  for (int64_t i = b; i < e; i++) {
    const float *yr = k->y + i * c, *gr = k->dy + i * c;
    float* o = k->out + i * c;
    double s = 0;
    for (int64_t j = 0; j < c; j++) s += gr[j];
    for (int64_t j = 0; j < c; j++) o[j] = (float)((double)gr[j] - exp((double)yr[j]) * s);
  }
}

int tp_softmax_xent_fwd(int64_t n, int64_t c, const void* logits, const void* labels,
                        void* losses) {
  static const char* F = "tp_softmax_xent_fwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  if (n == 0) return TP_OK;
  TP_REQUIRE(c >= 1, "%s: c must be >= 1 when n > 0", F);
  TP_TRY(tp__check_range(F, "logits", logits, 0, nc, 4));
  TP_TRY(tp__check_range(F, "labels", labels, 0, n, 4));
  TP_TRY(tp__check_range(F, "losses", losses, 0, n, 4));
  TP_REQUIRE(losses != logits && losses != labels, "%s: losses aliases logits or labels", F);
  TP_TRY(check_labels(F, n, c, labels));
  loss_ctx k = {.c = c, .x = logits, .lab = labels, .out = losses};
  tp__parallel_for(n, row_grain(c), xent_fwd_rows, &k);
  return TP_OK;
}

int tp_softmax_xent_bwd(int64_t n, int64_t c, const void* logits, const void* labels,
                        const void* dloss, int64_t dloss_stride, float scale, void* dlogits) {
  static const char* F = "tp_softmax_xent_bwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  TP_REQUIRE(dloss_stride == 0 || dloss_stride == 1, "%s: dloss_stride must be 0 or 1, got %lld",
             F, (long long)dloss_stride);
  if (n == 0) return TP_OK;
  TP_REQUIRE(c >= 1, "%s: c must be >= 1 when n > 0", F);
  TP_TRY(tp__check_range(F, "logits", logits, 0, nc, 4));
  TP_TRY(tp__check_range(F, "labels", labels, 0, n, 4));
  TP_TRY(tp__check_range(F, "dloss", dloss, 0, dloss_stride ? n : 1, 4));
  TP_TRY(tp__check_range(F, "dlogits", dlogits, 0, nc, 4));
  TP_REQUIRE(dlogits != labels && dlogits != dloss, "%s: dlogits aliases labels or dloss", F);
  TP_TRY(check_labels(F, n, c, labels));
  loss_ctx k = {.c = c, .dstride = dloss_stride, .x = logits, .dl = dloss, .lab = labels,
                .out = dlogits, .scale = scale};
  tp__parallel_for(n, row_grain(c), xent_bwd_rows, &k);
  return TP_OK;
}

int tp_log_softmax_fwd(int64_t n, int64_t c, const void* x, void* y) {
  static const char* F = "tp_log_softmax_fwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  if (nc == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "x", x, 0, nc, 4));
  TP_TRY(tp__check_range(F, "y", y, 0, nc, 4));
  loss_ctx k = {.c = c, .x = x, .out = y};
  tp__parallel_for(n, row_grain(c), lsm_fwd_rows, &k);
  return TP_OK;
}

int tp_log_softmax_bwd(int64_t n, int64_t c, const void* y, const void* dy, void* dx) {
  static const char* F = "tp_log_softmax_bwd";
  int64_t nc = 0;
  TP_TRY(check_nc(F, n, c, &nc));
  if (nc == 0) return TP_OK;
  TP_TRY(tp__check_range(F, "y", y, 0, nc, 4));
  TP_TRY(tp__check_range(F, "dy", dy, 0, nc, 4));
  TP_TRY(tp__check_range(F, "dx", dx, 0, nc, 4));
  loss_ctx k = {.c = c, .y = y, .dy = dy, .out = dx};
  tp__parallel_for(n, row_grain(c), lsm_bwd_rows, &k);
  return TP_OK;
}
