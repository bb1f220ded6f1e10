/* Bounded, lock-guarded plan caches (oneDNN primitives, reorders) keyed by parameter bytes. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tp_internal.h"

#define TP_MAX_CACHES 16
#define TP_MAX_KEY 256

typedef struct {
  unsigned char key[TP_MAX_KEY];
  int key_bytes;
  uint64_t hash;
  uint64_t last_use;
  void* value;
} plan_entry;

struct tp_plan_cache {
  const char* name;
  pthread_mutex_t lock;
  plan_entry* entries;
  int capacity, count;
  uint64_t clock;
  tp_plan_destroy_fn destroy;
};

static tp_plan_cache* caches[TP_MAX_CACHES];
static int n_caches = 0;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fnv1a(const void* key, int n) {
  const unsigned char* p = key;
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

tp_plan_cache* tp__plan_cache_create(const char* name, int capacity, tp_plan_destroy_fn destroy) {
  tp_plan_cache* c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->entries = calloc((size_t)capacity, sizeof(plan_entry));
  if (!c->entries) {
    free(c);
    return NULL;
  }
  c->name = name;
  c->capacity = capacity;
  c->destroy = destroy;
  pthread_mutex_init(&c->lock, NULL);
  pthread_mutex_lock(&registry_lock);
  if (n_caches < TP_MAX_CACHES) caches[n_caches++] = c;
  pthread_mutex_unlock(&registry_lock);
  return c;
}

void tp__plan_lock(tp_plan_cache* c) { pthread_mutex_lock(&c->lock); }
void tp__plan_unlock(tp_plan_cache* c) { pthread_mutex_unlock(&c->lock); }

void* tp__plan_get(tp_plan_cache* c, const void* key, int key_bytes) {
  uint64_t h = fnv1a(key, key_bytes);
  for (int i = 0; i < c->count; i++) {
    plan_entry* e = &c->entries[i];
    if (e->hash == h && e->key_bytes == key_bytes && memcmp(e->key, key, (size_t)key_bytes) == 0) {
      e->last_use = ++c->clock;
      return e->value;
    }
  }
  return NULL;
}

int tp__plan_put(tp_plan_cache* c, const void* key, int key_bytes, void* value) {
  TP_REQUIRE(key_bytes > 0 && key_bytes <= TP_MAX_KEY, "plan cache %s: key of %d bytes", c->name,
             key_bytes);
  plan_entry* e;
  if (c->count < c->capacity) {
    e = &c->entries[c->count++];
  } else {
    e = &c->entries[0];
    for (int i = 1; i < c->count; i++)
      if (c->entries[i].last_use < e->last_use) e = &c->entries[i];
    c->destroy(e->value);
  }
  memcpy(e->key, key, (size_t)key_bytes);
  e->key_bytes = key_bytes;
  e->hash = fnv1a(key, key_bytes);
  e->last_use = ++c->clock;
  e->value = value;
  return TP_OK;
}

int64_t tp__plan_entries(void) {
  int64_t n = 0;
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < n_caches; i++) {
    pthread_mutex_lock(&caches[i]->lock);
    n += caches[i]->count;
    pthread_mutex_unlock(&caches[i]->lock);
  }
  pthread_mutex_unlock(&registry_lock);
  return n;
}

void tp__plan_clear_all(void) {
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < n_caches; i++) {
    tp_plan_cache* c = caches[i];
    pthread_mutex_lock(&c->lock);
    for (int j = 0; j < c->count; j++) c->destroy(c->entries[j].value);
    c->count = 0;
    pthread_mutex_unlock(&c->lock);
  }
  pthread_mutex_unlock(&registry_lock);
}
