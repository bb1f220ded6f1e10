/* The live-buffer table both allocators keep (host memory, caller holds the allocator lock):
 * an open-addressing hash table pointer -> size class with linear probing and tombstones, so
 * frees and range checks of unknown pointers are rejected without touching the buffer. Not
 * part of the ABI. */
#ifndef TP_LIVE_TABLE_H
#define TP_LIVE_TABLE_H

#include <stdint.h>
#include <stdlib.h>

typedef struct {
  uintptr_t ptr; /* 0 = empty, 1 = tombstone */
  uint64_t size;
} tp_live_slot;

typedef struct {
  tp_live_slot* tab;
  int64_t cap;  /* a power of two, or 0 before the first insert */
  int64_t used; /* occupied slots, tombstones included */
} tp_live_table;

/* Mixes a pointer's bits (allocations are at least 64-byte aligned). */
static inline uint64_t tp__hash_ptr(uintptr_t p) {
  uint64_t x = (uint64_t)p >> 6;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

/* Rehashes the table, dropping tombstones: at twice the size when live entries fill a quarter
 * of it or more, else at the same size (churn alone must not grow it); `live` is the number of
 * live entries. */
static inline int tp__live_grow(tp_live_table* t, int64_t live) {
  const int64_t cap = !t->cap ? 4096 : live * 4 >= t->cap ? t->cap * 2 : t->cap;
  tp_live_slot* tab = (tp_live_slot*)calloc((size_t)cap, sizeof(tp_live_slot));
  if (!tab) return 0;
  for (int64_t i = 0; i < t->cap; i++) {
    const uintptr_t p = t->tab[i].ptr;
    if (p > 1) {
      uint64_t h = tp__hash_ptr(p) & (uint64_t)(cap - 1);
      while (tab[h].ptr) h = (h + 1) & (uint64_t)(cap - 1);
      tab[h] = t->tab[i];
    }
  }
  free(t->tab);
  t->tab = tab;
  t->cap = cap;
  t->used = live;
  return 1;
}

/* Records p -> size (growing at half load); 0 when out of host memory. */
static inline int tp__live_insert(tp_live_table* t, uintptr_t p, uint64_t size, int64_t live) {
  if ((t->used + 1) * 2 > t->cap && !tp__live_grow(t, live)) return 0;
  const uint64_t mask = (uint64_t)(t->cap - 1);
  uint64_t h = tp__hash_ptr(p) & mask;
  while (t->tab[h].ptr > 1) h = (h + 1) & mask;
  if (t->tab[h].ptr == 0) t->used++;
  t->tab[h].ptr = p;
  t->tab[h].size = size;
  return 1;
}

/* The slot of a live pointer, or NULL (remove an entry with tp__live_remove, which counts it). */
static inline tp_live_slot* tp__live_find(const tp_live_table* t, uintptr_t p) {
  if (!t->cap || p <= 1) return NULL;
  const uint64_t mask = (uint64_t)(t->cap - 1);
  for (uint64_t h = tp__hash_ptr(p) & mask; t->tab[h].ptr; h = (h + 1) & mask) {
    if (t->tab[h].ptr == p) return &t->tab[h];
  }
  return NULL;
}

/* The table and the counts both allocators report (tp_memory_stats): live buffers, their bytes
 * and the peak of those bytes. */
typedef struct {
  tp_live_table table;
  int64_t buffers, bytes, peak;
} tp_live_set;

/* Records a new live buffer p of `size` bytes and counts it; 0 (nothing recorded) when out of
 * host memory. */
static inline int tp__live_add(tp_live_set* s, uintptr_t p, uint64_t size) {
  if (!tp__live_insert(&s->table, p, size, s->buffers)) return 0;
  s->buffers++;
  s->bytes += (int64_t)size;
  if (s->bytes > s->peak) s->peak = s->bytes;
  return 1;
}

/* Removes the live buffer p, its size in *size; 0 when p is not live. */
static inline int tp__live_remove(tp_live_set* s, uintptr_t p, uint64_t* size) {
  tp_live_slot* slot = tp__live_find(&s->table, p);
  if (!slot) return 0;
  *size = slot->size;
  slot->ptr = 1; /* tombstone */
  s->buffers--;
  s->bytes -= (int64_t)*size;
  return 1;
}

#endif
