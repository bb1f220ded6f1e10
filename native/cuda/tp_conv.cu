/* 2-D convolution on CUDA through cuDNN's legacy API, with the parameter layout, validation
 * and messages of the CPU backend (native/cpu/tp_conv.c). Every tensor is plain NCHW
 * (format 0). A plan holds the x/w/y/convolution descriptors of one parameter array and, per
 * direction, the algorithm picked on first use from the *_v7 heuristics, or timed by
 * cudnnFind* when tp__benchmark() (first entry with status 0, deterministic ones only when
 * tp__deterministic()), its math type and workspace size; plans live in a bounded LRU table
 * registered with tp__plan_register and used under its lock. A choice, once made, is kept by
 * the algorithm table (tp_conv_algos.cu; with tp_conv_algorithms_file also in a file) and
 * reused by a rebuilt plan and by a later process. Math is FMA (no TF32) unless
 * tp__allow_tf32(), then the entry's own math type.
 * cuDNN pads only symmetrically: asymmetric padding runs on an explicitly zero-padded copy of
 * x (forward, backward-weights) or into a padded dx that is then cropped (backward-data).
 * cuDNN's int sizes make tensors over INT_MAX elements TP_ERR_UNSUPPORTED.
 * Bias is our own broadcast kernel; db our own deterministic per-channel reduction (one block
 * per channel, double partial sums in a fixed order, fixed tree). Workspace comes from the
 * caching allocator per call. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tp_cuda_internal.h"
#include "tp_checks.h"
#include "tp_conv_algos.h"
#include "tp_vendor.h"

enum { N_, C_, H_, W_, K_, R_, S_, SH, SW, PT, PL, PB, PR, DH, DW, HAS_BIAS };
enum { FWD, BWD_DATA, BWD_FILTER };
const char* const tp__conv_dir_names[3] = {"conv_fwd", "conv_bwd_data", "conv_bwd_filter"};

#define CONV_CACHE_CAP 128
#define RED_THREADS 256

typedef struct {
  int64_t key[TP_CONV_KEY_LEN];
  uint64_t last_use;
  tp_cudnn_tensor_desc x, y;
  tp_cudnn_filter_desc w;
  tp_cudnn_conv_desc conv;
  int chosen[3], algo[3], math[3];
  size_t ws[3];
} conv_plan;

static conv_plan* cache[CONV_CACHE_CAP];
static uint64_t use_clock = 0;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;

static void plan_destroy(conv_plan* pl) {
  if (!pl) return;
  if (pl->x) tp__vendor.cudnnDestroyTensorDescriptor(pl->x);
  if (pl->y) tp__vendor.cudnnDestroyTensorDescriptor(pl->y);
  if (pl->w) tp__vendor.cudnnDestroyFilterDescriptor(pl->w);
  if (pl->conv) tp__vendor.cudnnDestroyConvolutionDescriptor(pl->conv);
  free(pl);
}

static int64_t cache_entries(void) {
  int64_t n = 0;
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < CONV_CACHE_CAP; i++) n += cache[i] != NULL;
  pthread_mutex_unlock(&cache_lock);
  return n;
}

static void cache_clear(void) {
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < CONV_CACHE_CAP; i++) plan_destroy(cache[i]), cache[i] = NULL;
  pthread_mutex_unlock(&cache_lock);
}

static void register_cache(void) { tp__plan_register(cache_entries, cache_clear); }

/* ---- validation (the CPU's checks and messages) ------------------------------------------ */
static int plain_only(const char* op, const char* name, int fmt) {
  TP_REQUIRE(fmt == 0, "%s: %s has format %d, but the CUDA backend has only plain layouts "
             "(format 0)", op, name, fmt);
  return TP_OK;
}


/* What cuDNN's legacy API cannot take: tensors over INT_MAX elements (checked on the
 * parameters cuDNN sees, i.e. after explicit padding). */
static int check_supported(const char* op, const int64_t* p, int64_t P, int64_t Q) {
  if (p[H_] > INT_MAX || p[W_] > INT_MAX)
    return tp__fail(TP_ERR_UNSUPPORTED,
                    "%s: the input is %lld x %lld (after explicit padding); cuDNN's legacy "
                    "convolution takes sizes up to %d",
                    op, (long long)p[H_], (long long)p[W_], INT_MAX);
  const char* names[3] = {"x", "w", "y"};
  const int64_t dims[3][4] = {{p[N_], p[C_], p[H_], p[W_]}, {p[K_], p[C_], p[R_], p[S_]},
                              {p[N_], p[K_], P, Q}};
  for (int i = 0; i < 3; i++) {
    int64_t c = 1;
    for (int d = 0; d < 4 && c <= INT_MAX; d++)
      if (__builtin_mul_overflow(c, dims[i][d], &c)) c = (int64_t)INT_MAX + 1;
    if (c > INT_MAX)
      return tp__fail(TP_ERR_UNSUPPORTED,
                      "%s: %s has more than %d elements, the most cuDNN's legacy convolution "
                      "takes", op, names[i], INT_MAX);
  }
  return TP_OK;
}

/* ---- plans ---------------------------------------------------------------------------------- */
#define CUDNN_TRY(call) \
  do { if (tp_cudnn_status st_ = (call)) return tp__cudnn_status(st_, op); } while (0)

static int plan_init(const char* op, conv_plan* pl, const int64_t* p, int64_t P, int64_t Q) {
  CUDNN_TRY(tp__vendor.cudnnCreateTensorDescriptor(&pl->x));
  CUDNN_TRY(tp__vendor.cudnnCreateTensorDescriptor(&pl->y));
  CUDNN_TRY(tp__vendor.cudnnCreateFilterDescriptor(&pl->w));
  CUDNN_TRY(tp__vendor.cudnnCreateConvolutionDescriptor(&pl->conv));
  CUDNN_TRY(tp__vendor.cudnnSetTensor4dDescriptor(pl->x, TP_CUDNN_TENSOR_NCHW, TP_CUDNN_DATA_FLOAT,
                                                  (int)p[N_], (int)p[C_], (int)p[H_], (int)p[W_]));
  CUDNN_TRY(tp__vendor.cudnnSetTensor4dDescriptor(pl->y, TP_CUDNN_TENSOR_NCHW, TP_CUDNN_DATA_FLOAT,
                                                  (int)p[N_], (int)p[K_], (int)P, (int)Q));
  CUDNN_TRY(tp__vendor.cudnnSetFilter4dDescriptor(pl->w, TP_CUDNN_DATA_FLOAT, TP_CUDNN_TENSOR_NCHW,
                                                  (int)p[K_], (int)p[C_], (int)p[R_], (int)p[S_]));
  CUDNN_TRY(tp__vendor.cudnnSetConvolution2dDescriptor(
      pl->conv, (int)p[PT], (int)p[PL], (int)p[SH], (int)p[SW], (int)p[DH], (int)p[DW],
      TP_CUDNN_CROSS_CORRELATION, TP_CUDNN_DATA_FLOAT));
  return TP_OK;
}

/* Locks the cache and returns the plan for p (unlocked again on failure). */
static int lock_plan(const char* op, const int64_t* p, int64_t P, int64_t Q, conv_plan** out) {
  int64_t key[TP_CONV_KEY_LEN];
  memcpy(key, p, TP_CONV_NPARAMS * sizeof(int64_t));
  key[TP_CONV_NPARAMS] = tp__allow_tf32();
  key[TP_CONV_NPARAMS + 1] = tp__deterministic();
  pthread_once(&register_once, register_cache);
  pthread_mutex_lock(&cache_lock);
  int free_slot = -1, lru = 0;
  for (int i = 0; i < CONV_CACHE_CAP; i++) {
    conv_plan* c = cache[i];
    if (!c) {
      if (free_slot < 0) free_slot = i;
      continue;
    }
    if (memcmp(c->key, key, sizeof key) == 0) {
      c->last_use = ++use_clock;
      *out = c;
      return TP_OK;
    }
    if (cache[lru] == NULL || c->last_use < cache[lru]->last_use) lru = i;
  }
  conv_plan* pl = (conv_plan*)calloc(1, sizeof *pl);
  if (!pl) {
    pthread_mutex_unlock(&cache_lock);
    return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory creating a plan", op);
  }
  memcpy(pl->key, key, sizeof key);
  int s = plan_init(op, pl, p, P, Q);
  if (s != TP_OK) {
    plan_destroy(pl);
    pthread_mutex_unlock(&cache_lock);
    return s;
  }
  const int slot = free_slot >= 0 ? free_slot : lru;
  plan_destroy(cache[slot]); /* full: the least recently used goes */
  pl->last_use = ++use_clock;
  cache[slot] = pl;
  *out = pl;
  return TP_OK;
}

/* cuDNN's ranking of the algorithms of direction dir: every algorithm timed once on scratch
 * buffers cuDNN allocates itself when tp__benchmark(), else (or when timing fails, e.g. for want
 * of device memory next to the caching allocator's) its *_v7 heuristics. */
static tp_cudnn_status ranking(conv_plan* pl, int dir, int cap, int* count,
                               tp_cudnn_algo_perf* perf) {
  tp_cudnn_handle h = tp__vendor.cudnn;
  tp_cudnn_status st = 1;
  if (tp__benchmark()) {
    if (dir == FWD)
      st = tp__vendor.cudnnFindConvolutionForwardAlgorithm(h, pl->x, pl->w, pl->conv, pl->y, cap,
                                                           count, perf);
    else if (dir == BWD_DATA)
      st = tp__vendor.cudnnFindConvolutionBackwardDataAlgorithm(h, pl->w, pl->y, pl->conv, pl->x,
                                                                cap, count, perf);
    else
      st = tp__vendor.cudnnFindConvolutionBackwardFilterAlgorithm(h, pl->x, pl->y, pl->conv,
                                                                  pl->w, cap, count, perf);
    if (st == 0) return st;
  }
  if (dir == FWD)
    return tp__vendor.cudnnGetConvolutionForwardAlgorithm_v7(h, pl->x, pl->w, pl->conv, pl->y, cap,
                                                            count, perf);
  if (dir == BWD_DATA)
    return tp__vendor.cudnnGetConvolutionBackwardDataAlgorithm_v7(h, pl->w, pl->y, pl->conv, pl->x,
                                                                 cap, count, perf);
  return tp__vendor.cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, pl->x, pl->y, pl->conv, pl->w,
                                                                 cap, count, perf);
}

static tp_cudnn_status workspace_size(conv_plan* pl, int dir, int algo, size_t* bytes) {
  tp_cudnn_handle h = tp__vendor.cudnn;
  if (dir == FWD)
    return tp__vendor.cudnnGetConvolutionForwardWorkspaceSize(h, pl->x, pl->w, pl->conv, pl->y,
                                                             algo, bytes);
  if (dir == BWD_DATA)
    return tp__vendor.cudnnGetConvolutionBackwardDataWorkspaceSize(h, pl->w, pl->y, pl->conv, pl->x,
                                                                  algo, bytes);
  return tp__vendor.cudnnGetConvolutionBackwardFilterWorkspaceSize(h, pl->x, pl->y, pl->conv, pl->w,
                                                                  algo, bytes);
}

/* Status 0 when algorithm `algo` with math type `math` can run direction dir of the plan
 * (its workspace size in *ws); leaves that math type set on the descriptor. */
static tp_cudnn_status usable(conv_plan* pl, int dir, int algo, int math, size_t* ws) {
  tp_cudnn_status st = tp__vendor.cudnnSetConvolutionMathType(pl->conv, math);
  return st != 0 ? st : workspace_size(pl, dir, algo, ws);
}

/* Makes (algo, math) the plan's choice for direction dir and records it for tp_backend_info. */
static void adopt(conv_plan* pl, int dir, int algo, int math, size_t ws) {
  pl->algo[dir] = algo, pl->math[dir] = math, pl->ws[dir] = ws, pl->chosen[dir] = 1;
  const int64_t* p = pl->key;
  char what[256];
  snprintf(what, sizeof what,
           "%s %lldx%lldx%lldx%lld k%lldx%lldx%lld s%lldx%lld p%lldx%lld d%lldx%lld: %d",
           tp__conv_dir_names[dir], (long long)p[N_], (long long)p[C_], (long long)p[H_],
           (long long)p[W_], (long long)p[K_], (long long)p[R_], (long long)p[S_],
           (long long)p[SH], (long long)p[SW], (long long)p[PT], (long long)p[PL],
           (long long)p[DH], (long long)p[DW], algo);
  tp__record_algorithm(what);
}

/* Picks the algorithm of direction dir once per plan: the table's (tp_conv_algos.cu) if it
 * has one for the key, else cuDNN's first usable entry, which the table then keeps. Call with
 * the cache locked. */
static int choose(const char* op, conv_plan* pl, int dir) {
  if (pl->chosen[dir]) return TP_OK;
  int algo = 0, math = 0;
  size_t ws = 0;
  if (tp__conv_algo_lookup(dir, pl->key, &algo, &math)) {
    const tp_cudnn_status st = usable(pl, dir, algo, math, &ws);
    if (st != 0)
      return tp__fail(TP_ERR_UNSUPPORTED,
                      "%s: the recorded %s algorithm %d (math type %d) is not usable for this "
                      "shape here (cuDNN status %d)", op, tp__conv_dir_names[dir], algo, math,
                      (int)st);
    adopt(pl, dir, algo, math, ws);
    return TP_OK;
  }
  const int tf32 = tp__allow_tf32(), det = tp__deterministic();
  const int base = tf32 ? TP_CUDNN_DEFAULT_MATH : TP_CUDNN_FMA_MATH;
  tp_cudnn_algo_perf perf[16];
  int count = 0;
  CUDNN_TRY(tp__vendor.cudnnSetConvolutionMathType(pl->conv, base));
  CUDNN_TRY(ranking(pl, dir, 16, &count, perf));
  for (int i = 0; i < count && i < 16; i++) {
    const tp_cudnn_algo_perf* e = &perf[i];
    if (e->status != 0 || (det && e->determinism != TP_CUDNN_DETERMINISTIC)) continue;
    /* without TF32 only FMA kernels: skip tensor-op entries, run the rest with FMA math */
    if (!tf32 && e->mathType != TP_CUDNN_FMA_MATH && e->mathType != TP_CUDNN_DEFAULT_MATH)
      continue;
    const int m = tf32 ? e->mathType : TP_CUDNN_FMA_MATH;
    if (usable(pl, dir, e->algo, m, &ws) != 0) continue;
    /* into the table (and its file) first: a choice only the plan knew would be lost */
    TP_TRY(tp__conv_algo_store(dir, pl->key, e->algo, m));
    adopt(pl, dir, e->algo, m, ws);
    return TP_OK;
  }
  return tp__fail(TP_ERR_UNSUPPORTED, "%s: cuDNN offers no usable%s %s algorithm for this shape",
                  op, det ? " deterministic" : "", tp__conv_dir_names[dir]);
}

/* Keeps the algorithm table in `path` (NULL or "": in memory only); the plans choose again,
 * from the table first. */
int tp_conv_algorithms_file(const char* path) {
  TP_TRY(tp__ensure_init());
  pthread_once(&register_once, register_cache);
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < CONV_CACHE_CAP; i++)
    if (cache[i]) memset(cache[i]->chosen, 0, sizeof cache[i]->chosen);
  const int s = tp__conv_algos_use_file(path);
  pthread_mutex_unlock(&cache_lock);
  return s;
}

/* Runs direction dir with the plan's algorithm and a fresh workspace; call locked. */
static int run(const char* op, conv_plan* pl, int dir, const void* a, const void* b, void* out,
               float beta) {
  TP_TRY(choose(op, pl, dir));
  void* ws = NULL;
  if (pl->ws[dir] > 0 && !(ws = tp__scratch_alloc(pl->ws[dir]))) return TP_ERR_OUT_OF_MEMORY;
  const float one = 1.0f;
  tp_cudnn_handle h = tp__vendor.cudnn;
  tp_cudnn_status s = tp__vendor.cudnnSetConvolutionMathType(pl->conv, pl->math[dir]);
  if (s == 0 && dir == FWD)
    s = tp__vendor.cudnnConvolutionForward(h, &one, pl->x, a, pl->w, b, pl->conv, pl->algo[dir],
                                           ws, pl->ws[dir], &beta, pl->y, out);
  else if (s == 0 && dir == BWD_DATA)
    s = tp__vendor.cudnnConvolutionBackwardData(h, &one, pl->w, b, pl->y, a, pl->conv,
                                                pl->algo[dir], ws, pl->ws[dir], &beta, pl->x, out);
  else if (s == 0)
    s = tp__vendor.cudnnConvolutionBackwardFilter(h, &one, pl->x, a, pl->y, b, pl->conv,
                                                  pl->algo[dir], ws, pl->ws[dir], &beta, pl->w,
                                                  out);
  tp__scratch_free(ws); /* stream-ordered reuse by the caching allocator */
  return s == 0 ? TP_OK : tp__cudnn_status(s, op);
}

static int run_locked(const char* op, const int64_t* p, int64_t P, int64_t Q, int dir,
                      const void* a, const void* b, void* out, float beta) {
  conv_plan* pl = NULL;
  TP_TRY(lock_plan(op, p, P, Q, &pl));
  int s = run(op, pl, dir, a, b, out, beta);
  pthread_mutex_unlock(&cache_lock);
  return s;
}

/* ---- bias kernels --------------------------------------------------------------------------- */
/* y[n,k,:,:] += b[k] */
static __global__ void bias_add_kernel(float* y, const float* b, int64_t total, int64_t PQ,
                                       int64_t K) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x)
    y[i] += b[(i / PQ) % K];
}

/* db[k] = sum over n, p, q of dy[n,k,p,q] (+ beta * db[k]); one block per channel, thread t
 * sums elements t, t + RED_THREADS, ... of the channel in double, then a fixed tree. */
static __global__ void bias_grad_kernel(const float* dy, float* db, int64_t N, int64_t K,
                                        int64_t PQ, float beta) {
  __shared__ double sh[RED_THREADS];
  const int64_t k = blockIdx.x;
  const int t = threadIdx.x;
  const int64_t sn = RED_THREADS / PQ, sq = RED_THREADS % PQ;
  int64_t n = t / PQ, q = t % PQ;
  double acc = 0.0;
  while (n < N) {
    acc += dy[(n * K + k) * PQ + q];
    n += sn, q += sq;
    if (q >= PQ) q -= PQ, n++;
  }
  sh[t] = acc;
  __syncthreads();
  for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    __syncthreads();
  }
  if (t == 0) {
    const float v = (float)sh[0];
    db[k] = beta == 0.0f ? v : beta * db[k] + v;
  }
}

/* ---- asymmetric padding --------------------------------------------------------------------- */
static int asymmetric(const int64_t* p) { return p[PT] != p[PB] || p[PL] != p[PR]; }

/* The parameters of the same convolution on the zero-padded input: no padding left. */
static void padded_params(const int64_t* p, int64_t* q) {
  memcpy(q, p, TP_CONV_NPARAMS * sizeof(int64_t));
  q[H_] = p[H_] + p[PT] + p[PB], q[W_] = p[W_] + p[PL] + p[PR];
  q[PT] = q[PB] = q[PL] = q[PR] = 0;
}

/* xp[nc, h, w] = x[nc, h - pt, w - pl] inside x, else 0 (xp is NC x Hp x Wp). */
static __global__ void pad_kernel(const float* x, float* xp, int64_t total, int64_t H, int64_t W,
                                  int64_t Hp, int64_t Wp, int64_t pt, int64_t pl) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t w = i % Wp - pl, h = (i / Wp) % Hp - pt, nc = i / (Hp * Wp);
    xp[i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[(nc * H + h) * W + w] : 0.0f;
  }
}

/* x[nc, h, w] = xp[nc, h + pt, w + pl] (x is NC x H x W). */
static __global__ void crop_kernel(const float* xp, float* x, int64_t total, int64_t H, int64_t W,
                                   int64_t Hp, int64_t Wp, int64_t pt, int64_t pl) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t w = i % W, h = (i / W) % H, nc = i / (H * W);
    x[i] = xp[(nc * Hp + h + pt) * Wp + w + pl];
  }
}

/* *xp = a zero-padded copy of x for the parameters q, from the caching allocator. */
static int pad_input(const char* op, const int64_t* p, const int64_t* q, const void* x,
                     float** xp) {
  const int64_t total = p[N_] * p[C_] * q[H_] * q[W_];
  if (!(*xp = (float*)tp__scratch_alloc((uint64_t)total * 4))) return TP_ERR_OUT_OF_MEMORY;
  pad_kernel<<<tp__blocks(total), TP_THREADS, 0, tp__stream()>>>(
      (const float*)x, *xp, total, p[H_], p[W_], q[H_], q[W_], p[PT], p[PL]);
  const int s = tp__launch_check(op);
  if (s != TP_OK) tp__scratch_free(*xp), *xp = NULL;
  return s;
}

/* Runs direction dir (FWD or BWD_FILTER: x is cuDNN's first operand) with x zero-padded
 * explicitly when the padding is asymmetric. */
static int run_on_input(const char* op, const int64_t* p, int64_t P, int64_t Q, int dir,
                        const void* x, const void* other, void* out, float beta) {
  if (!asymmetric(p)) {
    TP_TRY(check_supported(op, p, P, Q));
    return run_locked(op, p, P, Q, dir, x, other, out, beta);
  }
  int64_t q[TP_CONV_NPARAMS];
  padded_params(p, q);
  TP_TRY(check_supported(op, q, P, Q));
  float* xp = NULL;
  TP_TRY(pad_input(op, p, q, x, &xp));
  const int s = run_locked(op, q, P, Q, dir, xp, other, out, beta);
  tp__scratch_free(xp);
  return s;
}

/* ---- ABI ------------------------------------------------------------------------------------ */
int tp_conv2d_query(const int64_t* p, int64_t* out) {
  static const char* op = "tp_conv2d_query";
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  TP_REQUIRE(out != NULL, "%s: out is NULL", op);
  int64_t q[TP_CONV_NPARAMS];
  padded_params(p, q);
  TP_TRY(check_supported(op, asymmetric(p) ? q : p, P, Q));
  out[0] = 0, out[1] = p[N_] * p[K_] * P * Q * 4;
  out[2] = 0, out[3] = p[N_] * p[C_] * p[H_] * p[W_] * 4;
  out[4] = P, out[5] = Q;
  out[6] = 0, out[7] = 0;
  return TP_OK;
}

int tp_conv2d_fwd(const int64_t* p, int x_fmt, const void* x, const void* w, const void* b,
                  void* y) {
  static const char* op = "tp_conv2d_fwd";
  TP_TRY(tp__ensure_init());
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  TP_TRY(plain_only(op, "x", x_fmt));
  TP_TRY(tp__check_range(op, "x", x, 0, p[N_] * p[C_] * p[H_] * p[W_] * 4, 1));
  TP_TRY(tp__check_range(op, "w", w, 0, p[K_] * p[C_] * p[R_] * p[S_], 4));
  if (p[HAS_BIAS]) TP_TRY(tp__check_range(op, "b", b, 0, p[K_], 4));
  TP_REQUIRE(y != NULL, "%s: y is NULL", op);
  const int64_t ny = p[N_] * p[K_] * P * Q;
  TP_TRY(tp__check_range(op, "y", y, 0, ny * 4, 1));
  TP_TRY(run_on_input(op, p, P, Q, FWD, x, w, y, 0.0f));
  if (!p[HAS_BIAS]) return TP_OK;
  bias_add_kernel<<<tp__blocks(ny), TP_THREADS, 0, tp__stream()>>>((float*)y, (const float*)b, ny,
                                                                   P * Q, p[K_]);
  return tp__launch_check(op);
}

int tp_conv2d_bwd_data(const int64_t* p, int dy_fmt, const void* dy, const void* w, void* dx) {
  static const char* op = "tp_conv2d_bwd_data";
  TP_TRY(tp__ensure_init());
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  TP_TRY(plain_only(op, "dy", dy_fmt));
  TP_TRY(tp__check_range(op, "dy", dy, 0, p[N_] * p[K_] * P * Q * 4, 1));
  TP_TRY(tp__check_range(op, "w", w, 0, p[K_] * p[C_] * p[R_] * p[S_], 4));
  TP_REQUIRE(dx != NULL, "%s: dx is NULL", op);
  TP_TRY(tp__check_range(op, "dx", dx, 0, p[N_] * p[C_] * p[H_] * p[W_] * 4, 1));
  if (!asymmetric(p)) {
    TP_TRY(check_supported(op, p, P, Q));
    return run_locked(op, p, P, Q, BWD_DATA, dy, w, dx, 0.0f);
  }
  int64_t q[TP_CONV_NPARAMS];
  padded_params(p, q);
  TP_TRY(check_supported(op, q, P, Q));
  const int64_t npad = p[N_] * p[C_] * q[H_] * q[W_], nx = p[N_] * p[C_] * p[H_] * p[W_];
  float* dxp = (float*)tp__scratch_alloc((uint64_t)npad * 4);
  if (!dxp) return TP_ERR_OUT_OF_MEMORY;
  int s = run_locked(op, q, P, Q, BWD_DATA, dy, w, dxp, 0.0f);
  if (s == TP_OK) {
    crop_kernel<<<tp__blocks(nx), TP_THREADS, 0, tp__stream()>>>(
        dxp, (float*)dx, nx, p[H_], p[W_], q[H_], q[W_], p[PT], p[PL]);
    s = tp__launch_check(op);
  }
  tp__scratch_free(dxp);
  return s;
}

int tp_conv2d_bwd_weights(const int64_t* p, int x_fmt, const void* x, int dy_fmt,
                          const void* dy, void* dw, void* db, float beta) {
  static const char* op = "tp_conv2d_bwd_weights";
  TP_TRY(tp__ensure_init());
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  const int64_t nw = p[K_] * p[C_] * p[R_] * p[S_], K = p[K_];
  TP_REQUIRE(isfinite(beta), "%s: beta must be finite, got %g", op, (double)beta);
  TP_TRY(plain_only(op, "x", x_fmt));
  TP_TRY(plain_only(op, "dy", dy_fmt));
  TP_TRY(tp__check_range(op, "x", x, 0, p[N_] * p[C_] * p[H_] * p[W_] * 4, 1));
  TP_TRY(tp__check_range(op, "dy", dy, 0, p[N_] * K * P * Q * 4, 1));
  TP_TRY(tp__check_range(op, "dw", dw, 0, nw, 4));
  const int hb = p[HAS_BIAS] != 0;
  if (hb && db) TP_TRY(tp__check_range(op, "db", db, 0, K, 4));
  TP_TRY(run_on_input(op, p, P, Q, BWD_FILTER, x, dy, dw, beta)); /* cuDNN's beta: 0 or 1 */
  if (!hb || !db) return TP_OK;
  bias_grad_kernel<<<(unsigned)K, RED_THREADS, 0, tp__stream()>>>((const float*)dy, (float*)db,
                                                                  p[N_], K, P * Q, beta);
  return tp__launch_check(op);
}
