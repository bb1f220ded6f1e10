/* Drives native/common/tp_live_table.h as both allocators do: a bounded set of live buffers
 * under heavy churn, with fresh addresses (a cache miss) and recycled ones (a cache hit).
 * Exits non-zero, naming the failure, if a lookup is wrong or churn alone grows the table.
 * Built and run by tests/native/live_table_test.ts. */
#include <stdio.h>

#include "tp_live_table.h"

enum { LIVE = 1000, ROUNDS = 2000000 };

static int churn(int recycle) {
  tp_live_table t = {0};
  uintptr_t ring[LIVE];
  int64_t live = 0;
  uintptr_t next = 64;
  for (long i = 0; i < ROUNDS; i++) {
    const long k = i % LIVE;
    uintptr_t p;
    if (live == LIVE) {
      tp_live_slot* s = tp__live_find(&t, ring[k]);
      if (!s || s->size != (uint64_t)ring[k] / 64) {
        printf("round %ld: live pointer %#lx not found\n", i, (unsigned long)ring[k]);
        return 1;
      }
      s->ptr = 1;
      live--;
      if (tp__live_find(&t, ring[k])) {
        printf("round %ld: freed pointer %#lx still found\n", i, (unsigned long)ring[k]);
        return 1;
      }
      p = recycle ? ring[k] : (next += 64 * (1 + (i * 7919) % 13));
    } else {
      p = (next += 64);
    }
    if (!tp__live_insert(&t, p, p / 64, live)) return printf("out of memory\n"), 1;
    ring[k] = p;
    live++;
  }
  printf("%s addresses: %d live, table of %lld slots\n", recycle ? "recycled" : "fresh", LIVE,
         (long long)t.cap);
  if (t.cap > 8 * LIVE) {
    printf("churn grew the table to %lld slots for %d live entries\n", (long long)t.cap, LIVE);
    return 1;
  }
  free(t.tab);
  return 0;
}

int main(void) { return churn(0) || churn(1); }
