/* The convolution algorithm table of the CUDA backend: every (direction, plan key) keeps the
 * cuDNN algorithm and math type it was first given for the life of the process, so a plan
 * evicted from the LRU cache and rebuilt runs the same algorithm, also when the algorithms are
 * timed (TOPIARY_CUDA_BENCHMARK=1), whose ranking can change from one timing to the next.
 *
 * With tp_conv_algorithms_file(path) the table is also kept in a text file: its entries are
 * loaded, and every new choice is appended, so a process that resumes a run picks exactly the
 * algorithms of the process before it and the run stays bit-identical. The file has sections,
 * each opened by a header naming the cuDNN version and the device; only entries of sections
 * that match this process are used (other GPUs or libraries choose afresh, appending a
 * section of their own). Lines:
 *   # topiary conv algorithms v1 cudnn=<version> device=<name>
 *   <direction> <16 conv parameters> <tf32> <deterministic> <algorithm> <math type>
 * A malformed line is TP_ERR_INVALID_ARGUMENT naming the file and the line. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tp_conv_algos.h"
#include "tp_cuda_internal.h"
#include "tp_vendor.h"

typedef struct {
  int dir;
  int64_t key[TP_CONV_KEY_LEN];
  int algo, math;
} algo_entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static algo_entry* table = NULL;
static size_t count = 0, capacity = 0;
static char* file_path = NULL;   /* NULL: the table lives in memory only */
static int file_section_ok = 0;  /* the file's last section is this process's */

static const char* dir_name(int dir) { return tp__conv_dir_names[dir]; }

static int dir_of(const char* s) {
  for (int d = 0; d < 3; d++)
    if (strcmp(s, tp__conv_dir_names[d]) == 0) return d;
  return -1;
}

/* This process's section header (without the newline). */
static void header(char* buf, size_t n) {
  snprintf(buf, n, "# topiary conv algorithms v1 cudnn=%llu device=%s",
           (unsigned long long)tp__vendor.cudnn_version, tp__device_name());
}

static int push(int dir, const int64_t* key, int algo, int math) {
  if (count == capacity) {
    const size_t cap = capacity ? 2 * capacity : 64;
    algo_entry* t = (algo_entry*)realloc(table, cap * sizeof *t);
    if (!t) return tp__fail(TP_ERR_OUT_OF_MEMORY, "conv algorithms: out of memory");
    table = t, capacity = cap;
  }
  algo_entry* e = &table[count++];
  e->dir = dir, e->algo = algo, e->math = math;
  memcpy(e->key, key, sizeof e->key);
  return TP_OK;
}

static const algo_entry* find(int dir, const int64_t* key) {
  for (size_t i = 0; i < count; i++)
    if (table[i].dir == dir && memcmp(table[i].key, key, sizeof table[i].key) == 0)
      return &table[i];
  return NULL;
}

/* Parses one entry line into the table (when its section matches). */
static int parse_entry(const char* path, long line_no, char* line, int use) {
  char* save = NULL;
  char* tok = strtok_r(line, " \t\r\n", &save);
  if (!tok) return TP_OK; /* blank */
  const int dir = dir_of(tok);
  int64_t v[TP_CONV_KEY_LEN + 2];
  int n = 0;
  while (dir >= 0 && n < TP_CONV_KEY_LEN + 2 && (tok = strtok_r(NULL, " \t\r\n", &save))) {
    char* end = NULL;
    errno = 0;
    const long long x = strtoll(tok, &end, 10);
    if (errno || *end) break;
    v[n++] = x;
  }
  if (dir < 0 || n != TP_CONV_KEY_LEN + 2 || strtok_r(NULL, " \t\r\n", &save))
    return tp__fail(TP_ERR_INVALID_ARGUMENT,
                    "tp_conv_algorithms_file: %s line %ld is not '<direction> <%d integers>'",
                    path, line_no, TP_CONV_KEY_LEN + 2);
  if (!use || find(dir, v)) return TP_OK;
  return push(dir, v, (int)v[TP_CONV_KEY_LEN], (int)v[TP_CONV_KEY_LEN + 1]);
}

static int load(const char* path) {
  FILE* f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return TP_OK; /* a new file: written at the first choice */
    return tp__fail(TP_ERR_INVALID_ARGUMENT, "tp_conv_algorithms_file: cannot read %s: %s", path,
                    strerror(errno));
  }
  char mine[512], line[1024];
  header(mine, sizeof mine);
  int use = 0, s = TP_OK;
  long line_no = 0;
  while (s == TP_OK && fgets(line, sizeof line, f)) {
    line_no++;
    if (line[0] == '#') {
      line[strcspn(line, "\r\n")] = 0;
      use = strcmp(line, mine) == 0;
      continue;
    }
    s = parse_entry(path, line_no, line, use);
  }
  fclose(f);
  file_section_ok = use;
  return s;
}

int tp__conv_algo_lookup(int dir, const int64_t* key, int* algo, int* math) {
  pthread_mutex_lock(&lock);
  const algo_entry* e = find(dir, key);
  if (e) *algo = e->algo, *math = e->math;
  pthread_mutex_unlock(&lock);
  return e != NULL;
}

int tp__conv_algo_store(int dir, const int64_t* key, int algo, int math) {
  pthread_mutex_lock(&lock);
  int s = find(dir, key) ? TP_OK : push(dir, key, algo, math);
  if (s == TP_OK && file_path) {
    FILE* f = fopen(file_path, "a");
    if (!f) {
      s = tp__fail(TP_ERR_INVALID_ARGUMENT, "conv algorithms: cannot append to %s: %s", file_path,
                   strerror(errno));
    } else {
      char buf[1024];
      int n = 0;
      if (!file_section_ok) {
        header(buf, sizeof buf);
        n = (int)strlen(buf);
        n += snprintf(buf + n, sizeof buf - n, "\n");
      }
      n += snprintf(buf + n, sizeof buf - n, "%s", dir_name(dir));
      for (int i = 0; i < TP_CONV_KEY_LEN; i++)
        n += snprintf(buf + n, sizeof buf - n, " %lld", (long long)key[i]);
      n += snprintf(buf + n, sizeof buf - n, " %d %d\n", algo, math);
      /* one write per entry: a process killed mid-way leaves whole lines */
      const int ok = fputs(buf, f) >= 0;
      if (fclose(f) != 0 || !ok) {
        s = tp__fail(TP_ERR_INVALID_ARGUMENT, "conv algorithms: cannot append to %s: %s", file_path,
                     strerror(errno));
      } else {
        file_section_ok = 1;
      }
    }
  }
  pthread_mutex_unlock(&lock);
  return s;
}

int tp__conv_algos_use_file(const char* path) {
  pthread_mutex_lock(&lock);
  count = 0, file_section_ok = 0;
  free(file_path);
  file_path = NULL;
  int s = TP_OK;
  if (path && *path) {
    file_path = strdup(path);
    s = file_path ? load(path) : tp__fail(TP_ERR_OUT_OF_MEMORY, "conv algorithms: out of memory");
    if (s != TP_OK) count = 0, free(file_path), file_path = NULL;
  }
  pthread_mutex_unlock(&lock);
  return s;
}
