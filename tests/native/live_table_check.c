/* Drives native/common/tp_live_table.h as both allocators do: a bounded set of live buffers
 * under heavy churn, with fresh addresses (a cache miss) and recycled ones (a cache hit).
 * Exits non-zero, naming the failure, if a lookup or a count is wrong or churn alone grows the
 * table. Built and run by tests/native/live_table_test.ts. */
#include <stdio.h>

#include "tp_live_table.h"

enum { LIVE = 1000, ROUNDS = 2000000 };

static int churn(int recycle) {
  tp_live_set t = {0};
  uintptr_t ring[LIVE];
  int64_t bytes = 0, peak = 0;
  uintptr_t next = 64;
  for (long i = 0; i < ROUNDS; i++) {
    const long k = i % LIVE;
    uintptr_t p;
    if (t.buffers == LIVE) {
      uint64_t size = 0;
      if (!tp__live_remove(&t, ring[k], &size) || size != (uint64_t)ring[k] / 64) {
        printf("round %ld: live pointer %#lx not found\n", i, (unsigned long)ring[k]);
        return 1;
      }
      bytes -= (int64_t)size;
      if (tp__live_find(&t.table, ring[k]) || tp__live_remove(&t, ring[k], &size)) {
        printf("round %ld: freed pointer %#lx still found\n", i, (unsigned long)ring[k]);
        return 1;
      }
      p = recycle ? ring[k] : (next += 64 * (1 + (i * 7919) % 13));
    } else {
      p = (next += 64);
    }
    if (!tp__live_add(&t, p, p / 64)) return printf("out of memory\n"), 1;
    ring[k] = p;
    bytes += (int64_t)(p / 64);
    if (bytes > peak) peak = bytes;
    if (t.bytes != bytes || t.peak != peak) {
      printf("round %ld: counted %lld bytes (peak %lld), expected %lld (%lld)\n", i,
             (long long)t.bytes, (long long)t.peak, (long long)bytes, (long long)peak);
      return 1;
    }
  }
  printf("%s addresses: %lld live, table of %lld slots\n", recycle ? "recycled" : "fresh",
         (long long)t.buffers, (long long)t.table.cap);
  if (t.buffers != LIVE || t.table.cap > 8 * LIVE) {
    printf("churn left %lld live entries in %lld slots (%d expected)\n", (long long)t.buffers,
           (long long)t.table.cap, LIVE);
    return 1;
  }
  free(t.table.tab);
  return 0;
}

int main(void) { return churn(0) || churn(1); }
