/* Stateless counter-based random numbers (Philox-4x32-10) on the device, bit-identical to the
 * CPU backend for the same (seed, stream, counter): element i comes from the block with key
 * (seed lo, seed hi) and counter (i / 4, counter lo, counter hi, stream), word i % 4; one
 * thread computes one block and writes its (up to) four elements, so values never depend on
 * the launch shape. uniform: u = (word >> 8) * 2^-24, y = fmaf(hi - lo, u, lo); bernoulli:
 * u < p; bits: raw words. normal: Box-Muller in double on word pairs (0,1) and (2,3) with the
 * CPU's operation order, y0 = fma(std * r, cos t, mean), y1 = fma(std * r, sin t, mean), which
 * is what gcc -O3 -march=native contracts the CPU's `mean + std * r * cos(t)` into on FMA
 * hardware. CUDA's double log (1 ulp) and sincos (2 ulp) are not correctly rounded while
 * glibc's are within about half an ulp, so a normal draw can, very rarely, differ from the
 * CPU in the last bit of the float; uniform, bernoulli and bits are exact. No host sync. */
#include "tp_cuda_internal.h"

enum { RNG_UNIFORM, RNG_NORMAL, RNG_BERNOULLI, RNG_BITS };

/* Philox-4x32-10 block for counter (c0..c3) and key (k0, k1). */
static __device__ __forceinline__ uint4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2,
                                                      uint32_t c3, uint32_t k0, uint32_t k1) {
#pragma unroll
  for (int r = 0; r < 10; r++) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return make_uint4(c0, c1, c2, c3);
}

/* (w >> 8) * 2^-24, exact. */
static __device__ __forceinline__ float word_u(uint32_t w) {
  return __fmul_rn(__uint2float_rn(w >> 8), 0x1p-24f);
}

/* Box-Muller on one word pair; a = mean, b = std. */
static __device__ __forceinline__ void box_muller(uint32_t w0, uint32_t w1, float a, float b,
                                                  float* y0, float* y1) {
  const double u0 = (double)word_u(w0), u1 = (double)word_u(w1);
  const double rr = __dsqrt_rn(__dmul_rn(log(__dsub_rn(1.0, u0)), -2.0));
  const double t = __dmul_rn(u1, 6.283185307179586);
  double s, c;
  sincos(t, &s, &c);
  const double br = __dmul_rn(rr, (double)b);
  *y0 = (float)fma(br, c, (double)a);
  *y1 = (float)fma(br, s, (double)a);
}

template <int KIND>
static __global__ void rng_kernel(void* y, int64_t n, uint32_t k0, uint32_t k1, uint32_t c1,
                                  uint32_t c2, uint32_t c3, float a, float b) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t blk = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; blk < nb;
       blk += (int64_t)gridDim.x * blockDim.x) {
    const uint4 w = philox4x32_10((uint32_t)blk, c1, c2, c3, k0, k1);
    const int64_t i0 = blk * 4;
    const int m = n - i0 < 4 ? (int)(n - i0) : 4;
    if (KIND == RNG_BITS) {
      uint32_t* out = (uint32_t*)y + i0;
      if (m == 4) {
        *(uint4*)out = w; /* i0 is a multiple of 4 and tp_alloc buffers are 64-byte aligned */
      } else {
        const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
        for (int k = 0; k < m; k++) out[k] = ws[k];
      }
      continue;
    }
    float v[4];
    if (KIND == RNG_UNIFORM) {
      const float d = __fsub_rn(b, a);
      v[0] = fmaf(d, word_u(w.x), a);
      v[1] = fmaf(d, word_u(w.y), a);
      v[2] = fmaf(d, word_u(w.z), a);
      v[3] = fmaf(d, word_u(w.w), a);
    } else if (KIND == RNG_BERNOULLI) {
      v[0] = word_u(w.x) < a ? 1.0f : 0.0f;
      v[1] = word_u(w.y) < a ? 1.0f : 0.0f;
      v[2] = word_u(w.z) < a ? 1.0f : 0.0f;
      v[3] = word_u(w.w) < a ? 1.0f : 0.0f;
    } else {
      box_muller(w.x, w.y, a, b, &v[0], &v[1]);
      if (m > 2) box_muller(w.z, w.w, a, b, &v[2], &v[3]);
    }
    float* out = (float*)y + i0;
    if (m == 4) {
      *(float4*)out = make_float4(v[0], v[1], v[2], v[3]);
    } else {
      for (int k = 0; k < m; k++) out[k] = v[k];
    }
  }
}

static int rng_draw(const char* f, int kind, void* y, int64_t n, uint64_t seed, uint32_t stream,
                    uint64_t counter, float a, float b) {
  TP_REQUIRE(n >= 0 && n <= ((int64_t)1 << 34), "%s: element count %lld outside [0, 2^34]", f,
             (long long)n);
  if (n == 0) return TP_OK;
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_range(f, "y", y, 0, n, 4));
  const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  const uint32_t c1 = (uint32_t)counter, c2 = (uint32_t)(counter >> 32), c3 = stream;
  const int64_t nb = (n + 3) / 4;
  const unsigned grid = tp__blocks(nb);
  cudaStream_t st = tp__stream();
  switch (kind) {
    case RNG_UNIFORM:
      rng_kernel<RNG_UNIFORM><<<grid, TP_THREADS, 0, st>>>(y, n, k0, k1, c1, c2, c3, a, b);
      break;
    case RNG_NORMAL:
      rng_kernel<RNG_NORMAL><<<grid, TP_THREADS, 0, st>>>(y, n, k0, k1, c1, c2, c3, a, b);
      break;
    case RNG_BERNOULLI:
      rng_kernel<RNG_BERNOULLI><<<grid, TP_THREADS, 0, st>>>(y, n, k0, k1, c1, c2, c3, a, b);
      break;
    default:
      rng_kernel<RNG_BITS><<<grid, TP_THREADS, 0, st>>>(y, n, k0, k1, c1, c2, c3, a, b);
      break;
  }
  return tp__launch_check(f);
}

int tp_rand_uniform(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter,
                    float lo, float hi) {
  return rng_draw("tp_rand_uniform", RNG_UNIFORM, y, n, seed, stream, counter, lo, hi);
}

int tp_rand_normal(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter,
                   float mean, float std) {
  return rng_draw("tp_rand_normal", RNG_NORMAL, y, n, seed, stream, counter, mean, std);
}

int tp_rand_bernoulli(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter,
                      float p) {
  return rng_draw("tp_rand_bernoulli", RNG_BERNOULLI, y, n, seed, stream, counter, p, 0);
}

int tp_rand_bits(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter) {
  return rng_draw("tp_rand_bits", RNG_BITS, y, n, seed, stream, counter, 0, 0);
}
