/* oneDNN glue: engine and stream, format registry, cached reorders, primitive helpers. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tp_onednn.h"

/* ---- engine and stream ------------------------------------------------------------------------ */
static pthread_once_t eng_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t eng = NULL;
static dnnl_stream_t strm = NULL;
static dnnl_status_t eng_status = dnnl_success;
static const char* eng_what = "";

static void eng_init(void) {
  eng_status = dnnl_engine_create(&eng, dnnl_cpu, 0);
  if (eng_status != dnnl_success) {
    eng_what = "creating the CPU engine";
    eng = NULL;
    return;
  }
  eng_status = dnnl_stream_create(&strm, eng, dnnl_stream_default_flags);
  if (eng_status != dnnl_success) {
    eng_what = "creating the CPU stream";
    strm = NULL;
  }
}

int tp__dnnl_fail(const char* op, const char* what, dnnl_status_t s) {
  return tp__fail(TP_ERR_BACKEND, "%s: oneDNN failed %s: %s (dnnl status %d)", op, what,
                  dnnl_status2str(s), (int)s);
}

int tp__dnnl(const char* op, dnnl_engine_t* engine, dnnl_stream_t* stream) {
  pthread_once(&eng_once, eng_init);
  if (eng_status != dnnl_success) return tp__dnnl_fail(op, eng_what, eng_status);
  if (engine) *engine = eng;
  if (stream) *stream = strm;
  return TP_OK;
}

/* ---- small helpers -------------------------------------------------------------------------- */
typedef struct {
  const float* x;
  float beta;
  float* y;
} axpby_ctx;

static void axpby_range(void* ctx, int64_t b, int64_t e) {
  const axpby_ctx* c = ctx;
  if (c->beta == 0.0f) {
    for (int64_t i = b; i < e; i++) c->y[i] = c->x[i];
  } else {
    for (int64_t i = b; i < e; i++) c->y[i] = c->beta * c->y[i] + c->x[i];
  }
}

void tp__axpby(int64_t n, const float* x, float beta, float* y) {
  axpby_ctx c = {x, beta, y};
  tp__parallel_for(n, 65536, axpby_range, &c);
}

static pthread_mutex_t cache_create_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_plan_cache* reorder_cache = NULL;
static void reorder_destroy(void* v);

/* Creating a cache takes the registry lock, which tp_cache_clear holds while it waits for each
 * cache's lock; so the reorder cache (used under other caches' locks) is made up front, when
 * an op first asks for its own cache before locking it. */
tp_plan_cache* tp__cache(const char* op, tp_plan_cache** slot, const char* name, int capacity,
                         tp_plan_destroy_fn destroy) {
  pthread_mutex_lock(&cache_create_lock);
  if (!reorder_cache) reorder_cache = tp__plan_cache_create("reorder", 256, reorder_destroy);
  if (!*slot) *slot = tp__plan_cache_create(name, capacity, destroy);
  tp_plan_cache* c = reorder_cache ? *slot : NULL;
  pthread_mutex_unlock(&cache_create_lock);
  if (!c) tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory creating the %s plan cache", op, name);
  return c;
}

/* ---- format registry ---------------------------------------------------------------------------- */
#define TP_MAX_FORMATS (1 << 20)
static pthread_mutex_t fmt_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_memory_desc_t* fmt_tab = NULL; /* fmt id i lives at fmt_tab[i - 1] */
static int fmt_count = 0, fmt_cap = 0;

int tp__plain_md(const char* op, int ndim, const int64_t* dims, dnnl_memory_desc_t* md) {
  TP_REQUIRE(ndim >= 1 && ndim <= TP_MAX_DIMS, "%s: %d dims (expected 1 to %d)", op, ndim,
             TP_MAX_DIMS);
  dnnl_dims_t d, st;
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    d[i] = dims[i];
    st[i] = s;
    s *= dims[i];
  }
  dnnl_status_t r = dnnl_memory_desc_init_by_strides(md, ndim, d, dnnl_f32, st);
  if (r != dnnl_success) return tp__dnnl_fail(op, "making a plain memory descriptor", r);
  return TP_OK;
}

int tp__fmt_intern(const char* op, const dnnl_memory_desc_t* md, int* fmt) {
  if (md == NULL || md->ndims < 1 || md->ndims > TP_MAX_DIMS || md->data_type != dnnl_f32)
    return tp__fail(TP_ERR_BACKEND, "%s: oneDNN chose an unexpected memory descriptor", op);
  int64_t dims[TP_MAX_DIMS];
  for (int i = 0; i < md->ndims; i++) dims[i] = md->dims[i];
  dnnl_memory_desc_t plain;
  TP_TRY(tp__plain_md(op, md->ndims, dims, &plain));
  if (dnnl_memory_desc_equal(md, &plain)) {
    *fmt = 0;
    return TP_OK;
  }
  pthread_mutex_lock(&fmt_lock);
  for (int i = 0; i < fmt_count; i++) {
    if (dnnl_memory_desc_equal(md, &fmt_tab[i])) {
      pthread_mutex_unlock(&fmt_lock);
      *fmt = i + 1;
      return TP_OK;
    }
  }
  if (fmt_count == fmt_cap) {
    int cap = fmt_cap ? fmt_cap * 2 : 64;
    dnnl_memory_desc_t* tab = cap <= TP_MAX_FORMATS ? realloc(fmt_tab, (size_t)cap * sizeof *tab) : NULL;
    if (!tab) {
      pthread_mutex_unlock(&fmt_lock);
      return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: cannot register another native format (%d)", op,
                      fmt_count);
    }
    fmt_tab = tab;
    fmt_cap = cap;
  }
  fmt_tab[fmt_count++] = *md;
  *fmt = fmt_count;
  pthread_mutex_unlock(&fmt_lock);
  return TP_OK;
}

/* Copies the desc of fmt > 0; 0 if unknown. */
static int fmt_lookup(int fmt, dnnl_memory_desc_t* md) {
  pthread_mutex_lock(&fmt_lock);
  int ok = fmt >= 1 && fmt <= fmt_count;
  if (ok) *md = fmt_tab[fmt - 1];
  pthread_mutex_unlock(&fmt_lock);
  return ok;
}

int tp__fmt_md(const char* op, const char* name, int fmt, int ndim, const int64_t* dims,
               dnnl_memory_desc_t* md, uint64_t* bytes) {
  if (fmt == 0) {
    TP_TRY(tp__plain_md(op, ndim, dims, md));
  } else {
    TP_REQUIRE(fmt > 0 && fmt_lookup(fmt, md), "%s: %s has unknown native format %d", op, name,
               fmt);
    int same = md->ndims == ndim;
    for (int i = 0; same && i < ndim; i++) same = md->dims[i] == dims[i];
    if (!same) {
      char a[160], b[160];
      int64_t fd[DNNL_MAX_NDIMS];
      for (int i = 0; i < md->ndims; i++) fd[i] = md->dims[i];
      return tp__fail(TP_ERR_INVALID_ARGUMENT, "%s: %s has format %d of dims %s, expected dims %s",
                      op, name, fmt, tp__dims_str(a, sizeof a, md->ndims, fd),
                      tp__dims_str(b, sizeof b, ndim, dims));
    }
  }
  if (bytes) *bytes = dnnl_memory_desc_get_size(md);
  return TP_OK;
}

int tp_format_info(int fmt, int64_t* out, int64_t capacity) {
  dnnl_memory_desc_t md;
  TP_REQUIRE(out != NULL, "tp_format_info: out is NULL");
  TP_REQUIRE(fmt > 0 && fmt_lookup(fmt, &md), "tp_format_info: unknown native format %d", fmt);
  TP_REQUIRE(capacity >= 2 + md.ndims,
             "tp_format_info: capacity %lld is too small for format %d (needs %d)",
             (long long)capacity, fmt, 2 + md.ndims);
  out[0] = md.ndims;
  for (int i = 0; i < md.ndims; i++) out[1 + i] = md.dims[i];
  out[1 + md.ndims] = (int64_t)dnnl_memory_desc_get_size(&md);
  return TP_OK;
}

/* ---- primitives ----------------------------------------------------------------------------------- */
int tp__user_attr(const char* op, dnnl_primitive_attr_t* attr) {
  dnnl_status_t s = dnnl_primitive_attr_create(attr);
  if (s != dnnl_success) return tp__dnnl_fail(op, "creating primitive attributes", s);
  s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
  if (s != dnnl_success) {
    dnnl_primitive_attr_destroy(*attr);
    return tp__dnnl_fail(op, "setting the scratchpad mode", s);
  }
  return TP_OK;
}

void tp__prim_destroy(tp__prim* p) {
  if (p->prim) dnnl_primitive_destroy(p->prim);
  for (int i = 0; i < p->nargs; i++)
    if (p->mem[i]) dnnl_memory_destroy(p->mem[i]);
  if (p->scratch) dnnl_memory_destroy(p->scratch);
  if (p->pd) dnnl_primitive_desc_destroy(p->pd);
  memset(p, 0, sizeof *p);
}

const dnnl_memory_desc_t* tp__prim_md(const tp__prim* p, int arg) {
  return dnnl_primitive_desc_query_md(p->pd, dnnl_query_exec_arg_md, arg);
}

int tp__prim_adopt(const char* op, const char* what, tp__prim* p, dnnl_primitive_desc_t pd,
                   int nargs, const int* args) {
  dnnl_engine_t e = NULL;
  memset(p, 0, sizeof *p);
  p->pd = pd;
  int st = tp__dnnl(op, &e, NULL);
  if (st == TP_OK && nargs > TP_PRIM_MAX_ARGS)
    st = tp__fail(TP_ERR_BACKEND, "%s: %s: too many arguments", op, what);
  for (int i = 0; st == TP_OK && i < nargs; i++) {
    const dnnl_memory_desc_t* md = tp__prim_md(p, args[i]);
    p->args[i] = args[i];
    p->nargs = i + 1;
    dnnl_status_t s = md ? dnnl_memory_create(&p->mem[i], md, e, DNNL_MEMORY_NONE)
                         : dnnl_invalid_arguments;
    if (s != dnnl_success) {
      p->mem[i] = NULL;
      st = tp__dnnl_fail(op, what, s);
    }
  }
  if (st == TP_OK) {
    const dnnl_memory_desc_t* smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0) {
      dnnl_status_t s = dnnl_memory_create(&p->scratch, smd, e, DNNL_MEMORY_NONE);
      if (s != dnnl_success) {
        p->scratch = NULL;
        st = tp__dnnl_fail(op, what, s);
      }
    }
  }
  if (st != TP_OK) tp__prim_destroy(p);
  return st;
}

int tp__prim_create(const char* op, const char* what, tp__prim* p, const_dnnl_op_desc_t desc,
                    const_dnnl_primitive_desc_t hint, int nargs, const int* args) {
  dnnl_engine_t e = NULL;
  dnnl_primitive_attr_t attr;
  TP_TRY(tp__dnnl(op, &e, NULL));
  TP_TRY(tp__user_attr(op, &attr));
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t s = dnnl_primitive_desc_create(&pd, desc, attr, e, hint);
  dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success) return tp__dnnl_fail(op, what, s);
  return tp__prim_adopt(op, what, p, pd, nargs, args);
}

int tp__prim_exec(const char* op, tp__prim* p, void* const* ptrs) {
  dnnl_stream_t stream = NULL;
  TP_TRY(tp__dnnl(op, NULL, &stream));
  dnnl_status_t s;
  if (!p->prim) {
    s = dnnl_primitive_create(&p->prim, p->pd);
    if (s != dnnl_success) {
      p->prim = NULL;
      return tp__dnnl_fail(op, "creating a primitive", s);
    }
  }
  dnnl_exec_arg_t a[TP_PRIM_MAX_ARGS + 1];
  for (int i = 0; i < p->nargs; i++) {
    s = dnnl_memory_set_data_handle(p->mem[i], ptrs[i]);
    if (s != dnnl_success) return tp__dnnl_fail(op, "setting a data handle", s);
    a[i].arg = p->args[i];
    a[i].memory = p->mem[i];
  }
  int n = p->nargs;
  void* scratch = NULL;
  if (p->scratch) {
    const dnnl_memory_desc_t* smd;
    dnnl_memory_get_memory_desc(p->scratch, &smd);
    scratch = tp__scratch_alloc(dnnl_memory_desc_get_size(smd));
    if (!scratch)
      return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory allocating a %zu-byte scratchpad",
                      op, dnnl_memory_desc_get_size(smd));
    dnnl_memory_set_data_handle(p->scratch, scratch);
    a[n].arg = DNNL_ARG_SCRATCHPAD;
    a[n].memory = p->scratch;
    n++;
  }
  s = dnnl_primitive_execute(p->prim, stream, n, a);
  if (s == dnnl_success) s = dnnl_stream_wait(stream);
  tp__scratch_free(scratch);
  if (s != dnnl_success) return tp__dnnl_fail(op, "executing a primitive", s);
  return TP_OK;
}

/* ---- reorders ---------------------------------------------------------------------------------------- */
static void reorder_destroy(void* v) {
  tp__prim_destroy(v);
  free(v);
}

int tp__reorder_fmt(const char* op, int ndim, const int64_t* dims, int src_fmt, const void* src,
                    int dst_fmt, void* dst) {
  dnnl_memory_desc_t smd, dmd;
  dnnl_engine_t e = NULL;
  TP_TRY(tp__dnnl(op, &e, NULL));
  TP_TRY(tp__fmt_md(op, "source", src_fmt, ndim, dims, &smd, NULL));
  TP_TRY(tp__fmt_md(op, "destination", dst_fmt, ndim, dims, &dmd, NULL));
  tp_plan_cache* c = tp__cache(op, &reorder_cache, "reorder", 256, reorder_destroy);
  if (!c) return TP_ERR_OUT_OF_MEMORY;
  int64_t key[TP_MAX_DIMS + 3];
  int nk = 0;
  key[nk++] = ndim;
  for (int i = 0; i < ndim; i++) key[nk++] = dims[i];
  key[nk++] = src_fmt;
  key[nk++] = dst_fmt;
  int st = TP_OK;
  tp__plan_lock(c);
  tp__prim* p = tp__plan_get(c, key, nk * (int)sizeof key[0]);
  if (!p) {
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd = NULL;
    st = tp__user_attr(op, &attr);
    if (st == TP_OK) {
      dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, &smd, e, &dmd, e, attr);
      dnnl_primitive_attr_destroy(attr);
      if (s != dnnl_success) st = tp__dnnl_fail(op, "creating a reorder", s);
    }
    if (st == TP_OK) {
      p = calloc(1, sizeof *p);
      if (!p) {
        dnnl_primitive_desc_destroy(pd);
        st = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory creating a reorder", op);
      }
    }
    if (st == TP_OK) {
      const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
      st = tp__prim_adopt(op, "creating a reorder", p, pd, 2, args);
      if (st != TP_OK) free(p);
    }
    if (st == TP_OK && (st = tp__plan_put(c, key, nk * (int)sizeof key[0], p)) != TP_OK)
      reorder_destroy(p);
  }
  if (st == TP_OK) {
    void* ptrs[2] = {(void*)src, dst};
    st = tp__prim_exec(op, p, ptrs);
  }
  tp__plan_unlock(c);
  return st;
}

int tp__input(const char* op, int ndim, const int64_t* dims, int have, const void* ptr, int want,
              const void** out, void** scratch) {
  *scratch = NULL;
  *out = ptr;
  if (have == want) return TP_OK;
  dnnl_memory_desc_t md;
  uint64_t bytes;
  TP_TRY(tp__fmt_md(op, "input", want, ndim, dims, &md, &bytes));
  void* buf = tp__scratch_alloc(bytes);
  if (!buf)
    return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory allocating %llu bytes for a reorder",
                    op, (unsigned long long)bytes);
  int st = tp__reorder_fmt(op, ndim, dims, have, ptr, want, buf);
  if (st != TP_OK) {
    tp__scratch_free(buf);
    return st;
  }
  *scratch = buf;
  *out = buf;
  return TP_OK;
}

int tp_reorder(int ndim, const int64_t* dims, int src_fmt, const void* src, int dst_fmt,
               void* dst) {
  static const char* op = "tp_reorder";
  TP_REQUIRE(ndim >= 1 && ndim <= TP_MAX_DIMS, "%s: ndim %d must be in [1, %d]", op, ndim,
             TP_MAX_DIMS);
  TP_REQUIRE(dims != NULL, "%s: dims is NULL", op);
  TP_TRY(tp__check_dims(op, "tensor", ndim, dims));
  dnnl_memory_desc_t smd, dmd;
  uint64_t sbytes, dbytes;
  TP_TRY(tp__fmt_md(op, "src", src_fmt, ndim, dims, &smd, &sbytes));
  TP_TRY(tp__fmt_md(op, "dst", dst_fmt, ndim, dims, &dmd, &dbytes));
  TP_TRY(tp__check_range(op, "src", src, 0, (int64_t)sbytes, 1));
  TP_TRY(tp__check_range(op, "dst", dst, 0, (int64_t)dbytes, 1));
  if (src_fmt == dst_fmt) {
    if (src != dst) memmove(dst, src, sbytes);
    return TP_OK;
  }
  TP_REQUIRE(src != dst, "%s: src and dst are the same buffer (formats %d and %d)", op, src_fmt,
             dst_fmt);
  return tp__reorder_fmt(op, ndim, dims, src_fmt, src, dst_fmt, dst);
}
