/* 2-D convolution: forward, backward data, backward weights; oneDNN picks the layouts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tp_onednn.h"

enum { N_, C_, H_, W_, K_, R_, S_, SH, SW, PT, PL, PB, PR, DH, DW, HAS_BIAS };

typedef struct {
  int64_t p[TP_CONV_NPARAMS], P, Q;
  int64_t xd[4], wd[4], yd[4]; /* dims of x, w, y */
  dnnl_convolution_desc_t bwd_w_desc;
  tp__prim fwd, bwd_d, bwd_w; /* bwd_w made on first use */
  int x_fmt, w_fmt, y_fmt;    /* forward: src, weights, dst */
  int dy_fmt, wd_fmt, dx_fmt; /* backward data: diff_dst, weights, diff_src */
  int bx_fmt, bdy_fmt, dw_fmt; /* backward weights: src, diff_dst, diff_weights */
  uint64_t y_bytes, dx_bytes, dw_bytes;
} conv_plan;

static tp_plan_cache* conv_cache = NULL;

static void plan_destroy(void* v) {
  conv_plan* pl = v;
  tp__prim_destroy(&pl->fwd);
  tp__prim_destroy(&pl->bwd_d);
  tp__prim_destroy(&pl->bwd_w);
  free(pl);
}

/* Validates p and computes the output size. */

static void conv_geometry(const int64_t* p, dnnl_dims_t st, dnnl_dims_t dil, dnnl_dims_t pl,
                          dnnl_dims_t pr) {
  st[0] = p[SH], st[1] = p[SW];
  dil[0] = p[DH] - 1, dil[1] = p[DW] - 1;
  pl[0] = p[PT], pl[1] = p[PL];
  pr[0] = p[PB], pr[1] = p[PR];
}

static int any_md(const char* op, int ndim, const int64_t* dims, dnnl_memory_desc_t* md) {
  dnnl_dims_t d;
  for (int i = 0; i < ndim; i++) d[i] = dims[i];
  dnnl_status_t s = dnnl_memory_desc_init_by_tag(md, ndim, d, dnnl_f32, dnnl_format_tag_any);
  if (s != dnnl_success) return tp__dnnl_fail(op, "making a memory descriptor", s);
  return TP_OK;
}

static int make_plan(const char* op, const int64_t* p, int64_t P, int64_t Q, conv_plan** out) {
  conv_plan* pl = calloc(1, sizeof *pl);
  if (!pl) return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory creating a plan", op);
  memcpy(pl->p, p, sizeof pl->p);
  pl->P = P, pl->Q = Q;
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]}, wd[4] = {p[K_], p[C_], p[R_], p[S_]};
  const int64_t yd[4] = {p[N_], p[K_], P, Q}, bd[1] = {p[K_]};
  memcpy(pl->xd, xd, sizeof xd), memcpy(pl->wd, wd, sizeof wd), memcpy(pl->yd, yd, sizeof yd);
  dnnl_memory_desc_t x_any, w_any, y_any, b_md, dx_md;
  dnnl_dims_t st, dil, pad_l, pad_r;
  conv_geometry(p, st, dil, pad_l, pad_r);
  int hb = p[HAS_BIAS] != 0, s = TP_OK;
  dnnl_convolution_desc_t fd, dd;
  dnnl_status_t ds = dnnl_success;
  if ((s = any_md(op, 4, xd, &x_any)) || (s = any_md(op, 4, wd, &w_any)) ||
      (s = any_md(op, 4, yd, &y_any)) || (s = tp__plain_md(op, 1, bd, &b_md)))
    goto fail;
  /* Few input channels (a network's first layer): a blocked diff_src would be padded to 16
   * channels and computed 16 times over; the plain layout is much faster there. */
  if (p[C_] < 4) {
    if ((s = tp__plain_md(op, 4, xd, &dx_md))) goto fail;
  } else {
    dx_md = x_any;
  }
  ds = dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                  dnnl_convolution_direct, &x_any, &w_any,
                                                  hb ? &b_md : NULL, &y_any, st, dil, pad_l, pad_r);
  if (ds == dnnl_success)
    ds = dnnl_dilated_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &dx_md,
                                                          &w_any, &y_any, st, dil, pad_l, pad_r);
  if (ds == dnnl_success)
    ds = dnnl_dilated_convolution_backward_weights_desc_init(
        &pl->bwd_w_desc, dnnl_convolution_direct, &x_any, &w_any, hb ? &b_md : NULL, &y_any, st,
        dil, pad_l, pad_r);
  if (ds != dnnl_success) {
    s = tp__dnnl_fail(op, "initialising the convolution descriptors", ds);
    goto fail;
  }
  const int fa[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
  if ((s = tp__prim_create(op, "creating the forward convolution", &pl->fwd, &fd, NULL, 3 + hb, fa)))
    goto fail;
  const int da[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
  if ((s = tp__prim_create(op, "creating the backward-data convolution", &pl->bwd_d, &dd,
                           pl->fwd.pd, 3, da)))
    goto fail;
  if ((s = tp__fmt_intern(op, tp__prim_md(&pl->fwd, DNNL_ARG_SRC), &pl->x_fmt)) ||
      (s = tp__fmt_intern(op, tp__prim_md(&pl->fwd, DNNL_ARG_WEIGHTS), &pl->w_fmt)) ||
      (s = tp__fmt_intern(op, tp__prim_md(&pl->fwd, DNNL_ARG_DST), &pl->y_fmt)) ||
      (s = tp__fmt_intern(op, tp__prim_md(&pl->bwd_d, DNNL_ARG_DIFF_DST), &pl->dy_fmt)) ||
      (s = tp__fmt_intern(op, tp__prim_md(&pl->bwd_d, DNNL_ARG_WEIGHTS), &pl->wd_fmt)) ||
      (s = tp__fmt_intern(op, tp__prim_md(&pl->bwd_d, DNNL_ARG_DIFF_SRC), &pl->dx_fmt)))
    goto fail;
  pl->y_bytes = dnnl_memory_desc_get_size(tp__prim_md(&pl->fwd, DNNL_ARG_DST));
  pl->dx_bytes = dnnl_memory_desc_get_size(tp__prim_md(&pl->bwd_d, DNNL_ARG_DIFF_SRC));
  *out = pl;
  return TP_OK;
fail:
  plan_destroy(pl);
  return s;
}

/* Finds or makes the plan for p; call with the cache locked. */
static int get_plan(const char* op, tp_plan_cache* c, const int64_t* p, int64_t P, int64_t Q,
                    conv_plan** out) {
  conv_plan* pl = tp__plan_get(c, p, TP_CONV_NPARAMS * (int)sizeof(int64_t));
  if (!pl) {
    TP_TRY(make_plan(op, p, P, Q, &pl));
    int s = tp__plan_put(c, p, TP_CONV_NPARAMS * (int)sizeof(int64_t), pl);
    if (s != TP_OK) {
      plan_destroy(pl);
      return s;
    }
  }
  *out = pl;
  return TP_OK;
}

static int make_bwd_w(const char* op, conv_plan* pl) {
  if (pl->bwd_w.pd) return TP_OK;
  int hb = pl->p[HAS_BIAS] != 0;
  const int a[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
  TP_TRY(tp__prim_create(op, "creating the backward-weights convolution", &pl->bwd_w,
                         &pl->bwd_w_desc, pl->fwd.pd, 3 + hb, a));
  int s;
  if ((s = tp__fmt_intern(op, tp__prim_md(&pl->bwd_w, DNNL_ARG_SRC), &pl->bx_fmt)) ||
      (s = tp__fmt_intern(op, tp__prim_md(&pl->bwd_w, DNNL_ARG_DIFF_DST), &pl->bdy_fmt)) ||
      (s = tp__fmt_intern(op, tp__prim_md(&pl->bwd_w, DNNL_ARG_DIFF_WEIGHTS), &pl->dw_fmt))) {
    tp__prim_destroy(&pl->bwd_w);
    return s;
  }
  pl->dw_bytes = dnnl_memory_desc_get_size(tp__prim_md(&pl->bwd_w, DNNL_ARG_DIFF_WEIGHTS));
  return TP_OK;
}

/* Locks the cache and returns the plan (unlocked again on failure). */
static int lock_plan(const char* op, const int64_t* p, int64_t P, int64_t Q, tp_plan_cache** c,
                     conv_plan** pl) {
  *c = tp__cache(op, &conv_cache, "conv2d", 128, plan_destroy);
  if (!*c) return TP_ERR_OUT_OF_MEMORY;
  tp__plan_lock(*c);
  int s = get_plan(op, *c, p, P, Q, pl);
  if (s != TP_OK) tp__plan_unlock(*c);
  return s;
}

int tp_conv2d_query(const int64_t* p, int64_t* out) {
  static const char* op = "tp_conv2d_query";
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  TP_REQUIRE(out != NULL, "%s: out is NULL", op);
  tp_plan_cache* c;
  conv_plan* pl;
  TP_TRY(lock_plan(op, p, P, Q, &c, &pl));
  out[0] = pl->y_fmt, out[1] = (int64_t)pl->y_bytes;
  out[2] = pl->dx_fmt, out[3] = (int64_t)pl->dx_bytes;
  out[4] = P, out[5] = Q;
  out[6] = pl->x_fmt, out[7] = pl->dy_fmt;
  tp__plan_unlock(c);
  return TP_OK;
}

int tp_conv2d_fwd(const int64_t* p, int x_fmt, const void* x, const void* w, const void* b,
                  void* y) {
  static const char* op = "tp_conv2d_fwd";
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]};
  dnnl_memory_desc_t md;
  uint64_t xb;
  TP_TRY(tp__fmt_md(op, "x", x_fmt, 4, xd, &md, &xb));
  TP_TRY(tp__check_range(op, "x", x, 0, (int64_t)xb, 1));
  TP_TRY(tp__check_range(op, "w", w, 0, p[K_] * p[C_] * p[R_] * p[S_], 4));
  if (p[HAS_BIAS]) TP_TRY(tp__check_range(op, "b", b, 0, p[K_], 4));
  TP_REQUIRE(y != NULL, "%s: y is NULL", op);
  tp_plan_cache* c;
  conv_plan* pl;
  TP_TRY(lock_plan(op, p, P, Q, &c, &pl));
  const void *xin = x, *win = w;
  void *xs = NULL, *ws = NULL;
  int s = tp__check_range(op, "y", y, 0, (int64_t)pl->y_bytes, 1);
  if (!s) s = tp__input(op, 4, pl->xd, x_fmt, x, pl->x_fmt, &xin, &xs);
  if (!s) s = tp__input(op, 4, pl->wd, 0, w, pl->w_fmt, &win, &ws);
  if (!s) {
    void* ptrs[4] = {(void*)xin, (void*)win, y, (void*)b};
    s = tp__prim_exec(op, &pl->fwd, ptrs);
  }
  tp__plan_unlock(c);
  tp__scratch_free(xs);
  tp__scratch_free(ws);
  return s;
}

int tp_conv2d_bwd_data(const int64_t* p, int dy_fmt, const void* dy, const void* w, void* dx) {
  static const char* op = "tp_conv2d_bwd_data";
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  const int64_t yd[4] = {p[N_], p[K_], P, Q};
  dnnl_memory_desc_t md;
  uint64_t yb;
  TP_TRY(tp__fmt_md(op, "dy", dy_fmt, 4, yd, &md, &yb));
  TP_TRY(tp__check_range(op, "dy", dy, 0, (int64_t)yb, 1));
  TP_TRY(tp__check_range(op, "w", w, 0, p[K_] * p[C_] * p[R_] * p[S_], 4));
  TP_REQUIRE(dx != NULL, "%s: dx is NULL", op);
  tp_plan_cache* c;
  conv_plan* pl;
  TP_TRY(lock_plan(op, p, P, Q, &c, &pl));
  const void *dyin = dy, *win = w;
  void *dys = NULL, *ws = NULL;
  int s = tp__check_range(op, "dx", dx, 0, (int64_t)pl->dx_bytes, 1);
  if (!s) s = tp__input(op, 4, pl->yd, dy_fmt, dy, pl->dy_fmt, &dyin, &dys);
  if (!s) s = tp__input(op, 4, pl->wd, 0, w, pl->wd_fmt, &win, &ws);
  if (!s) {
    void* ptrs[3] = {(void*)dyin, (void*)win, dx};
    s = tp__prim_exec(op, &pl->bwd_d, ptrs);
  }
  tp__plan_unlock(c);
  tp__scratch_free(dys);
  tp__scratch_free(ws);
  return s;
}

int tp_conv2d_bwd_weights(const int64_t* p, int x_fmt, const void* x, int dy_fmt,
                          const void* dy, void* dw, void* db, float beta) {
  static const char* op = "tp_conv2d_bwd_weights";
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]}, yd[4] = {p[N_], p[K_], P, Q};
  const int64_t nw = p[K_] * p[C_] * p[R_] * p[S_], K = p[K_];
  dnnl_memory_desc_t md;
  uint64_t xb, yb;
  TP_REQUIRE(isfinite(beta), "%s: beta must be finite, got %g", op, (double)beta);
  TP_TRY(tp__fmt_md(op, "x", x_fmt, 4, xd, &md, &xb));
  TP_TRY(tp__fmt_md(op, "dy", dy_fmt, 4, yd, &md, &yb));
  TP_TRY(tp__check_range(op, "x", x, 0, (int64_t)xb, 1));
  TP_TRY(tp__check_range(op, "dy", dy, 0, (int64_t)yb, 1));
  TP_TRY(tp__check_range(op, "dw", dw, 0, nw, 4));
  int hb = p[HAS_BIAS] != 0;
  if (hb && db) TP_TRY(tp__check_range(op, "db", db, 0, K, 4));
  tp_plan_cache* c;
  conv_plan* pl;
  TP_TRY(lock_plan(op, p, P, Q, &c, &pl));
  const void *xin = x, *dyin = dy;
  void *xs = NULL, *dys = NULL, *dws = NULL, *dwp = NULL, *dbs = NULL;
  int s = make_bwd_w(op, pl);
  if (!s) s = tp__input(op, 4, pl->xd, x_fmt, x, pl->bx_fmt, &xin, &xs);
  if (!s) s = tp__input(op, 4, pl->yd, dy_fmt, dy, pl->bdy_fmt, &dyin, &dys);
  /* dw goes straight to the caller only when plain and overwritten */
  void* dwo = dw;
  if (!s && (pl->dw_fmt != 0 || beta != 0.0f)) {
    dwo = dws = tp__scratch_alloc(pl->dw_bytes);
    if (!dws) s = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory for dw scratch", op);
  }
  void* dbo = db;
  if (!s && hb && (!db || beta != 0.0f)) {
    dbo = dbs = tp__scratch_alloc((uint64_t)K * 4);
    if (!dbs) s = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory for db scratch", op);
  }
  if (!s) {
    void* ptrs[4] = {(void*)xin, (void*)dyin, dwo, dbo};
    s = tp__prim_exec(op, &pl->bwd_w, ptrs);
  }
  if (!s && pl->dw_fmt != 0) {
    if (beta == 0.0f) {
      s = tp__reorder_fmt(op, 4, pl->wd, pl->dw_fmt, dws, 0, dw);
    } else {
      dwp = tp__scratch_alloc((uint64_t)nw * 4);
      if (!dwp) s = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory for dw scratch", op);
      if (!s) s = tp__reorder_fmt(op, 4, pl->wd, pl->dw_fmt, dws, 0, dwp);
      if (!s) tp__axpby(nw, dwp, beta, dw);
    }
  } else if (!s && beta != 0.0f) {
    tp__axpby(nw, dws, beta, dw);
  }
  if (!s && hb && db && beta != 0.0f) tp__axpby(K, dbs, beta, db);
  tp__plan_unlock(c);
  tp__scratch_free(xs);
  tp__scratch_free(dys);
  tp__scratch_free(dws);
  tp__scratch_free(dwp);
  tp__scratch_free(dbs);
  return s;
}
