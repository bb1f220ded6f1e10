/* Fused optimizer updates, mirroring PyTorch 1.13's single-tensor (foreach=False) SGD and Adam
 * step by step in float32: scalar factors are formed in double and rounded to float as PyTorch
 * does when a Python float meets a float tensor, and `add(x, alpha=a)` is fmaf(x, a, self) like
 * ATen's vectorized fmadd. Hyperparameters arrive as doubles (Python floats), so factors such
 * as (1 - beta2) are formed in double and rounded once, as PyTorch does.
 * Where mask == 0 (mask non-NULL) the weight and its state are written as exactly 0.
 * Buffers must be distinct (no output may share a buffer with any other argument). */
#include <math.h>

#include "tp_internal.h"

#define OPT_PAR_MIN 32768

typedef struct {
  float* W;
  float* B;
  const float *G, *M;
  float wd, mom, damp1, neg_lr;
  int use_mom, use_wd, nesterov, first_step;
} sgd_ctx;

/* Branch-free bodies (selects), one loop per case, so each vectorizes. */
#define SGD_BODY(KEEP)                                               \
  do {                                                               \
    const int keep = (KEEP);                                         \
    float d = G[i];                                                  \
    if (k.use_wd) d = fmaf(W[i], k.wd, d);                           \
    if (k.use_mom) {                                                 \
      float bn = k.first_step ? d : fmaf(d, k.damp1, B[i] * k.mom);  \
      B[i] = keep ? bn : 0.0f;                                       \
      d = k.nesterov ? fmaf(bn, k.mom, d) : bn;                      \
    } else if (B && !keep) {                                         \
      B[i] = 0.0f;                                                   \
    }                                                                \
    W[i] = keep ? fmaf(d, k.neg_lr, W[i]) : 0.0f;                    \
  } while (0)

static void sgd_range(void* p, int64_t b, int64_t e) {
  const sgd_ctx k = *(const sgd_ctx*)p;
  float *W = k.W, *B = k.B;
  const float *G = k.G, *M = k.M;
  if (M) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) SGD_BODY(M[i] != 0);
  } else {
#pragma omp simd
    for (int64_t i = b; i < e; i++) SGD_BODY(1);
  }
}
#undef SGD_BODY

typedef struct {
  float *W, *Mo, *V;
  const float *G, *K;
  float b1, b2, c1, c2, neg_step, bc2s, eps, wd, decay;
  int l2, wdec;
} adam_ctx;

#define ADAM_BODY(KEEP)                                              \
  do {                                                               \
    const int keep = (KEEP);                                         \
    float x = W[i], gr = G[i];                                       \
    if (k.wdec) x = x * k.decay;                                     \
    if (k.l2) gr = fmaf(x, k.wd, gr);                                \
    const float mi = fmaf(gr, k.c1, Mo[i] * k.b1);                   \
    const float vi = V[i] * k.b2 + k.c2 * gr * gr;                   \
    const float denom = sqrtf(vi) / k.bc2s + k.eps;                  \
    Mo[i] = keep ? mi : 0.0f;                                        \
    V[i] = keep ? vi : 0.0f;                                         \
    W[i] = keep ? fmaf(k.neg_step, mi / denom, x) : 0.0f;            \
  } while (0)

static void adam_range(void* p, int64_t b, int64_t e) {
  const adam_ctx k = *(const adam_ctx*)p;
  float *W = k.W, *Mo = k.Mo, *V = k.V;
  const float *G = k.G, *K = k.K;
  if (K) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) ADAM_BODY(K[i] != 0);
  } else {
#pragma omp simd
    for (int64_t i = b; i < e; i++) ADAM_BODY(1);
  }
}
#undef ADAM_BODY

int tp_sgd_update(int64_t n, void* w, const void* g, void* buf, const void* mask, double lr,
                  double momentum, double dampening, double weight_decay, int nesterov,
                  int first_step) {
  static const char* F = "tp_sgd_update";
  TP_TRY(tp__check_sgd(F, n, w, g, buf, mask, lr, momentum, dampening, weight_decay));
  if (n == 0) return TP_OK;

  sgd_ctx k = {w,
               buf,
               g,
               mask,
               (float)weight_decay,
               (float)momentum,
               (float)(1.0 - dampening),
               (float)-lr,
               momentum != 0,
               weight_decay != 0,
               nesterov != 0,
               first_step != 0};
  tp__parallel_for(n, OPT_PAR_MIN, sgd_range, &k);
  return TP_OK;
}

int tp_adam_update(int64_t n, void* w, const void* g, void* m, void* v, const void* mask,
                   double lr, double beta1, double beta2, double eps, double weight_decay,
                   int64_t step, int decoupled) {
  static const char* F = "tp_adam_update";
  TP_TRY(tp__check_adam(F, n, w, g, m, v, mask, lr, beta1, beta2, eps, weight_decay, step));
  if (n == 0) return TP_OK;

  const double bc1 = 1.0 - pow(beta1, (double)step);
  const double bc2 = 1.0 - pow(beta2, (double)step);
  adam_ctx k = {w,
                m,
                v,
                g,
                mask,
                (float)beta1,
                (float)beta2,
                (float)(1.0 - beta1),
                (float)(1.0 - beta2),
                (float)-(lr / bc1),
                (float)sqrt(bc2),
                (float)eps,
                (float)weight_decay,
                (float)(1.0 - lr * weight_decay),
                weight_decay != 0 && !decoupled,
                weight_decay != 0 && decoupled};
  tp__parallel_for(n, OPT_PAR_MIN, adam_range, &k);
  return TP_OK;
}
