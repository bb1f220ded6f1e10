/* Fused attack steps on dense f32 [batch, dim] inputs in [0, 1].
 *
 * Linf: x = clamp(clamp(x + alpha*sign(g), x0 - eps, x0 + eps), 0, 1), sign(0) = sign(NaN) = 0.
 * L2: per example, x' = x + (alpha / max(||g||, 1e-12)) * g; delta = x' - x0; if ||delta|| > eps,
 *     delta *= eps / ||delta||; x = clamp(x0 + delta, 0, 1). Norms are accumulated in double in
 *     index order, so results do not depend on the thread count.
 * Project: the same eps-ball step followed by the [0, 1] clamp (for L2 this is the usual
 *     scale-then-clip, which stays inside both sets but is not the exact Euclidean projection
 *     onto their intersection).
 * x is updated in place and must not share a buffer with x0 or g; eps >= 0 (inf allowed).
 * A NaN in x stays NaN. */
#include <math.h>

#include "tp_internal.h"

#define ATK_PAR_MIN 32768

/* Comparisons instead of fminf/fmaxf so the loops vectorize; a NaN x stays NaN. */
static inline float clamp(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline float clamp01(float v) { return clamp(v, 0.0f, 1.0f); }

static int check_args(const char* f, int64_t batch, int64_t dim, const void* x, const void* x0,
                      const void* g, float eps, int64_t* n) {
  TP_REQUIRE(batch >= 0 && dim >= 0, "%s: negative size batch=%lld dim=%lld", f,
             (long long)batch, (long long)dim);
  TP_REQUIRE(!__builtin_mul_overflow(batch, dim, n) && *n <= ((int64_t)1 << 56),
             "%s: batch=%lld x dim=%lld is too large", f, (long long)batch, (long long)dim);
  TP_REQUIRE(eps >= 0, "%s: eps must be >= 0, got %g", f, (double)eps);
  if (*n == 0) return TP_OK;
  TP_TRY(tp__check_range(f, "x", x, 0, *n, 4));
  TP_TRY(tp__check_range(f, "x0", x0, 0, *n, 4));
  if (g) TP_TRY(tp__check_range(f, "g", g, 0, *n, 4));
  TP_REQUIRE(x != x0 && x != g, "%s: x shares a buffer with x0 or g", f);
  return TP_OK;
}

static inline float sign0(float v) { return v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f; }

typedef struct {
  int64_t dim;
  float* x;
  const float *x0, *g;
  float alpha, eps;
} atk_ctx;

/* Linf step (g != NULL) or projection (g == NULL) of elements [b, e). */
static void linf_range(void* p, int64_t b, int64_t e) {
  const atk_ctx* c = p;
  float* x = c->x;
  const float *x0 = c->x0, *g = c->g;
  const float alpha = c->alpha, eps = c->eps;
#pragma omp simd
  for (int64_t i = b; i < e; i++) {
    float v = g ? x[i] + alpha * sign0(g[i]) : x[i];
    v = clamp(v, x0[i] - eps, x0[i] + eps);
    x[i] = clamp01(v);
  }
}

/* L2 step (g != NULL) or projection (g == NULL) of examples [b0, b1). */
static void l2_range(void* p, int64_t b0, int64_t b1) {
  const atk_ctx* c = p;
  const int64_t dim = c->dim;
  for (int64_t b = b0; b < b1; b++) {
    float* xr = c->x + b * dim;
    const float* x0r = c->x0 + b * dim;
    const float* gr = c->g ? c->g + b * dim : NULL;
    float s = 0;
    if (gr) {
      double gn = 0;
      for (int64_t j = 0; j < dim; j++) gn += (double)gr[j] * gr[j];
      gn = sqrt(gn);
      s = (float)((double)c->alpha / (gn > 1e-12 ? gn : 1e-12));
    }
    double dn = 0;
    for (int64_t j = 0; j < dim; j++) {
      float d = gr ? (xr[j] + s * gr[j]) - x0r[j] : xr[j] - x0r[j];
      xr[j] = d; /* keep delta for the second pass */
      dn += (double)d * d;
    }
    dn = sqrt(dn);
    const float f = dn > (double)c->eps ? (float)((double)c->eps / dn) : 1.0f;
    for (int64_t j = 0; j < dim; j++) {
      float d = f == 1.0f ? xr[j] : xr[j] * f;
      xr[j] = clamp01(x0r[j] + d);
    }
  }
}

static void linf(int64_t n, float* x, const float* x0, const float* g, float alpha, float eps) {
  atk_ctx c = {0, x, x0, g, alpha, eps};
  tp__parallel_for(n, ATK_PAR_MIN, linf_range, &c);
}

static void l2(int64_t batch, int64_t dim, float* x, const float* x0, const float* g,
               float alpha, float eps) {
  atk_ctx c = {dim, x, x0, g, alpha, eps};
  tp__parallel_for(batch, ATK_PAR_MIN / (dim > 0 ? dim : 1) + 1, l2_range, &c);
}

int tp_attack_step_linf(int64_t batch, int64_t dim, void* x, const void* x0, const void* g,
                        float alpha, float eps) {
  static const char* F = "tp_attack_step_linf";
  int64_t n = 0;
  TP_REQUIRE(!isnan(alpha), "%s: alpha is NaN", F);
  TP_REQUIRE(g != NULL || batch == 0 || dim == 0, "%s: g is NULL", F);
  TP_TRY(check_args(F, batch, dim, x, x0, g, eps, &n));
  if (n) linf(n, x, x0, g, alpha, eps);
  return TP_OK;
}

int tp_attack_step_l2(int64_t batch, int64_t dim, void* x, const void* x0, const void* g,
                      float alpha, float eps) {
  static const char* F = "tp_attack_step_l2";
  int64_t n = 0;
  TP_REQUIRE(!isnan(alpha), "%s: alpha is NaN", F);
  TP_REQUIRE(g != NULL || batch == 0 || dim == 0, "%s: g is NULL", F);
  TP_TRY(check_args(F, batch, dim, x, x0, g, eps, &n));
  if (n) l2(batch, dim, x, x0, g, alpha, eps);
  return TP_OK;
}

int tp_attack_project(int norm, int64_t batch, int64_t dim, void* x, const void* x0, float eps) {
  static const char* F = "tp_attack_project";
  int64_t n = 0;
  TP_REQUIRE(norm == 0 || norm == 2, "%s: norm must be 0 (Linf) or 2 (L2), got %d", F, norm);
  TP_TRY(check_args(F, batch, dim, x, x0, NULL, eps, &n));
  if (n == 0) return TP_OK;
  if (norm == 0) linf(n, x, x0, NULL, 0, eps);
  else l2(batch, dim, x, x0, NULL, 0, eps);
  return TP_OK;
}
