/* Exact top-k masks over a concatenation of f32 tensors by radix select, on the device.
 * Each score maps to the CPU's u32 key whose unsigned order is the score order (|x| bits for
 * use_abs, so -0 == +0; otherwise -0 -> +0, negatives all bits flipped, non-negatives sign bit
 * set). Blocks cover fixed chunks of TK_CHUNK elements of one tensor, in concatenation order
 * (a host table maps blocks to tensors). Four histogram passes over 8 key bits each (per-block
 * shared histograms, added to a global one with integer atomics, so counts are exact) are each
 * followed by a one-block kernel that picks the digit, so the keep-th largest key T and the
 * number of keys above it are found without a host round trip. The masks keep every key > T
 * and the first (keep - count_above) keys == T in concatenation order: per-block counts of
 * T-keys, an exclusive scan in block order, then ranks within each block by warp ballots. The
 * result equals the CPU's (exact integers throughout). NaN scores fail with TP_ERR_NUMERIC
 * naming the first one, as on the CPU: the first pass records the lowest NaN index in scratch
 * memory, the mask kernel writes nothing when it is set, and the host reads it back at the end
 * (one stream sync per call, needed for the status). masks may not share a buffer with any
 * score tensor or another mask. */
#include <stdio.h>
#include <stdlib.h>

#include "tp_cuda_internal.h"

#define TOPK_MAX_TENSORS (1 << 20)
#define TK_PER_THREAD 16
#define TK_CHUNK (TP_THREADS * TK_PER_THREAD) /* elements per block */
#define TK_WARPS (TP_THREADS / 32)
#define TK_SCAN_THREADS 1024
#define TK_NONE (~0ull)

static_assert(TP_THREADS == 256, "one histogram bin per thread");

struct tk_tensor {
  const float* s;
  float* m;
  int64_t start; /* flat index of element 0 */
  int64_t size;
  int64_t blk0; /* first block */
};

struct tk_state {
  unsigned long long hist[256];
  unsigned long long nan_at; /* lowest NaN flat index, or TK_NONE */
  long long remaining;       /* keys to keep among those matching the prefix */
  uint32_t prefix, pmask;    /* after the last pass prefix == T */
};

static __device__ __forceinline__ uint32_t key_of(float v, int use_abs) {
  uint32_t b = __float_as_uint(v);
  if (use_abs) return b & 0x7fffffffu;
  if (b == 0x80000000u) b = 0;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

/* This block's tensor (largest t with blk0 <= block; every tensor here has >= 1 block) and
 * its element range [*j0, *j1). */
static __device__ __forceinline__ const tk_tensor* tk_locate(const tk_tensor* tab, int nt,
                                                             int64_t* j0, int64_t* j1) {
  const int64_t b = blockIdx.x;
  int lo = 0, hi = nt - 1;
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (tab[mid].blk0 <= b) lo = mid;
    else hi = mid - 1;
  }
  const tk_tensor* t = tab + lo;
  *j0 = (b - t->blk0) * TK_CHUNK;
  *j1 = *j0 + TK_CHUNK < t->size ? *j0 + TK_CHUNK : t->size;
  return t;
}

static __global__ void tk_init(tk_state* st, long long keep) {
  st->hist[threadIdx.x] = 0;
  if (threadIdx.x == 0) {
    st->nan_at = TK_NONE;
    st->remaining = keep;
    st->prefix = 0;
    st->pmask = 0;
  }
}

/* Histogram of key bits [shift, shift + 8) over keys matching the prefix; the first pass also
 * records the lowest NaN index. NaNs are skipped in every pass. */
static __global__ void __launch_bounds__(TP_THREADS)
    tk_hist(const tk_tensor* tab, int nt, tk_state* st, int use_abs, int shift, int scan_nan,
            int want_hist) {
  __shared__ unsigned h[256];
  h[threadIdx.x] = 0;
  __syncthreads();
  const uint32_t pm = st->pmask, pf = st->prefix;
  int64_t j0, j1;
  const tk_tensor* t = tk_locate(tab, nt, &j0, &j1);
  const float* s = t->s;
  unsigned long long nan_first = TK_NONE;
  for (int r = 0; r < TK_PER_THREAD; r++) {
    if (j0 + r * TP_THREADS >= j1) break; /* uniform over the block */
    const int64_t j = j0 + r * TP_THREADS + threadIdx.x;
    unsigned bin = ~0u;
    if (j < j1) {
      const float v = s[j];
      if (v != v) {
        if (scan_nan && nan_first == TK_NONE) nan_first = (unsigned long long)(t->start + j);
      } else {
        const uint32_t k = key_of(v, use_abs);
        if ((k & pm) == pf) bin = (k >> shift) & 255u;
      }
    }
    if (want_hist) { /* one shared atomic per distinct bin of the warp */
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (bin != ~0u && (int)(threadIdx.x & 31) == __ffs(peers) - 1)
        atomicAdd(&h[bin], (unsigned)__popc(peers));
    }
  }
  if (nan_first != TK_NONE) atomicMin(&st->nan_at, nan_first);
  __syncthreads();
  const unsigned mine = h[threadIdx.x];
  if (want_hist && mine) atomicAdd(&st->hist[threadIdx.x], (unsigned long long)mine);
}

/* Picks the digit of this pass as the CPU's loop over buckets does (256 threads stage the
 * histogram in shared memory and clear it for the next pass; thread 0 scans). */
static __global__ void tk_select(tk_state* st, int shift) {
  __shared__ unsigned long long h[256];
  h[threadIdx.x] = st->hist[threadIdx.x];
  st->hist[threadIdx.x] = 0;
  __syncthreads();
  if (threadIdx.x != 0) return;
  const long long rem = st->remaining;
  long long cum = 0;
  int d = 255;
  for (; d >= 0; d--) {
    const long long c = (long long)h[d];
    if (cum + c >= rem) break;
    cum += c;
  }
  if (d < 0) d = 0; /* only when NaNs were skipped; the call then fails */
  st->remaining = rem - cum;
  st->prefix |= (uint32_t)d << shift;
  st->pmask |= 0xffu << shift;
}

/* Per-block count of keys == T. */
static __global__ void __launch_bounds__(TP_THREADS)
    tk_count(const tk_tensor* tab, int nt, const tk_state* st, int use_abs, unsigned* blk_eq) {
  __shared__ unsigned wsum[TK_WARPS];
  const uint32_t T = st->prefix;
  int64_t j0, j1;
  const tk_tensor* t = tk_locate(tab, nt, &j0, &j1);
  const float* s = t->s;
  unsigned c = 0;
  for (int r = 0; r < TK_PER_THREAD; r++) {
    const int64_t j = j0 + r * TP_THREADS + threadIdx.x;
    if (j >= j1) break;
    const float v = s[j];
    c += (v == v && key_of(v, use_abs) == T) ? 1u : 0u;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) c += __shfl_xor_sync(0xffffffffu, c, o);
  if ((threadIdx.x & 31) == 0) wsum[threadIdx.x >> 5] = c;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned tot = 0;
    for (int w = 0; w < TK_WARPS; w++) tot += wsum[w];
    blk_eq[blockIdx.x] = tot;
  }
}

/* Exclusive scan of blk_eq in block order (one block; contiguous segments per thread). */
static __global__ void __launch_bounds__(TK_SCAN_THREADS)
    tk_scan(const unsigned* blk_eq, int64_t nblk, unsigned long long* eq_before) {
  __shared__ unsigned long long sh[TK_SCAN_THREADS];
  const int64_t per = (nblk + TK_SCAN_THREADS - 1) / TK_SCAN_THREADS;
  const int64_t a = threadIdx.x * per;
  const int64_t e = a + per < nblk ? a + per : nblk;
  unsigned long long sum = 0;
  for (int64_t i = a; i < e; i++) sum += blk_eq[i];
  sh[threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long run = 0;
    for (int i = 0; i < TK_SCAN_THREADS; i++) {
      const unsigned long long v = sh[i];
      sh[i] = run;
      run += v;
    }
  }
  __syncthreads();
  unsigned long long run = sh[threadIdx.x];
  for (int64_t i = a; i < e; i++) {
    eq_before[i] = run;
    run += blk_eq[i];
  }
}

/* Writes the masks (fill >= 0: every entry = fill); nothing when a NaN was found. */
static __global__ void __launch_bounds__(TP_THREADS)
    tk_write(const tk_tensor* tab, int nt, const tk_state* st, int use_abs, int fill,
             const unsigned long long* eq_before) {
  __shared__ unsigned wcnt[TK_WARPS];
  if (st->nan_at != TK_NONE) return;
  int64_t j0, j1;
  const tk_tensor* t = tk_locate(tab, nt, &j0, &j1);
  const float* s = t->s;
  float* m = t->m;
  if (fill >= 0) {
    for (int64_t j = j0 + threadIdx.x; j < j1; j += TP_THREADS) m[j] = (float)fill;
    return;
  }
  const uint32_t T = st->prefix;
  const long long take = st->remaining;
  long long base = (long long)eq_before[blockIdx.x]; /* T-keys before this block */
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  for (int r = 0; r < TK_PER_THREAD; r++) { /* uniform trip count: __syncthreads inside */
    const int64_t j = j0 + r * TP_THREADS + threadIdx.x;
    const bool valid = j < j1;
    const uint32_t k = valid ? key_of(s[j], use_abs) : 0u;
    const bool eq = valid && k == T;
    const unsigned bal = __ballot_sync(0xffffffffu, eq);
    if (lane == 0) wcnt[w] = __popc(bal);
    __syncthreads();
    unsigned before = 0, tot = 0;
    for (int q = 0; q < TK_WARPS; q++) {
      const unsigned c = wcnt[q];
      if (q < w) before += c;
      tot += c;
    }
    const long long rank = base + before + __popc(bal & ((1u << lane) - 1u));
    if (valid) m[j] = (k > T || (eq && rank < take)) ? 1.0f : 0.0f;
    base += tot;
    __syncthreads();
  }
}

typedef struct {
  uintptr_t p, is_mask;
} ptr_rec;

static int ptr_cmp(const void* a, const void* b) {
  const ptr_rec *x = (const ptr_rec*)a, *y = (const ptr_rec*)b;
  if (x->p != y->p) return x->p < y->p ? -1 : 1;
  return (x->is_mask > y->is_mask) - (x->is_mask < y->is_mask);
}

static uint64_t align256(uint64_t b) { return (b + 255) & ~(uint64_t)255; }

/* Queues the whole selection; the caller reads st->nan_at back. */
static int tk_run(const char* f, const tk_tensor* dtab, int nt, int64_t nblk, tk_state* st,
                  unsigned* blk_eq, unsigned long long* eq_before, int64_t keep, int64_t total,
                  int use_abs) {
  cudaStream_t sm = tp__stream();
  const unsigned grid = (unsigned)nblk;
  tk_init<<<1, 256, 0, sm>>>(st, (long long)keep);
  TP_TRY(tp__launch_check(f));
  if (keep == 0 || keep == total) {
    tk_hist<<<grid, TP_THREADS, 0, sm>>>(dtab, nt, st, use_abs, 0, 1, 0);
    TP_TRY(tp__launch_check(f));
    tk_write<<<grid, TP_THREADS, 0, sm>>>(dtab, nt, st, use_abs, keep == 0 ? 0 : 1, eq_before);
    return tp__launch_check(f);
  }
  for (int pass = 0; pass < 4; pass++) {
    const int shift = 24 - 8 * pass;
    tk_hist<<<grid, TP_THREADS, 0, sm>>>(dtab, nt, st, use_abs, shift, pass == 0, 1);
    TP_TRY(tp__launch_check(f));
    tk_select<<<1, 256, 0, sm>>>(st, shift);
    TP_TRY(tp__launch_check(f));
  }
  tk_count<<<grid, TP_THREADS, 0, sm>>>(dtab, nt, st, use_abs, blk_eq);
  TP_TRY(tp__launch_check(f));
  tk_scan<<<1, TK_SCAN_THREADS, 0, sm>>>(blk_eq, nblk, eq_before);
  TP_TRY(tp__launch_check(f));
  tk_write<<<grid, TP_THREADS, 0, sm>>>(dtab, nt, st, use_abs, -1, eq_before);
  return tp__launch_check(f);
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
  if (total == 0) return TP_OK; /* no tensor has elements: nothing to check or write */
  TP_TRY(tp__ensure_init());
  int nt = 0;
  int64_t nblk = 0;
  for (int i = 0; i < count; i++) {
    if (sizes[i] == 0) continue;
    char name[40];
    snprintf(name, sizeof name, "scores[%d]", i);
    TP_TRY(tp__check_range(F, name, scores[i], 0, sizes[i], 4));
    snprintf(name, sizeof name, "masks[%d]", i);
    TP_TRY(tp__check_range(F, name, masks[i], 0, sizes[i], 4));
    nt++;
    nblk += (sizes[i] + TK_CHUNK - 1) / TK_CHUNK;
  }
  if (nblk > 0x7fffffff)
    return tp__fail(TP_ERR_UNSUPPORTED, "%s: %lld elements need more than 2^31 blocks", F,
                    (long long)total);

  /* host: start[count+1] | tab[nt] | ptr_rec[2*nt] */
  const size_t hbytes = (size_t)(count + 1) * sizeof(int64_t) + (size_t)nt * sizeof(tk_tensor) +
                        (size_t)nt * 2 * sizeof(ptr_rec);
  char* hbuf = (char*)malloc(hbytes);
  if (!hbuf)
    return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory (%llu bytes of host memory)", F,
                    (unsigned long long)hbytes);
  int64_t* start = (int64_t*)hbuf;
  tk_tensor* tab = (tk_tensor*)(start + count + 1);
  ptr_rec* ptrs = (ptr_rec*)(tab + nt);
  start[0] = 0;
  for (int i = 0, q = 0; i < count; i++) {
    start[i + 1] = start[i] + sizes[i];
    if (sizes[i] == 0) continue;
    tab[q].s = (const float*)scores[i];
    tab[q].m = (float*)masks[i];
    tab[q].start = start[i];
    tab[q].size = sizes[i];
    tab[q].blk0 = q ? tab[q - 1].blk0 + (tab[q - 1].size + TK_CHUNK - 1) / TK_CHUNK : 0;
    q++;
  }

  /* device scratch: state | tab | blk_eq[nblk] | eq_before[nblk] */
  const uint64_t o_tab = align256(sizeof(tk_state));
  const uint64_t o_eq = o_tab + align256((uint64_t)nt * sizeof(tk_tensor));
  const uint64_t o_before = o_eq + align256((uint64_t)nblk * sizeof(unsigned));
  const uint64_t bytes = o_before + (uint64_t)nblk * sizeof(unsigned long long);
  char* buf = (char*)tp__scratch_alloc(bytes);
  if (!buf) {
    free(hbuf);
    return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory (%llu bytes of scratch)", F,
                    (unsigned long long)bytes);
  }

  /* masks must not share a buffer with a score or another mask: sort and compare neighbours */
  int np = 0, status = TP_OK;
  for (int q = 0; q < nt; q++) {
    ptrs[np++] = ptr_rec{(uintptr_t)tab[q].s, 0};
    ptrs[np++] = ptr_rec{(uintptr_t)tab[q].m, 1};
  }
  qsort(ptrs, (size_t)np, sizeof *ptrs, ptr_cmp);
  for (int i = 1; i < np && status == TP_OK; i++)
    if (ptrs[i].p == ptrs[i - 1].p && ptrs[i].is_mask)
      status = tp__fail(TP_ERR_INVALID_ARGUMENT,
                        "%s: a mask buffer (%p) is also a score buffer or another mask", F,
                        (void*)ptrs[i].p);

  unsigned long long nan_at = TK_NONE;
  if (status == TP_OK) {
    cudaStream_t sm = tp__stream();
    tk_state* st = (tk_state*)buf;
    tk_tensor* dtab = (tk_tensor*)(buf + o_tab);
    status = tp__cuda_status(cudaMemcpyAsync(dtab, tab, (size_t)nt * sizeof(tk_tensor),
                                             cudaMemcpyHostToDevice, sm),
                             F);
    if (status == TP_OK)
      status = tk_run(F, dtab, nt, nblk, st, (unsigned*)(buf + o_eq),
                      (unsigned long long*)(buf + o_before), keep, total, use_abs != 0);
    if (status == TP_OK)
      status = tp__cuda_status(cudaMemcpyAsync(&nan_at, &st->nan_at, sizeof nan_at,
                                               cudaMemcpyDeviceToHost, sm),
                               F);
    /* The one host sync: the NaN status; it also keeps `tab` alive until its copy is done. */
    const int s2 = tp__sync(F);
    if (status == TP_OK) status = s2;
  }
  if (status == TP_OK && nan_at != TK_NONE) {
    const int64_t f = (int64_t)nan_at;
    int t = 0;
    while (start[t + 1] <= f) t++;
    status = tp__fail(TP_ERR_NUMERIC, "%s: scores[%d] element %lld is NaN", F, t,
                      (long long)(f - start[t]));
  }
  tp__scratch_free(buf);
  free(hbuf);
  return status;
}
