/* Caching device allocator, host copies, fill, memory statistics and formats (CUDA).
 *
 * Buffers come from cudaMalloc only when the cache has no block of the size class; freed
 * blocks go to per-class free lists (host-side arrays of device pointers, bounded by the
 * cache limit) and are handed out again, so a training step calls no cudaMalloc. Every live
 * buffer is recorded in a host hash table (pointer -> size class), so frees and range checks
 * of unknown pointers are rejected without touching the device. Freeing is safe while kernels
 * that use the block are queued: all work runs on one stream, so a later user of the same
 * block is ordered after them. The host waits only in tp_copy_to_host. Only the plain format
 * 0 exists on this backend. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tp_cuda_internal.h"
#include "tp_live_table.h"

typedef struct {
  uint64_t size; /* 0 = empty slot */
  void** blocks;
  int64_t count, cap;
} free_class;

#define FREE_CLASSES 4096
static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_live_set live = {{NULL, 0, 0}, 0, 0, 0};
static free_class free_tab[FREE_CLASSES];
static int64_t cached_buffers = 0, cached_bytes = 0;
static int64_t alloc_calls = 0, alloc_hits = 0;
static uint64_t cache_limit = (uint64_t)4 << 30;

/* Multiples of 512 B up to 8 KiB, then 8 steps per power of two (<= 12.5% waste). */
static uint64_t size_class(uint64_t bytes) {
  if (bytes <= 8192) return (bytes + 511) & ~(uint64_t)511;
  int lg = 63 - __builtin_clzll(bytes);
  uint64_t step = (uint64_t)1 << (lg - 3);
  return (bytes + step - 1) & ~(step - 1);
}

static free_class* class_slot(uint64_t size, int create) {
  uint64_t h = tp__hash_ptr((uintptr_t)size << 6) & (FREE_CLASSES - 1);
  for (int i = 0; i < FREE_CLASSES; i++, h = (h + 1) & (FREE_CLASSES - 1)) {
    if (free_tab[h].size == size) return &free_tab[h];
    if (free_tab[h].size == 0) {
      if (!create) return NULL;
      free_tab[h].size = size;
      return &free_tab[h];
    }
  }
  return NULL;
}

/* Returns every cached block to the driver (mem_lock held by the caller). */
static void release_cached_locked(void) {
  for (int i = 0; i < FREE_CLASSES; i++) {
    for (int64_t j = 0; j < free_tab[i].count; j++) cudaFree(free_tab[i].blocks[j]);
    free_tab[i].count = 0;
  }
  cached_buffers = 0;
  cached_bytes = 0;
}

int tp_alloc(uint64_t bytes, void** out) {
  TP_REQUIRE(out != NULL, "tp_alloc: out is NULL");
  TP_REQUIRE(bytes >= 1 && bytes <= ((uint64_t)1 << 46), "tp_alloc: size %llu is out of range",
             (unsigned long long)bytes);
  TP_TRY(tp__ensure_init());
  const uint64_t size = size_class(bytes);
  void* p = NULL;
  pthread_mutex_lock(&mem_lock);
  alloc_calls++;
  free_class* fc = class_slot(size, 0);
  if (fc && fc->count > 0) {
    p = fc->blocks[--fc->count];
    cached_buffers--;
    cached_bytes -= (int64_t)size;
    alloc_hits++;
  }
  pthread_mutex_unlock(&mem_lock);
  if (!p) {
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError(); /* clear the sticky-free error before retrying */
      pthread_mutex_lock(&mem_lock);
      cudaStreamSynchronize(tp__stream()); /* blocks may still be in use by queued work */
      release_cached_locked();
      pthread_mutex_unlock(&mem_lock);
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      if (e == cudaErrorMemoryAllocation) {
        return tp__fail(TP_ERR_OUT_OF_MEMORY,
                        "tp_alloc: out of device memory allocating %llu bytes (%lld live "
                        "bytes in %lld buffers)",
                        (unsigned long long)bytes, (long long)live.bytes,
                        (long long)live.buffers);
      }
      return tp__cuda_status(e, "tp_alloc");
    }
  }
  pthread_mutex_lock(&mem_lock);
  const int ok = tp__live_add(&live, (uintptr_t)p, size);
  pthread_mutex_unlock(&mem_lock);
  if (!ok) {
    cudaFree(p);
    return tp__fail(TP_ERR_OUT_OF_MEMORY, "tp_alloc: out of memory growing the buffer table");
  }
  *out = p;
  return TP_OK;
}

int tp_free(void* ptr) {
  TP_REQUIRE(ptr != NULL, "tp_free: pointer is NULL");
  pthread_mutex_lock(&mem_lock);
  uint64_t size = 0;
  if (!tp__live_remove(&live, (uintptr_t)ptr, &size)) {
    pthread_mutex_unlock(&mem_lock);
    return tp__fail(TP_ERR_INVALID_ARGUMENT,
                    "tp_free: %p is not a live buffer (never allocated or already freed)", ptr);
  }
  int cached = 0;
  if ((uint64_t)cached_bytes + size <= cache_limit) {
    free_class* fc = class_slot(size, 1);
    if (fc && fc->count == fc->cap) {
      const int64_t cap = fc->cap ? fc->cap * 2 : 16;
      void** b = (void**)realloc(fc->blocks, (size_t)cap * sizeof(void*));
      if (b) fc->blocks = b, fc->cap = cap;
    }
    if (fc && fc->count < fc->cap) {
      fc->blocks[fc->count++] = ptr;
      cached_buffers++;
      cached_bytes += (int64_t)size;
      cached = 1;
    }
  }
  pthread_mutex_unlock(&mem_lock);
  if (!cached) {
    /* cudaFree waits for the device, so queued kernels using the block finish first. */
    TP_TRY(tp__cuda_status(cudaFree(ptr), "tp_free"));
  }
  return TP_OK;
}

uint64_t tp__buffer_size(const void* ptr) {
  pthread_mutex_lock(&mem_lock);
  tp_live_slot* s = tp__live_find(&live.table, (uintptr_t)ptr);
  const uint64_t size = s ? s->size : 0;
  pthread_mutex_unlock(&mem_lock);
  return size;
}

void* tp__scratch_alloc(uint64_t bytes) {
  void* p = NULL;
  if (tp_alloc(bytes ? bytes : 1, &p) != TP_OK) return NULL;
  return p;
}

void tp__scratch_free(void* ptr) {
  if (ptr) tp_free(ptr);
}

/* From pageable host memory the runtime stages the source before returning, so the caller
 * may reuse `src` at once; the device copy is ordered on the stream. */
int tp_copy_from_host(void* dst, uint64_t dst_offset_bytes, const void* src, uint64_t bytes) {
  TP_REQUIRE(src != NULL || bytes == 0, "tp_copy_from_host: source is NULL");
  TP_TRY(tp__check_range("tp_copy_from_host", "destination", dst, (int64_t)dst_offset_bytes,
                         (int64_t)bytes, 1));
  if (!bytes) return TP_OK;
  return tp__cuda_status(cudaMemcpyAsync((char*)dst + dst_offset_bytes, src, bytes,
                                         cudaMemcpyHostToDevice, tp__stream()),
                         "tp_copy_from_host");
}

/* The one place the host waits: errors of earlier asynchronous kernels surface here. */
int tp_copy_to_host(const void* src, uint64_t src_offset_bytes, void* dst, uint64_t bytes) {
  TP_REQUIRE(dst != NULL || bytes == 0, "tp_copy_to_host: destination is NULL");
  TP_TRY(tp__check_range("tp_copy_to_host", "source", src, (int64_t)src_offset_bytes,
                         (int64_t)bytes, 1));
  if (!bytes) return TP_OK;
  TP_TRY(tp__cuda_status(cudaMemcpyAsync(dst, (const char*)src + src_offset_bytes, bytes,
                                         cudaMemcpyDeviceToHost, tp__stream()),
                         "tp_copy_to_host"));
  return tp__sync("tp_copy_to_host (an earlier kernel may have failed)");
}

int tp_copy(void* dst, uint64_t dst_offset_bytes, const void* src, uint64_t src_offset_bytes,
            uint64_t bytes) {
  TP_TRY(tp__check_range("tp_copy", "destination", dst, (int64_t)dst_offset_bytes,
                         (int64_t)bytes, 1));
  TP_TRY(tp__check_range("tp_copy", "source", src, (int64_t)src_offset_bytes, (int64_t)bytes, 1));
  if (!bytes) return TP_OK;
  char* d = (char*)dst + dst_offset_bytes;
  const char* s = (const char*)src + src_offset_bytes;
  if (d == s) return TP_OK;
  cudaStream_t st = tp__stream();
  if (d < s + bytes && s < d + bytes) {
    /* Overlapping ranges (memmove semantics): go through scratch memory. */
    void* tmp = tp__scratch_alloc(bytes);
    if (!tmp) return TP_ERR_OUT_OF_MEMORY;
    int r = tp__cuda_status(cudaMemcpyAsync(tmp, s, bytes, cudaMemcpyDeviceToDevice, st),
                            "tp_copy");
    if (r == TP_OK) {
      r = tp__cuda_status(cudaMemcpyAsync(d, tmp, bytes, cudaMemcpyDeviceToDevice, st),
                          "tp_copy");
    }
    tp__scratch_free(tmp);
    return r;
  }
  return tp__cuda_status(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, st), "tp_copy");
}

template <typename T>
__global__ void fill_kernel(T* p, int64_t n, T v) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    p[i] = v;
  }
}

int tp_fill(int dtype, void* dst, int64_t offset, int64_t n, double value) {
  const int es = tp__dtype_size(dtype);
  TP_REQUIRE(es != 0, "tp_fill: unknown dtype %d", dtype);
  TP_TRY(tp__check_range("tp_fill", "destination", dst, offset, n, es));
  if (n == 0) return TP_OK;
  cudaStream_t st = tp__stream();
  if (dtype == TP_F32) {
    fill_kernel<float><<<tp__blocks(n), TP_THREADS, 0, st>>>((float*)dst + offset, n,
                                                              (float)value);
  } else if (dtype == TP_I32) {
    fill_kernel<int32_t><<<tp__blocks(n), TP_THREADS, 0, st>>>((int32_t*)dst + offset, n,
                                                                (int32_t)value);
  } else {
    return tp__cuda_status(
        cudaMemsetAsync((uint8_t*)dst + offset, (int)(uint8_t)value, (size_t)n, st), "tp_fill");
  }
  return tp__launch_check("tp_fill");
}

int tp_memory_stats(int64_t* out) {
  TP_REQUIRE(out != NULL, "tp_memory_stats: out is NULL");
  pthread_mutex_lock(&mem_lock);
  out[0] = live.buffers;
  out[1] = live.bytes;
  out[2] = cached_buffers;
  out[3] = cached_bytes;
  out[5] = live.peak;
  out[6] = alloc_calls;
  out[7] = alloc_hits;
  pthread_mutex_unlock(&mem_lock);
  out[4] = tp__plan_entries();
  return TP_OK;
}

int tp_set_cache_limit(uint64_t bytes) {
  pthread_mutex_lock(&mem_lock);
  cache_limit = bytes;
  pthread_mutex_unlock(&mem_lock);
  return TP_OK;
}

int tp_cache_clear(void) {
  tp__plan_clear_all();
  pthread_mutex_lock(&mem_lock);
  if (tp__stream()) cudaStreamSynchronize(tp__stream());
  release_cached_locked();
  pthread_mutex_unlock(&mem_lock);
  return TP_OK;
}

int tp_format_info(int fmt, int64_t* out, int64_t capacity) {
  TP_REQUIRE(out != NULL, "tp_format_info: out is NULL");
  (void)capacity;
  return tp__fail(TP_ERR_INVALID_ARGUMENT,
                  "tp_format_info: unknown native format %d (the CUDA backend has only the "
                  "plain format 0)", fmt);
}

int tp_reorder(int ndim, const int64_t* dims, int src_fmt, const void* src, int dst_fmt,
               void* dst) {
  static const char* op = "tp_reorder";
  TP_REQUIRE(src_fmt == 0 && dst_fmt == 0,
             "%s: formats %d -> %d: the CUDA backend has only the plain format 0", op, src_fmt,
             dst_fmt);
  TP_REQUIRE(ndim >= 0 && ndim <= TP_MAX_DIMS && (ndim == 0 || dims != NULL),
             "%s: bad dims (ndim %d)", op, ndim);
  for (int i = 0; i < ndim; i++) {
    TP_REQUIRE(dims[i] >= 0, "%s: negative dim %lld at axis %d", op, (long long)dims[i], i);
  }
  const int64_t n = tp__numel(ndim, dims);
  TP_TRY(tp__check_range(op, "src", src, 0, n, 4));
  TP_TRY(tp__check_range(op, "dst", dst, 0, n, 4));
  return tp_copy(dst, 0, src, 0, (uint64_t)n * 4);
}
