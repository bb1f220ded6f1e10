/* Caching allocator, host copies, fill and memory statistics.
 *
 * Every buffer handed out is recorded in a hash table (pointer -> size class), so frees and
 * range checks of unknown pointers are rejected without touching memory. Freed blocks go to
 * per-size-class free lists (bounded by the cache limit) and are handed out again, so a
 * training step touches no fresh pages. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tp_internal.h"
#include "tp_live_table.h"

#define TP_ALIGN 64

typedef struct free_block {
  struct free_block* next;
} free_block;

typedef struct {
  uint64_t size; /* 0 = empty slot */
  free_block* head;
  int64_t count;
} free_class;

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_live_set live = {{NULL, 0, 0}, 0, 0, 0};
static free_class free_tab[4096];
static int64_t cached_buffers = 0, cached_bytes = 0;
static int64_t alloc_calls = 0, alloc_hits = 0;
static uint64_t cache_limit = (uint64_t)1 << 30;

static void free_cached_blocks(void);

/* Size classes: multiples of 256 B up to 4 KiB, then 8 steps per power of two (<= 12.5% waste). */
static uint64_t size_class(uint64_t bytes) {
  if (bytes <= 4096) return (bytes + 255) & ~(uint64_t)255;
  int lg = 63 - __builtin_clzll(bytes);
  uint64_t step = (uint64_t)1 << (lg - 3);
  return (bytes + step - 1) & ~(step - 1);
}

static free_class* class_slot(uint64_t size, int create) {
  uint64_t mask = 4095, h = (size >> 8) * 0x9E3779B97F4A7C15ULL >> 52;
  for (int64_t probe = 0; probe < 4096; probe++, h = (h + 1) & mask) {
    if (free_tab[h].size == size) return &free_tab[h];
    if (free_tab[h].size == 0) {
      if (!create) return NULL;
      free_tab[h].size = size;
      return &free_tab[h];
    }
  }
  return NULL;
}

int tp_alloc(uint64_t bytes, void** out) {
  TP_REQUIRE(out != NULL, "tp_alloc: out is NULL");
  TP_REQUIRE(bytes >= 1 && bytes <= ((uint64_t)1 << 46), "tp_alloc: size %llu is out of range",
             (unsigned long long)bytes);
  uint64_t size = size_class(bytes);
  void* p = NULL;
  pthread_mutex_lock(&mem_lock);
  alloc_calls++;
  free_class* fc = class_slot(size, 0);
  if (fc && fc->head) {
    p = fc->head;
    fc->head = fc->head->next;
    fc->count--;
    cached_buffers--;
    cached_bytes -= (int64_t)size;
    alloc_hits++;
  }
  pthread_mutex_unlock(&mem_lock);
  if (!p) {
    p = aligned_alloc(TP_ALIGN, size);
    if (!p) {
      free_cached_blocks(); /* not the plan caches: the caller may hold a plan lock */
      p = aligned_alloc(TP_ALIGN, size);
    }
    if (!p) return tp__fail(TP_ERR_OUT_OF_MEMORY, "tp_alloc: out of memory allocating %llu bytes",
                            (unsigned long long)bytes);
  }
  pthread_mutex_lock(&mem_lock);
  int ok = tp__live_add(&live, (uintptr_t)p, size);
  pthread_mutex_unlock(&mem_lock);
  if (!ok) {
    free(p);
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
    if (fc) {
      free_block* b = (free_block*)ptr;
      b->next = fc->head;
      fc->head = b;
      fc->count++;
      cached_buffers++;
      cached_bytes += (int64_t)size;
      cached = 1;
    }
  }
  pthread_mutex_unlock(&mem_lock);
  if (!cached) free(ptr);
  return TP_OK;
}

uint64_t tp__buffer_size(const void* ptr) {
  pthread_mutex_lock(&mem_lock);
  tp_live_slot* s = tp__live_find(&live.table, (uintptr_t)ptr);
  uint64_t size = s ? s->size : 0;
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

int tp_copy_from_host(void* dst, uint64_t dst_offset_bytes, const void* src, uint64_t bytes) {
  TP_REQUIRE(src != NULL || bytes == 0, "tp_copy_from_host: source is NULL");
  TP_TRY(tp__check_range("tp_copy_from_host", "destination", dst, (int64_t)dst_offset_bytes,
                         (int64_t)bytes, 1));
  if (bytes) memcpy((char*)dst + dst_offset_bytes, src, bytes);
  return TP_OK;
}

int tp_copy_to_host(const void* src, uint64_t src_offset_bytes, void* dst, uint64_t bytes) {
  TP_REQUIRE(dst != NULL || bytes == 0, "tp_copy_to_host: destination is NULL");
  TP_TRY(tp__check_range("tp_copy_to_host", "source", src, (int64_t)src_offset_bytes,
                         (int64_t)bytes, 1));
  if (bytes) memcpy(dst, (const char*)src + src_offset_bytes, bytes);
  return TP_OK;
}

int tp_copy(void* dst, uint64_t dst_offset_bytes, const void* src, uint64_t src_offset_bytes,
            uint64_t bytes) {
  TP_TRY(tp__check_range("tp_copy", "destination", dst, (int64_t)dst_offset_bytes,
                         (int64_t)bytes, 1));
  TP_TRY(tp__check_range("tp_copy", "source", src, (int64_t)src_offset_bytes, (int64_t)bytes, 1));
  if (bytes) memmove((char*)dst + dst_offset_bytes, (const char*)src + src_offset_bytes, bytes);
  return TP_OK;
}

typedef struct {
  float* p;
  float v;
} fill_ctx;

static void fill_range(void* ctx, int64_t b, int64_t e) {
  fill_ctx* c = ctx;
  for (int64_t i = b; i < e; i++) c->p[i] = c->v;
}

int tp_fill(int dtype, void* dst, int64_t offset, int64_t n, double value) {
  int es = tp__dtype_size(dtype);
  TP_REQUIRE(es != 0, "tp_fill: unknown dtype %d", dtype);
  TP_TRY(tp__check_range("tp_fill", "destination", dst, offset, n, es));
  if (dtype == TP_F32) {
    fill_ctx c = {(float*)dst + offset, (float)value};
    tp__parallel_for(n, 1 << 16, fill_range, &c);
  } else if (dtype == TP_I32) {
    int32_t v = (int32_t)value, *p = (int32_t*)dst + offset;
    for (int64_t i = 0; i < n; i++) p[i] = v;
  } else {
    memset((uint8_t*)dst + offset, (int)(uint8_t)value, (size_t)n);
  }
  return TP_OK;
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

static void free_cached_blocks(void) {
  pthread_mutex_lock(&mem_lock);
  for (int i = 0; i < 4096; i++) {
    free_block* b = free_tab[i].head;
    while (b) {
      free_block* next = b->next;
      free(b);
      b = next;
    }
    free_tab[i].head = NULL;
    free_tab[i].count = 0;
  }
  cached_buffers = 0;
  cached_bytes = 0;
  pthread_mutex_unlock(&mem_lock);
}

int tp_cache_clear(void) {
  tp__plan_clear_all();
  free_cached_blocks();
  return TP_OK;
}
