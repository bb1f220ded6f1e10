/* Stateless counter-based random numbers (Philox-4x32-10).
 *
 * Element i of a draw comes from the block with key (seed lo, seed hi) and counter
 * (i / 4, counter lo, counter hi, stream), word i % 4. Blocks are independent, so they are
 * spread over threads without changing any value; a draw holds at most 2^34 elements.
 * uniform: u = (word >> 8) * 2^-24, y = fmaf(hi - lo, u, lo) (one rounding, whatever the
 *   compiler's contraction setting; for lo = 0, hi = 1 this is u exactly).
 * normal: Box-Muller in double on word pairs (0,1) and (2,3), u as above.
 * bernoulli: 1.0f if u < p else 0.0f. bits: raw u32 words. */
#include <math.h>

#include "tp_internal.h"
#include "tp_philox.h"

#define RNG_LANES 16 /* blocks computed together, so the rounds vectorize */
#define RNG_PAR_MIN_GROUPS 256

enum { RNG_UNIFORM, RNG_NORMAL, RNG_BERNOULLI, RNG_BITS };

static inline float word_u(uint32_t w) { return (float)(w >> 8) * 0x1p-24f; }

/* Blocks blk0 .. blk0 + RNG_LANES - 1 into w (element order); the loop over blocks vectorizes. */
static void philox_lanes(uint32_t blk0, const uint32_t c[3], const uint32_t key[2],
                         uint32_t w[RNG_LANES][4]) {
  for (int l = 0; l < RNG_LANES; l++) {
    const uint32_t ctr[4] = {blk0 + (uint32_t)l, c[0], c[1], c[2]};
    tp__philox4x32_10(ctr, key, w[l]);
  }
}

typedef struct {
  int kind;
  int64_t n;
  uint32_t key[2], c[3];
  float a, b;
  void* y;
} rng_ctx;

/* Groups [g0, g1) of RNG_LANES blocks each. */
static void rng_range(void* p, int64_t g0, int64_t g1) {
  const rng_ctx* r = p;
  const int kind = r->kind;
  const int64_t n = r->n, per = 4 * RNG_LANES;
  const float a = r->a, b = r->b;
  for (int64_t grp = g0; grp < g1; grp++) {
    uint32_t wl[RNG_LANES][4];
    float v[4 * RNG_LANES];
    philox_lanes((uint32_t)(grp * RNG_LANES), r->c, r->key, wl);
    const uint32_t* w = &wl[0][0];
    const int64_t i0 = grp * per;
    const int m = n - i0 < per ? (int)(n - i0) : (int)per;
    if (kind == RNG_BITS) {
      for (int k = 0; k < m; k++) ((uint32_t*)r->y)[i0 + k] = w[k];
      continue;
    }
    if (kind == RNG_UNIFORM) {
      for (int k = 0; k < per; k++) v[k] = fmaf(b - a, word_u(w[k]), a);
    } else if (kind == RNG_BERNOULLI) {
      for (int k = 0; k < per; k++) v[k] = word_u(w[k]) < a ? 1.0f : 0.0f;
    } else {
      for (int k = 0; k < m; k += 2) {
        const double u0 = word_u(w[k]), u1 = word_u(w[k + 1]);
        const double rr = sqrt(-2.0 * log(1.0 - u0)), t = 6.283185307179586 * u1;
        v[k] = (float)((double)a + (double)b * rr * cos(t));
        v[k + 1] = (float)((double)a + (double)b * rr * sin(t));
      }
    }
    for (int k = 0; k < m; k++) ((float*)r->y)[i0 + k] = v[k];
  }
}

static int rng_draw(const char* f, int kind, void* y, int64_t n, uint64_t seed, uint32_t stream,
                    uint64_t counter, float a, float b) {
  TP_REQUIRE(n >= 0 && n <= ((int64_t)1 << 34), "%s: element count %lld outside [0, 2^34]", f,
             (long long)n);
  if (n == 0) return TP_OK;
  TP_TRY(tp__check_range(f, "y", y, 0, n, 4));
  rng_ctx r = {kind, n, {(uint32_t)seed, (uint32_t)(seed >> 32)},
               {(uint32_t)counter, (uint32_t)(counter >> 32), stream}, a, b, y};
  const int64_t per = 4 * RNG_LANES;
  tp__parallel_for((n + per - 1) / per, RNG_PAR_MIN_GROUPS, rng_range, &r);
  return TP_OK;
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
