/* Internal helpers shared by the CUDA backend's source files. Not part of the ABI.
 *
 * Conventions (every .cu file of native/cuda follows them):
 *   - ABI functions are `extern "C"` (topiary.h does that) and return a status; nothing
 *     throws or aborts. Validation uses TP_REQUIRE with a message naming the op.
 *   - Every ABI entry that touches the device first calls TP_TRY(tp__ensure_init()), which
 *     reports no driver (35), no device (100) or a missing vendor library (6) once per call.
 *   - All work goes to one stream, tp__stream(); the host synchronises only when it reads
 *     (tp_copy_to_host) or when a host-side answer is needed.
 *   - Kernel launches are followed by TP_TRY(tp__launch_check("op")).
 *   - Reductions have a fixed order (no float atomics), so results do not depend on timing.
 */
#ifndef TP_CUDA_INTERNAL_H
#define TP_CUDA_INTERNAL_H

#include <cuda_runtime.h>
#include <stdint.h>

#include "topiary.h"

/* Sets the thread-local error message and returns `status`. */
int tp__fail(int status, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define TP_REQUIRE(cond, ...)                                               \
  do {                                                                      \
    if (!(cond)) return tp__fail(TP_ERR_INVALID_ARGUMENT, __VA_ARGS__);     \
  } while (0)

#define TP_TRY(expr)                      \
  do {                                    \
    int tp__s = (expr);                   \
    if (tp__s != TP_OK) return tp__s;     \
  } while (0)

/* Initialises the runtime, the device, the stream and the vendor libraries on first use;
 * afterwards returns the first result again. */
int tp__ensure_init(void);

/* The one stream every kernel and library call of this backend runs on. */
cudaStream_t tp__stream(void);

/* Turns a CUDA runtime error into a status with a message naming `op`: driver missing or
 * too old -> TP_ERR_NO_DRIVER, no device -> TP_ERR_NO_DEVICE, out of memory ->
 * TP_ERR_OUT_OF_MEMORY, anything else -> TP_ERR_BACKEND. cudaSuccess -> TP_OK. */
int tp__cuda_status(cudaError_t err, const char* op);

/* Checks the last kernel launch of `op` (launch configuration errors, not execution). */
int tp__launch_check(const char* op);

/* Waits for the stream; reports asynchronous execution errors naming `op`. */
int tp__sync(const char* op);

/* Whether deterministic algorithms are required (TOPIARY_CUDA_DETERMINISTIC, default 1) and
 * whether TF32 tensor-core math is allowed (TOPIARY_CUDA_ALLOW_TF32, default 0). */
int tp__deterministic(void);
int tp__allow_tf32(void);
/* TOPIARY_CUDA_BENCHMARK: time cuDNN's convolution algorithms instead of its heuristics. */
int tp__benchmark(void);
/* The device's name (after tp__ensure_init). */
const char* tp__device_name(void);

/* Records a chosen library algorithm for tp_backend_info (e.g. "conv_fwd 1x3x32x32..: 1"). */
void tp__record_algorithm(const char* what);

/* ---- memory ---------------------------------------------------------------------------- */
/* Byte size of a live buffer from tp_alloc, or 0 if `ptr` is not one. */
uint64_t tp__buffer_size(const void* ptr);


int64_t tp__numel(int ndim, const int64_t* shape);
int tp__dtype_size(int dtype);

/* Device scratch memory from the caching allocator, counted as live while held. Returns
 * NULL (with the error message set) when out of memory. */
void* tp__scratch_alloc(uint64_t bytes);
void tp__scratch_free(void* ptr);

/* Entries in the plan caches (cuDNN descriptors and algorithms) and their clearing. */
int64_t tp__plan_entries(void);
void tp__plan_clear_all(void);
/* Registers a cache's entry counter and clear function (called once per cache). */
void tp__plan_register(int64_t (*entries)(void), void (*clear)(void));

/* ---- kernels ----------------------------------------------------------------------------- */
#define TP_THREADS 256

/* Blocks for n elements, capped (kernels use grid-stride loops). */
static inline unsigned tp__blocks(int64_t n) {
  int64_t b = (n + TP_THREADS - 1) / TP_THREADS;
  if (b < 1) b = 1;
  if (b > 65535 * 8) b = 65535 * 8;
  return (unsigned)b;
}

/* A strided n-d layout passed to kernels by value. */
typedef struct {
  int ndim;
  int64_t shape[TP_MAX_DIMS];
  int64_t strides[TP_MAX_DIMS];
  int64_t offset;
} tp_layout;

static inline tp_layout tp__layout(int ndim, const int64_t* shape, const int64_t* strides,
                                   int64_t offset) {
  tp_layout l;
  l.ndim = ndim;
  for (int i = 0; i < TP_MAX_DIMS; i++) {
    l.shape[i] = i < ndim ? shape[i] : 1;
    l.strides[i] = i < ndim ? strides[i] : 0;
  }
  l.offset = offset;
  return l;
}

/* Element offset of row-major linear index i in layout l. */
__device__ __forceinline__ int64_t tp__offset_of(const tp_layout& l, int64_t i) {
  int64_t off = l.offset;
  for (int d = l.ndim - 1; d >= 0; d--) {
    const int64_t s = l.shape[d];
    const int64_t q = i / s;
    off += (i - q * s) * l.strides[d];
    i = q;
  }
  return off;
}

#include "tp_checks.h"

#endif
