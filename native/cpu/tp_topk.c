/* Exact top-k masks over a concatenation of f32 tensors by radix select.
 *
 * Each score maps to a u32 key whose unsigned order is the score order: |x| bits for use_abs
 * (sign bit cleared, so -0 == +0); otherwise -0 is first made +0, then negatives have all bits
 * flipped and non-negatives get the sign bit set. Three histogram passes over 11, 11 and 10 key
 * bits find the keep-th largest key T and the number of keys above it; the masks then keep
 * every key > T and the first (keep - count_above) keys == T in concatenation order.
 * The flat index space is cut into P fixed parts (P = thread count, 1 for small inputs);
 * histograms are per part and summed as integers, and the last pass's per-part histograms give
 * each part the number of T-keys before it, so the result is exact for any thread count.
 * NaN anywhere fails with TP_ERR_NUMERIC naming the first one. masks may not share a buffer
 * with any score tensor or another mask. */
#include <stdlib.h>
#include <string.h>

#include "tp_internal.h"

#define TOPK_MAX_TENSORS (1 << 20)
#define TOPK_PAR_MIN 65536
#define NBUCKET 2048

typedef struct {
  int count, use_abs, pass; /* pass: 0 = first histogram + NaN scan, 1..2 = filtered, 3 = write */
  const float* const* scores;
  float* const* masks;
  const int64_t* start; /* start[i]: flat index of tensor i; start[count] = total */
  int64_t total, nparts;
  int shift, bits;
  uint32_t prefix, pmask, T;
  int64_t* hist;    /* [nparts][NBUCKET] */
  int64_t* nan_at;  /* [nparts]: first NaN flat index or -1 */
  int64_t* eq_before; /* [nparts] */
  int64_t take_eq;
  int fill; /* -1: general, 0: all zero, 1: all one */
} topk_ctx;

static inline uint32_t key_of(float v, int use_abs) {
  uint32_t b;
  memcpy(&b, &v, 4);
  if (use_abs) return b & 0x7fffffffu;
  if (b == 0x80000000u) b = 0;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

/* Processes elements [s, e) of tensor t (global flat start g0 = start[t] + s) for part p. */
static void seg(topk_ctx* c, int64_t p, int t, int64_t s, int64_t e, int64_t* eq_seen) {
  const float* x = c->scores[t];
  int64_t* h = c->hist + p * NBUCKET;
  const int ua = c->use_abs, sh = c->shift;
  const uint32_t dm = (1u << c->bits) - 1, pm = c->pmask, pf = c->prefix;
  if (c->pass == 0) {
    for (int64_t j = s; j < e; j++) {
      float v = x[j];
      if (v != v) {
        if (c->nan_at[p] < 0) c->nan_at[p] = c->start[t] + j;
        continue;
      }
      h[(key_of(v, ua) >> sh) & dm]++;
    }
  } else if (c->pass < 3) {
    for (int64_t j = s; j < e; j++) {
      uint32_t k = key_of(x[j], ua);
      if ((k & pm) == pf) h[(k >> sh) & dm]++;
    }
  } else {
    float* m = c->masks[t];
    if (c->fill >= 0) {
      const float f = (float)c->fill;
      for (int64_t j = s; j < e; j++) m[j] = f;
      return;
    }
    const uint32_t T = c->T;
    int64_t q = *eq_seen;
    for (int64_t j = s; j < e; j++) {
      uint32_t k = key_of(x[j], ua);
      float o = k > T ? 1.0f : 0.0f;
      if (k == T) o = q++ < c->take_eq ? 1.0f : 0.0f;
      m[j] = o;
    }
    *eq_seen = q;
  }
}

/* Runs the current pass over part p's flat range. */
static void run_part(topk_ctx* c, int64_t p) {
  int64_t a = (int64_t)((__int128)c->total * p / c->nparts);
  int64_t b = (int64_t)((__int128)c->total * (p + 1) / c->nparts);
  if (a >= b) return;
  /* first tensor whose range contains a: largest t with start[t] <= a and a < start[t+1] */
  int lo = 0, hi = c->count - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (c->start[mid] <= a) lo = mid; else hi = mid - 1;
  }
  int64_t eq_seen = c->pass == 3 ? c->eq_before[p] : 0;
  for (int t = lo; t < c->count && c->start[t] < b; t++) {
    int64_t s = a > c->start[t] ? a - c->start[t] : 0;
    int64_t e = (b < c->start[t + 1] ? b : c->start[t + 1]) - c->start[t];
    if (s < e) seg(c, p, t, s, e, &eq_seen);
  }
}

typedef struct {
  uintptr_t p, is_mask;
} ptr_rec;

static int ptr_cmp(const void* a, const void* b) {
  const ptr_rec *x = a, *y = b;
  if (x->p != y->p) return x->p < y->p ? -1 : 1;
  return (x->is_mask > y->is_mask) - (x->is_mask < y->is_mask);
}

static void run_parts(void* p, int64_t b, int64_t e) {
  for (int64_t q = b; q < e; q++) run_part(p, q);
}

/* One part per thread (P == thread count) or a single part on this thread. */
static void run_pass(topk_ctx* c) {
  const int64_t P = c->nparts;
  if (c->pass < 3) memset(c->hist, 0, (size_t)(P * NBUCKET) * sizeof(int64_t));
  if (P == 1) run_part(c, 0);
  else tp__parallel_for(P, 1, run_parts, c);
}

int tp_topk_mask(int count, const void* const* scores, const int64_t* sizes, int64_t keep,
                 int use_abs, void* const* masks) {
  static const char* F = "tp_topk_mask";
  TP_REQUIRE(count >= 0 && count <= TOPK_MAX_TENSORS, "%s: count %d outside [0, %d]", F, count,
             TOPK_MAX_TENSORS);
  TP_REQUIRE(count == 0 || (scores != NULL && sizes != NULL && masks != NULL),
             "%s: scores, sizes or masks array is NULL", F);
  int64_t total = 0;
  for (int i = 0; i < count; i++) {
    TP_REQUIRE(sizes[i] >= 0, "%s: sizes[%d] = %lld is negative", F, i, (long long)sizes[i]);
    TP_REQUIRE(sizes[i] <= ((int64_t)1 << 56) - total, "%s: total size overflows", F);
    total += sizes[i];
  }
  TP_REQUIRE(keep >= 0 && keep <= total, "%s: keep %lld outside [0, %lld]", F, (long long)keep,
             (long long)total);
  for (int i = 0; i < count; i++) {
    if (sizes[i] == 0) continue;
    char name[40];
    snprintf(name, sizeof name, "scores[%d]", i);
    TP_TRY(tp__check_range(F, name, scores[i], 0, sizes[i], 4));
    snprintf(name, sizeof name, "masks[%d]", i);
    TP_TRY(tp__check_range(F, name, masks[i], 0, sizes[i], 4));
  }
  if (total == 0) return TP_OK;

  const int nt = tp__threads();
  const int64_t P = (nt > 1 && total > TOPK_PAR_MIN) ? nt : 1;
  /* scratch: start[count+1] | hist[P*NBUCKET] | nan_at[P] | eq_before[P] | ptr_rec[2*count] */
  const int64_t words = (count + 1) + P * NBUCKET + 2 * P;
  const uint64_t bytes = (uint64_t)words * 8 + (uint64_t)count * 2 * sizeof(ptr_rec);
  int64_t* buf = tp__scratch_alloc(bytes);
  if (!buf) return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory (%llu bytes of scratch)", F,
                            (unsigned long long)bytes);
  topk_ctx c = {0};
  c.count = count;
  c.use_abs = use_abs != 0;
  c.scores = (const float* const*)scores;
  c.masks = (float* const*)masks;
  int64_t* start = buf;
  c.start = start;
  c.hist = buf + count + 1;
  c.nan_at = c.hist + P * NBUCKET;
  c.eq_before = c.nan_at + P;
  c.total = total;
  c.nparts = P;
  c.fill = -1;
  start[0] = 0;
  for (int i = 0; i < count; i++) start[i + 1] = start[i] + sizes[i];

  for (int64_t p = 0; p < P; p++) c.eq_before[p] = 0;

  /* masks must not share a buffer with a score or another mask: sort and compare neighbours */
  ptr_rec* ptrs = (ptr_rec*)(c.eq_before + P);
  int np = 0, status = TP_OK;
  for (int i = 0; i < count; i++)
    if (sizes[i] > 0) {
      ptrs[np++] = (ptr_rec){(uintptr_t)scores[i], 0};
      ptrs[np++] = (ptr_rec){(uintptr_t)masks[i], 1};
    }
  qsort(ptrs, (size_t)np, sizeof *ptrs, ptr_cmp);
  for (int i = 1; i < np && status == TP_OK; i++)
    if (ptrs[i].p == ptrs[i - 1].p && ptrs[i].is_mask)
      status = tp__fail(TP_ERR_INVALID_ARGUMENT,
                        "%s: a mask buffer (%p) is also a score buffer or another mask", F,
                        (void*)ptrs[i].p);

  if (status == TP_OK) {
    /* pass 0: NaN scan and histogram of the top 11 bits */
    for (int64_t p = 0; p < P; p++) c.nan_at[p] = -1;
    c.pass = 0, c.shift = 21, c.bits = 11, c.prefix = 0, c.pmask = 0;
    run_pass(&c);
    for (int64_t p = 0; p < P; p++)
      if (c.nan_at[p] >= 0) {
        int64_t f = c.nan_at[p];
        int t = 0;
        while (start[t + 1] <= f) t++;
        status = tp__fail(TP_ERR_NUMERIC, "%s: scores[%d] element %lld is NaN", F, t,
                          (long long)(f - start[t]));
        break;
      }
  }
  if (status == TP_OK) {
    if (keep == 0 || keep == total) {
      c.fill = keep == 0 ? 0 : 1;
    } else {
      static const int shifts[3] = {21, 10, 0}, nbits[3] = {11, 11, 10};
      int64_t remaining = keep; /* how many of the keys matching the prefix to keep */
      for (int pass = 0; pass < 3; pass++) {
        if (pass > 0) {
          c.pass = pass, c.shift = shifts[pass], c.bits = nbits[pass];
          run_pass(&c);
        }
        int64_t cum = 0, d = (1 << nbits[pass]) - 1;
        for (; d >= 0; d--) {
          int64_t h = 0;
          for (int64_t p = 0; p < P; p++) h += c.hist[p * NBUCKET + d];
          if (cum + h >= remaining) break;
          cum += h;
        }
        remaining -= cum;
        c.prefix |= (uint32_t)d << shifts[pass];
        c.pmask |= (uint32_t)((1 << nbits[pass]) - 1) << shifts[pass];
        if (pass == 2) { /* per-part counts of keys == T, in part order */
          int64_t before = 0;
          for (int64_t p = 0; p < P; p++) {
            c.eq_before[p] = before;
            before += c.hist[p * NBUCKET + d];
          }
        }
      }
      c.T = c.prefix;
      c.take_eq = remaining;
    }
    c.pass = 3;
    run_pass(&c);
  }
  tp__scratch_free(buf);
  return status;
}

