/* 2-D max / average pooling (oneDNN pooling_v2); keeps the input's format. */
#include <stdlib.h>
#include <string.h>

#include "tp_onednn.h"

enum { N_, C_, H_, W_, KH, KW, SH, SW, PT, PL, PB, PR, KIND };

typedef struct {
  int64_t p[TP_POOL_NPARAMS], P, Q;
  int64_t xd[4], yd[4];
  int x_fmt, y_fmt;
  dnnl_pooling_v2_desc_t bwd_desc, inf_desc;
  tp__prim fwd, inf, bwd; /* fwd: forward_training; inf (max only) and bwd made on first use */
  uint64_t x_bytes, y_bytes, ws_bytes;
} pool_plan;

static tp_plan_cache* pool_cache = NULL;

static void plan_destroy(void* v) {
  pool_plan* pl = v;
  tp__prim_destroy(&pl->fwd);
  tp__prim_destroy(&pl->inf);
  tp__prim_destroy(&pl->bwd);
  free(pl);
}

static int check_params(const char* op, const int64_t* p, int64_t* P, int64_t* Q) {
  TP_REQUIRE(p != NULL, "%s: params is NULL", op);
  static const char* names[TP_POOL_NPARAMS] = {
      "N", "C", "H", "W", "kernel_h", "kernel_w", "stride_h", "stride_w", "pad_top",
      "pad_left", "pad_bottom", "pad_right", "kind"};
  for (int i = 0; i < TP_POOL_NPARAMS; i++) {
    int64_t lo = i >= PT && i <= KIND ? 0 : 1, hi = i == KIND ? 2 : ((int64_t)1 << 31) - 1;
    TP_REQUIRE(p[i] >= lo && p[i] <= hi, "%s: %s = %lld must be in [%lld, %lld]", op, names[i],
               (long long)p[i], (long long)lo, (long long)hi);
  }
  /* a window lying wholly in the padding has no input (PyTorch needs pad <= kernel / 2) */
  TP_REQUIRE(p[PT] < p[KH] && p[PB] < p[KH] && p[PL] < p[KW] && p[PR] < p[KW],
             "%s: padding (%lld,%lld,%lld,%lld) must be smaller than the kernel %lldx%lld", op,
             (long long)p[PT], (long long)p[PL], (long long)p[PB], (long long)p[PR],
             (long long)p[KH], (long long)p[KW]);
  int64_t nh = p[H_] + p[PT] + p[PB] - p[KH], nw = p[W_] + p[PL] + p[PR] - p[KW];
  *P = nh < 0 ? 0 : nh / p[SH] + 1;
  *Q = nw < 0 ? 0 : nw / p[SW] + 1;
  TP_REQUIRE(*P >= 1 && *Q >= 1,
             "%s: empty output: input %lldx%lld, padding (%lld,%lld,%lld,%lld), kernel %lldx%lld",
             op, (long long)p[H_], (long long)p[W_], (long long)p[PT], (long long)p[PL],
             (long long)p[PB], (long long)p[PR], (long long)p[KH], (long long)p[KW]);
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]};
  return tp__check_dims(op, "x", 4, xd);
}

static dnnl_alg_kind_t alg_of(int64_t kind) {
  return kind == TP_POOL_MAX               ? dnnl_pooling_max
         : kind == TP_POOL_AVG_INCLUDE_PAD ? dnnl_pooling_avg_include_padding
                                           : dnnl_pooling_avg_exclude_padding;
}

static int make_plan(const char* op, const int64_t* p, int x_fmt, int64_t P, int64_t Q,
                     pool_plan** out) {
  pool_plan* pl = calloc(1, sizeof *pl);
  if (!pl) return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory creating a plan", op);
  memcpy(pl->p, p, sizeof pl->p);
  pl->P = P, pl->Q = Q, pl->x_fmt = x_fmt;
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]}, yd[4] = {p[N_], p[C_], P, Q};
  memcpy(pl->xd, xd, sizeof xd), memcpy(pl->yd, yd, sizeof yd);
  dnnl_memory_desc_t x_md, y_any;
  dnnl_dims_t ydd = {p[N_], p[C_], P, Q}, st = {p[SH], p[SW]}, k = {p[KH], p[KW]},
              dil = {0, 0}, pad_l = {p[PT], p[PL]}, pad_r = {p[PB], p[PR]};
  int is_max = p[KIND] == TP_POOL_MAX, s;
  dnnl_pooling_v2_desc_t fd;
  if ((s = tp__fmt_md(op, "x", x_fmt, 4, xd, &x_md, &pl->x_bytes))) goto fail;
  dnnl_status_t ds = dnnl_memory_desc_init_by_tag(&y_any, 4, ydd, dnnl_f32, dnnl_format_tag_any);
  if (ds == dnnl_success)
    ds = dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_training, alg_of(p[KIND]), &x_md,
                                           &y_any, st, k, dil, pad_l, pad_r);
  if (ds != dnnl_success) {
    s = tp__dnnl_fail(op, "initialising the forward pooling descriptor", ds);
    goto fail;
  }
  const int fa[3] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE};
  if ((s = tp__prim_create(op, "creating the forward pooling", &pl->fwd, &fd, NULL, 2 + is_max, fa)))
    goto fail;
  const dnnl_memory_desc_t* y_md = tp__prim_md(&pl->fwd, DNNL_ARG_DST);
  if ((s = tp__fmt_intern(op, y_md, &pl->y_fmt))) goto fail;
  pl->y_bytes = dnnl_memory_desc_get_size(y_md);
  if (is_max) pl->ws_bytes = dnnl_memory_desc_get_size(tp__prim_md(&pl->fwd, DNNL_ARG_WORKSPACE));
  ds = dnnl_pooling_v2_backward_desc_init(&pl->bwd_desc, alg_of(p[KIND]), &x_md, y_md, st, k, dil,
                                          pad_l, pad_r);
  if (ds == dnnl_success && is_max)
    ds = dnnl_pooling_v2_forward_desc_init(&pl->inf_desc, dnnl_forward_inference, dnnl_pooling_max,
                                           &x_md, y_md, st, k, dil, pad_l, pad_r);
  if (ds != dnnl_success) {
    s = tp__dnnl_fail(op, "initialising the pooling descriptors", ds);
    goto fail;
  }
  *out = pl;
  return TP_OK;
fail:
  plan_destroy(pl);
  return s;
}

/* Validates x_fmt, locks the cache and returns the plan (unlocked again on failure). */
static int lock_plan(const char* op, const int64_t* p, int x_fmt, tp_plan_cache** c,
                     pool_plan** out) {
  int64_t P = 0, Q = 0;
  TP_TRY(check_params(op, p, &P, &Q));
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]};
  dnnl_memory_desc_t md;
  TP_TRY(tp__fmt_md(op, "x", x_fmt, 4, xd, &md, NULL));
  *c = tp__cache(op, &pool_cache, "pool2d", 128, plan_destroy);
  if (!*c) return TP_ERR_OUT_OF_MEMORY;
  int64_t key[TP_POOL_NPARAMS + 1];
  memcpy(key, p, TP_POOL_NPARAMS * sizeof(int64_t));
  key[TP_POOL_NPARAMS] = x_fmt;
  tp__plan_lock(*c);
  pool_plan* pl = tp__plan_get(*c, key, (int)sizeof key);
  int s = TP_OK;
  if (!pl) {
    s = make_plan(op, p, x_fmt, P, Q, &pl);
    if (!s && (s = tp__plan_put(*c, key, (int)sizeof key, pl))) plan_destroy(pl);
  }
  if (s) {
    tp__plan_unlock(*c);
    return s;
  }
  *out = pl;
  return TP_OK;
}

int tp_pool2d_query(const int64_t* p, int x_fmt, int64_t* out) {
  static const char* op = "tp_pool2d_query";
  TP_REQUIRE(out != NULL, "%s: out is NULL", op);
  tp_plan_cache* c;
  pool_plan* pl;
  TP_TRY(lock_plan(op, p, x_fmt, &c, &pl));
  out[0] = pl->y_fmt, out[1] = (int64_t)pl->y_bytes, out[2] = (int64_t)pl->ws_bytes;
  out[3] = pl->x_fmt, out[4] = (int64_t)pl->x_bytes, out[5] = pl->P, out[6] = pl->Q;
  tp__plan_unlock(c);
  return TP_OK;
}

int tp_pool2d_fwd(const int64_t* p, int x_fmt, const void* x, void* y, void* ws) {
  static const char* op = "tp_pool2d_fwd";
  tp_plan_cache* c;
  pool_plan* pl;
  TP_TRY(lock_plan(op, p, x_fmt, &c, &pl));
  int is_max = pl->p[KIND] == TP_POOL_MAX, s;
  tp__prim* prim = &pl->fwd;
  if ((s = tp__check_range(op, "x", x, 0, (int64_t)pl->x_bytes, 1)) ||
      (s = tp__check_range(op, "y", y, 0, (int64_t)pl->y_bytes, 1)) ||
      (is_max && ws && (s = tp__check_range(op, "ws", ws, 0, (int64_t)pl->ws_bytes, 1))))
    goto done;
  if (is_max && !ws) {
    const int a[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    if (!pl->inf.pd &&
        (s = tp__prim_create(op, "creating the inference pooling", &pl->inf, &pl->inf_desc, NULL,
                             2, a)))
      goto done;
    prim = &pl->inf;
  }
  void* ptrs[3] = {(void*)x, y, ws};
  s = tp__prim_exec(op, prim, ptrs);
done:
  tp__plan_unlock(c);
  return s;
}

int tp_pool2d_bwd(const int64_t* p, int x_fmt, int dy_fmt, const void* dy, const void* ws,
                  void* dx) {
  static const char* op = "tp_pool2d_bwd";
  tp_plan_cache* c;
  pool_plan* pl;
  TP_TRY(lock_plan(op, p, x_fmt, &c, &pl));
  int is_max = pl->p[KIND] == TP_POOL_MAX, s;
  const void* dyin = dy;
  void* dys = NULL;
  dnnl_memory_desc_t md;
  uint64_t dyb;
  if ((s = tp__fmt_md(op, "dy", dy_fmt, 4, pl->yd, &md, &dyb)) ||
      (s = tp__check_range(op, "dy", dy, 0, (int64_t)dyb, 1)) ||
      (s = tp__check_range(op, "dx", dx, 0, (int64_t)pl->x_bytes, 1)))
    goto done;
  if (is_max && !ws) {
    s = tp__fail(TP_ERR_INVALID_ARGUMENT, "%s: max pooling backward needs the forward's ws", op);
    goto done;
  }
  if (is_max && (s = tp__check_range(op, "ws", ws, 0, (int64_t)pl->ws_bytes, 1))) goto done;
  if (!pl->bwd.pd) {
    const int a[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_WORKSPACE};
    if ((s = tp__prim_create(op, "creating the backward pooling", &pl->bwd, &pl->bwd_desc,
                             pl->fwd.pd, 2 + is_max, a)))
      goto done;
  }
  if ((s = tp__input(op, 4, pl->yd, dy_fmt, dy, pl->y_fmt, &dyin, &dys))) goto done;
  void* ptrs[3] = {(void*)dyin, dx, (void*)ws};
  s = tp__prim_exec(op, &pl->bwd, ptrs);
done:
  tp__plan_unlock(c);
  tp__scratch_free(dys);
  return s;
}
