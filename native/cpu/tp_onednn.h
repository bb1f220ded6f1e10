/* oneDNN glue shared by the CPU backend's op files. Not part of the ABI. */
#ifndef TP_ONEDNN_H
#define TP_ONEDNN_H

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "tp_internal.h"
#include "tp_checks.h"

#pragma GCC visibility push(hidden)

/* Lazily created CPU engine and stream (either out pointer may be NULL). */
int tp__dnnl(const char* op, dnnl_engine_t* engine, dnnl_stream_t* stream);
/* TP_ERR_BACKEND naming the op, what failed and the dnnl status. */
int tp__dnnl_fail(const char* op, const char* what, dnnl_status_t s);


/* ---- format registry: interned memory descs; 0 = plain dense row-major f32 ---------------- */
int tp__plain_md(const char* op, int ndim, const int64_t* dims, dnnl_memory_desc_t* md);
/* Id of `md` (0 when it equals the plain desc of its dims). */
int tp__fmt_intern(const char* op, const dnnl_memory_desc_t* md, int* fmt);
/* Desc of format `fmt` for a tensor of `dims` (fmt 0: plain); unknown ids or other dims are
 * TP_ERR_INVALID_ARGUMENT naming `name`. bytes (may be NULL) gets the padded byte size. */
int tp__fmt_md(const char* op, const char* name, int fmt, int ndim, const int64_t* dims,
               dnnl_memory_desc_t* md, uint64_t* bytes);

/* Cached reorder between two formats of the same dims; buffers are not range-checked. */
int tp__reorder_fmt(const char* op, int ndim, const int64_t* dims, int src_fmt, const void* src,
                    int dst_fmt, void* dst);
/* Gives `ptr` (format have) in format want: *out = ptr when equal, else a reorder into fresh
 * scratch (*scratch, to be released with tp__scratch_free; NULL when none). */
int tp__input(const char* op, int ndim, const int64_t* dims, int have, const void* ptr, int want,
              const void** out, void** scratch);

/* ---- primitives with user-mode scratchpad ---------------------------------------------------- */
#define TP_PRIM_MAX_ARGS 10
typedef struct {
  dnnl_primitive_desc_t pd; /* NULL: not created */
  dnnl_primitive_t prim;    /* created on first execution */
  int nargs;
  int args[TP_PRIM_MAX_ARGS];
  dnnl_memory_t mem[TP_PRIM_MAX_ARGS]; /* made with DNNL_MEMORY_NONE, handles set per call */
  dnnl_memory_t scratch;               /* NULL when no scratchpad is needed */
} tp__prim;

/* Creates the primitive descriptor (user scratchpad) and one memory object per arg. */
int tp__prim_create(const char* op, const char* what, tp__prim* p, const_dnnl_op_desc_t desc,
                    const_dnnl_primitive_desc_t hint, int nargs, const int* args);
/* Same from an existing pd, which it owns afterwards (destroyed on failure too). */
int tp__prim_adopt(const char* op, const char* what, tp__prim* p, dnnl_primitive_desc_t pd,
                   int nargs, const int* args);
/* Memory desc of an execution argument. */
const dnnl_memory_desc_t* tp__prim_md(const tp__prim* p, int arg);
/* Executes with ptrs[i] bound to args[i] and a scratchpad from tp__scratch_alloc. */
int tp__prim_exec(const char* op, tp__prim* p, void* const* ptrs);
void tp__prim_destroy(tp__prim* p);
/* Attribute with dnnl_scratchpad_mode_user (caller destroys it). */
int tp__user_attr(const char* op, dnnl_primitive_attr_t* attr);

/* Plan cache created on first use (thread safe); NULL with an error set on failure. */
tp_plan_cache* tp__cache(const char* op, tp_plan_cache** slot, const char* name, int capacity,
                         tp_plan_destroy_fn destroy);

/* y = beta * y + x over n floats (beta == 0: y = x, y not read). */
void tp__axpby(int64_t n, const float* x, float beta, float* y);

#pragma GCC visibility pop

#endif
