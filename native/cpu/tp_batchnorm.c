/* Batch normalization (oneDNN); keeps the input's format. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tp_onednn.h"

enum { N_, C_, H_, W_, AFFINE, TRAINING };

typedef struct {
  int64_t p[TP_BN_NPARAMS], xd[4];
  float eps;
  int x_fmt;
  unsigned flags;
  uint64_t x_bytes;
  tp__prim fwd;                    /* forward_training or forward_inference as p says */
  tp__prim hint;                   /* forward_training with global stats (inference backward) */
  tp__prim bwd;                    /* made on first use */
} bn_plan;

static tp_plan_cache* bn_cache = NULL;

static void plan_destroy(void* v) {
  bn_plan* pl = v;
  tp__prim_destroy(&pl->fwd);
  tp__prim_destroy(&pl->hint);
  tp__prim_destroy(&pl->bwd);
  free(pl);
}

static int check_params(const char* op, const int64_t* p, float eps, int x_fmt) {
  TP_REQUIRE(p != NULL, "%s: params is NULL", op);
  static const char* names[TP_BN_NPARAMS] = {"N", "C", "H", "W", "affine", "training"};
  for (int i = 0; i < TP_BN_NPARAMS; i++) {
    int64_t lo = i >= AFFINE ? 0 : 1, hi = i >= AFFINE ? 1 : ((int64_t)1 << 31) - 1;
    TP_REQUIRE(p[i] >= lo && p[i] <= hi, "%s: %s = %lld must be in [%lld, %lld]", op, names[i],
               (long long)p[i], (long long)lo, (long long)hi);
  }
  TP_REQUIRE(isfinite(eps) && eps >= 0.0f, "%s: eps must be finite and >= 0, got %g", op,
             (double)eps);
  const int64_t xd[4] = {p[N_], p[C_], p[H_], p[W_]};
  TP_TRY(tp__check_dims(op, "x", 4, xd));
  dnnl_memory_desc_t md;
  return tp__fmt_md(op, "x", x_fmt, 4, xd, &md, NULL);
}

static const int fwd_args[6] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE,
                                DNNL_ARG_SCALE, DNNL_ARG_SHIFT};

static int make_fwd(const char* op, bn_plan* pl, tp__prim* prim, dnnl_prop_kind_t prop,
                    unsigned flags) {
  dnnl_memory_desc_t x_md;
  TP_TRY(tp__fmt_md(op, "x", pl->x_fmt, 4, pl->xd, &x_md, NULL));
  dnnl_batch_normalization_desc_t d;
  dnnl_status_t ds = dnnl_batch_normalization_forward_desc_init(&d, prop, &x_md, pl->eps, flags);
  if (ds != dnnl_success) return tp__dnnl_fail(op, "initialising the batch norm descriptor", ds);
  return tp__prim_create(op, "creating the forward batch norm", prim, &d, NULL,
                         pl->p[AFFINE] ? 6 : 4, fwd_args);
}

/* Validates, locks the cache and returns the plan (unlocked again on failure). */
static int lock_plan(const char* op, const int64_t* p, float eps, int x_fmt, tp_plan_cache** c,
                     bn_plan** out) {
  TP_TRY(check_params(op, p, eps, x_fmt));
  *c = tp__cache(op, &bn_cache, "batchnorm", 128, plan_destroy);
  if (!*c) return TP_ERR_OUT_OF_MEMORY;
  int64_t key[TP_BN_NPARAMS + 2];
  uint32_t eb;
  memcpy(&eb, &eps, 4);
  memcpy(key, p, TP_BN_NPARAMS * sizeof(int64_t));
  key[TP_BN_NPARAMS] = eb;
  key[TP_BN_NPARAMS + 1] = x_fmt;
  tp__plan_lock(*c);
  bn_plan* pl = tp__plan_get(*c, key, (int)sizeof key);
  int s = TP_OK;
  if (!pl) {
    pl = calloc(1, sizeof *pl);
    if (!pl) s = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory creating a plan", op);
    if (!s) {
      memcpy(pl->p, p, sizeof pl->p);
      for (int i = 0; i < 4; i++) pl->xd[i] = p[i];
      pl->eps = eps;
      pl->x_fmt = x_fmt;
      pl->flags = (p[AFFINE] ? dnnl_use_scale | dnnl_use_shift : 0u) |
                  (p[TRAINING] ? 0u : dnnl_use_global_stats);
      dnnl_memory_desc_t md;
      s = tp__fmt_md(op, "x", x_fmt, 4, pl->xd, &md, &pl->x_bytes);
      if (!s)
        s = make_fwd(op, pl, &pl->fwd, p[TRAINING] ? dnnl_forward_training : dnnl_forward_inference,
                     pl->flags);
      if (!s) s = tp__plan_put(*c, key, (int)sizeof key, pl);
      if (s) plan_destroy(pl);
    }
  }
  if (s) {
    tp__plan_unlock(*c);
    return s;
  }
  *out = pl;
  return TP_OK;
}

int tp_batchnorm_query(const int64_t* p, float eps, int x_fmt, int64_t* out) {
  static const char* op = "tp_batchnorm_query";
  TP_REQUIRE(out != NULL, "%s: out is NULL", op);
  tp_plan_cache* c;
  bn_plan* pl;
  TP_TRY(lock_plan(op, p, eps, x_fmt, &c, &pl));
  int y_fmt;
  const dnnl_memory_desc_t* y_md = tp__prim_md(&pl->fwd, DNNL_ARG_DST);
  int s = tp__fmt_intern(op, y_md, &y_fmt);
  if (!s) {
    out[0] = y_fmt, out[1] = (int64_t)dnnl_memory_desc_get_size(y_md);
    out[2] = pl->x_fmt, out[3] = (int64_t)pl->x_bytes;
  }
  tp__plan_unlock(c);
  return s;
}

static int check_vec(const char* op, const char* name, const void* ptr, int64_t C) {
  return tp__check_range(op, name, ptr, 0, C, 4);
}

int tp_batchnorm_fwd(const int64_t* p, float eps, float momentum, int x_fmt, const void* x,
                     const void* scale, const void* shift, void* mean, void* var,
                     void* running_mean, void* running_var, void* y) {
  static const char* op = "tp_batchnorm_fwd";
  TP_TRY(check_params(op, p, eps, x_fmt));
  const int64_t C = p[C_], n = p[N_] * p[H_] * p[W_];
  const int train = p[TRAINING] != 0;
  TP_REQUIRE(isfinite(momentum), "%s: momentum must be finite, got %g", op, (double)momentum);
  TP_REQUIRE(!train || n > 1,
             "%s: training needs more than one value per channel (N*H*W = %lld)", op,
             (long long)n);
  TP_TRY(check_vec(op, "mean", mean, C));
  TP_TRY(check_vec(op, "var", var, C));
  if (p[AFFINE]) {
    TP_TRY(check_vec(op, "scale", scale, C));
    TP_TRY(check_vec(op, "shift", shift, C));
  }
  if (train && running_mean) TP_TRY(check_vec(op, "running_mean", running_mean, C));
  if (train && running_var) TP_TRY(check_vec(op, "running_var", running_var, C));
  tp_plan_cache* c;
  bn_plan* pl;
  TP_TRY(lock_plan(op, p, eps, x_fmt, &c, &pl));
  uint64_t yb = dnnl_memory_desc_get_size(tp__prim_md(&pl->fwd, DNNL_ARG_DST));
  int s;
  if (!(s = tp__check_range(op, "x", x, 0, (int64_t)pl->x_bytes, 1)) &&
      !(s = tp__check_range(op, "y", y, 0, (int64_t)yb, 1))) {
    void* ptrs[6] = {(void*)x, y, mean, var, (void*)scale, (void*)shift};
    s = tp__prim_exec(op, &pl->fwd, ptrs);
  }
  tp__plan_unlock(c);
  if (s || !train) return s;
  /* PyTorch: running = (1 - m) * running + m * batch, with the unbiased variance */
  const float *bm = mean, *bv = var, m = momentum, corr = (float)((double)n / (double)(n - 1));
  if (running_mean)
    for (int64_t i = 0; i < C; i++)
      ((float*)running_mean)[i] = (1.0f - m) * ((float*)running_mean)[i] + m * bm[i];
  if (running_var)
    for (int64_t i = 0; i < C; i++)
      ((float*)running_var)[i] = (1.0f - m) * ((float*)running_var)[i] + m * bv[i] * corr;
  return TP_OK;
}

/* oneDNN 2.6 has no affine backward_data: affine plans use dnnl_backward (diff scale/shift
 * always computed) and take SHIFT as an input although the math does not read it. */
static int make_bwd(const char* op, bn_plan* pl) {
  const int affine = pl->p[AFFINE] != 0;
  if (pl->bwd.pd) return TP_OK;
  const_dnnl_primitive_desc_t hint = pl->fwd.pd;
  if (!pl->p[TRAINING]) { /* backward wants a training forward as its hint */
    if (!pl->hint.pd) TP_TRY(make_fwd(op, pl, &pl->hint, dnnl_forward_training, pl->flags));
    hint = pl->hint.pd;
  }
  dnnl_memory_desc_t x_md;
  TP_TRY(tp__fmt_md(op, "x", pl->x_fmt, 4, pl->xd, &x_md, NULL));
  dnnl_batch_normalization_desc_t d;
  dnnl_status_t ds = dnnl_batch_normalization_backward_desc_init(
      &d, affine ? dnnl_backward : dnnl_backward_data, &x_md, &x_md, pl->eps, pl->flags);
  if (ds != dnnl_success) return tp__dnnl_fail(op, "initialising the batch norm backward", ds);
  const int a[9] = {DNNL_ARG_SRC,      DNNL_ARG_DIFF_DST,   DNNL_ARG_MEAN,
                    DNNL_ARG_VARIANCE, DNNL_ARG_DIFF_SRC,   DNNL_ARG_SCALE,
                    DNNL_ARG_SHIFT,    DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT};
  return tp__prim_create(op, "creating the backward batch norm", &pl->bwd, &d, hint,
                         affine ? 9 : 5, a);
}

int tp_batchnorm_bwd(const int64_t* p, float eps, int x_fmt, const void* x, int dy_fmt,
                     const void* dy, const void* scale, const void* mean, const void* var,
                     void* dx, void* dscale, void* dshift) {
  static const char* op = "tp_batchnorm_bwd";
  TP_TRY(check_params(op, p, eps, x_fmt));
  const int64_t C = p[C_], xd[4] = {p[N_], p[C_], p[H_], p[W_]};
  const int affine = p[AFFINE] != 0;
  dnnl_memory_desc_t md;
  uint64_t dyb;
  TP_TRY(tp__fmt_md(op, "dy", dy_fmt, 4, xd, &md, &dyb));
  TP_TRY(tp__check_range(op, "dy", dy, 0, (int64_t)dyb, 1));
  TP_TRY(check_vec(op, "mean", mean, C));
  TP_TRY(check_vec(op, "var", var, C));
  if (affine) TP_TRY(check_vec(op, "scale", scale, C));
  if (affine && dscale) TP_TRY(check_vec(op, "dscale", dscale, C));
  if (affine && dshift) TP_TRY(check_vec(op, "dshift", dshift, C));
  tp_plan_cache* c;
  bn_plan* pl;
  TP_TRY(lock_plan(op, p, eps, x_fmt, &c, &pl));
  const void* dyin = dy;
  void *dys = NULL, *tmp = NULL;
  int s;
  if ((s = tp__check_range(op, "x", x, 0, (int64_t)pl->x_bytes, 1)) ||
      (s = tp__check_range(op, "dx", dx, 0, (int64_t)pl->x_bytes, 1)) ||
      (s = make_bwd(op, pl)))
    goto done;
  if (affine && (!dscale || !dshift)) { /* oneDNN computes both: unwanted ones to scratch */
    tmp = tp__scratch_alloc((uint64_t)C * 8);
    if (!tmp) {
      s = tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of memory for scratch", op);
      goto done;
    }
  }
  if ((s = tp__input(op, 4, pl->xd, dy_fmt, dy, pl->x_fmt, &dyin, &dys))) goto done;
  void* ptrs[9] = {(void*)x,     (void*)dyin,  (void*)mean,
                   (void*)var,   dx,           (void*)scale,
                   (void*)scale, /* SHIFT: required but unread */
                   dscale ? dscale : tmp, dshift ? dshift : (float*)tmp + C};
  s = tp__prim_exec(op, &pl->bwd, ptrs);
done:
  tp__plan_unlock(c);
  tp__scratch_free(dys);
  tp__scratch_free(tmp);
  return s;
}
