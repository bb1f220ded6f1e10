/* Fused optimizer updates on the device, mirroring PyTorch 1.13's single-tensor SGD and Adam
 * and the CPU backend bit for bit: the scalar factors are formed on the host in double exactly
 * as tp_optim.c does (same pow/sqrt, rounded once to float), and every element follows the CPU
 * body with the same roundings: explicit fmaf where the CPU calls fmaf, and, for Adam's
 * second moment, vi = fmaf(c2 * gr, gr, v * b2), which is what gcc -O3 -march=native
 * contracts the CPU's `v * b2 + c2 * gr * gr` into on FMA hardware (likewise the AdamW decay
 * factor is fma(-lr, wd, 1) in double, as on the CPU). Products, divisions and
 * square roots use the _rn intrinsics so nvcc's contraction or fast-math flags cannot change
 * them. Where mask == 0 (mask non-NULL) the weight and its state are written as exactly 0.
 * Buffers must be distinct (pointer comparison, as on the CPU). One thread per element; no
 * host sync. */
#include <math.h>

#include "tp_cuda_internal.h"

struct sgd_args {
  float wd, mom, damp1, neg_lr;
  int use_mom, use_wd, nesterov, first_step;
};

static __global__ void sgd_kernel(int64_t n, float* __restrict__ W,
                                  const float* __restrict__ G, float* __restrict__ B,
                                  const float* __restrict__ M, sgd_args k) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const bool keep = M ? M[i] != 0.0f : true;
    float d = G[i];
    if (k.use_wd) d = fmaf(W[i], k.wd, d);
    if (k.use_mom) {
      const float bn = k.first_step ? d : fmaf(d, k.damp1, __fmul_rn(B[i], k.mom));
      B[i] = keep ? bn : 0.0f;
      d = k.nesterov ? fmaf(bn, k.mom, d) : bn;
    } else if (B && !keep) {
      B[i] = 0.0f;
    }
    W[i] = keep ? fmaf(d, k.neg_lr, W[i]) : 0.0f;
  }
}

struct adam_args {
  float b1, b2, c1, c2, neg_step, bc2s, eps, wd, decay;
  int l2, wdec;
};

static __global__ void adam_kernel(int64_t n, float* __restrict__ W,
                                   const float* __restrict__ G, float* __restrict__ Mo,
                                   float* __restrict__ V, const float* __restrict__ K,
                                   adam_args k) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const bool keep = K ? K[i] != 0.0f : true;
    float x = W[i], gr = G[i];
    if (k.wdec) x = __fmul_rn(x, k.decay);
    if (k.l2) gr = fmaf(x, k.wd, gr);
    const float mi = fmaf(gr, k.c1, __fmul_rn(Mo[i], k.b1));
    const float vi = fmaf(__fmul_rn(k.c2, gr), gr, __fmul_rn(V[i], k.b2));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), k.bc2s), k.eps);
    Mo[i] = keep ? mi : 0.0f;
    V[i] = keep ? vi : 0.0f;
    W[i] = keep ? fmaf(k.neg_step, __fdiv_rn(mi, denom), x) : 0.0f;
  }
}

int tp_sgd_update(int64_t n, void* w, const void* g, void* buf, const void* mask, double lr,
                  double momentum, double dampening, double weight_decay, int nesterov,
                  int first_step) {
  static const char* F = "tp_sgd_update";
  TP_TRY(tp__check_sgd(F, n, w, g, buf, mask, lr, momentum, dampening, weight_decay));
  if (n == 0) return TP_OK;
  TP_TRY(tp__ensure_init());

  sgd_args k;
  k.wd = (float)weight_decay;
  k.mom = (float)momentum;
  k.damp1 = (float)(1.0 - dampening);
  k.neg_lr = (float)-lr;
  k.use_mom = momentum != 0;
  k.use_wd = weight_decay != 0;
  k.nesterov = nesterov != 0;
  k.first_step = first_step != 0;
  sgd_kernel<<<tp__blocks(n), TP_THREADS, 0, tp__stream()>>>(
      n, (float*)w, (const float*)g, (float*)buf, (const float*)mask, k);
  return tp__launch_check(F);
}

int tp_adam_update(int64_t n, void* w, const void* g, void* m, void* v, const void* mask,
                   double lr, double beta1, double beta2, double eps, double weight_decay,
                   int64_t step, int decoupled) {
  static const char* F = "tp_adam_update";
  TP_TRY(tp__check_adam(F, n, w, g, m, v, mask, lr, beta1, beta2, eps, weight_decay, step));
  if (n == 0) return TP_OK;
  TP_TRY(tp__ensure_init());

  /* Host factors: the same expressions (and libm) as the CPU backend. */
  const double bc1 = 1.0 - pow(beta1, (double)step);
  const double bc2 = 1.0 - pow(beta2, (double)step);
  adam_args k;
  k.b1 = (float)beta1;
  k.b2 = (float)beta2;
  k.c1 = (float)(1.0 - beta1);
  k.c2 = (float)(1.0 - beta2);
  k.neg_step = (float)-(lr / bc1);
  k.bc2s = (float)sqrt(bc2);
  k.eps = (float)eps;
  k.wd = (float)weight_decay;
  k.decay = (float)fma(-lr, weight_decay, 1.0); /* gcc contracts the CPU's 1 - lr * wd */
  k.l2 = weight_decay != 0 && !decoupled;
  k.wdec = weight_decay != 0 && decoupled;
  adam_kernel<<<tp__blocks(n), TP_THREADS, 0, tp__stream()>>>(
      n, (float*)w, (const float*)g, (float*)m, (float*)v, (const float*)mask, k);
  return tp__launch_check(F);
}
