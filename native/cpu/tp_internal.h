/* Internal helpers shared by the CPU backend's source files. Not part of the ABI. */
#ifndef TP_INTERNAL_H
#define TP_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "topiary.h"

/* Everything declared here stays inside the library. */
#pragma GCC visibility push(hidden)

/* Sets the thread-local error message and returns `status`. */
int tp__fail(int status, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

/* Validation shorthand: fails with TP_ERR_INVALID_ARGUMENT and a message naming the op. */
#define TP_REQUIRE(cond, ...)                                   \
  do {                                                          \
    if (!(cond)) return tp__fail(TP_ERR_INVALID_ARGUMENT, __VA_ARGS__); \
  } while (0)

/* Propagates a non-zero status. */
#define TP_TRY(expr)          \
  do {                        \
    int tp__s = (expr);       \
    if (tp__s != TP_OK) return tp__s; \
  } while (0)

/* Threads for parallel kernels (as set by tp_set_num_threads). */
int tp__threads(void);

/* Runs fn(ctx, begin, end) over [0, n): in one call on this thread when n < grain or one
 * thread is set, else in static contiguous ranges over the threads. Entering an OpenMP
 * region costs about 1.2 us even with `if(0)` or one thread, so small calls must not. */
typedef void (*tp_range_fn)(void* ctx, int64_t begin, int64_t end);
void tp__parallel_for(int64_t n, int64_t grain, tp_range_fn fn, void* ctx);

/* Byte size of a live buffer from tp_alloc, or 0 if `ptr` is not one. */
uint64_t tp__buffer_size(const void* ptr);


/* Number of elements of a shape (shape entries >= 0 are assumed checked). */
int64_t tp__numel(int ndim, const int64_t* shape);

/* Size in bytes of one element of dtype, or 0 if the dtype is unknown. */
int tp__dtype_size(int dtype);

/* Internal scratch memory: same allocator (cached), counted as live while held. */
void* tp__scratch_alloc(uint64_t bytes);
void tp__scratch_free(void* ptr);

/* A scratch copy of x [batch, in] transposed to [in, batch] (batch innermost), in 16x16 tiles
 * over the threads; NULL when out of memory. Release with tp__scratch_free. (tp_sparse.c) */
float* tp__batch_inner_copy(const float* x, int64_t batch, int64_t in);

/* ---- bounded plan cache ------------------------------------------------------------------
 * Keys are byte strings (op id + parameters). Values are owned by the cache and destroyed
 * with `destroy` on eviction or clear. Lookups, inserts and the use of a value happen under
 * the cache's lock: hold it with tp__plan_lock/unlock around get, put and execution. */
typedef struct tp_plan_cache tp_plan_cache;
typedef void (*tp_plan_destroy_fn)(void* value);

tp_plan_cache* tp__plan_cache_create(const char* name, int capacity, tp_plan_destroy_fn destroy);
void tp__plan_lock(tp_plan_cache* cache);
void tp__plan_unlock(tp_plan_cache* cache);
void* tp__plan_get(tp_plan_cache* cache, const void* key, int key_bytes);
/* Takes ownership of value; when full, the least recently used entry is destroyed. */
int tp__plan_put(tp_plan_cache* cache, const void* key, int key_bytes, void* value);
/* Entries over all caches; clearing destroys every entry of every cache. */
int64_t tp__plan_entries(void);
void tp__plan_clear_all(void);

#pragma GCC visibility pop

#include "tp_checks.h"

#endif
