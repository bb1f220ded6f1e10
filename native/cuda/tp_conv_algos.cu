/* The convolution algorithm table of the CUDA backend: every (direction, plan key) keeps the
 * cuDNN algorithm and math type it was first given until the table is switched (below), so a
 * plan evicted from the LRU cache and rebuilt runs the same algorithm, also when the algorithms
 * are timed (TOPIARY_CUDA_BENCHMARK=1), whose ranking can change from one timing to the next.
 *
 * With tp_conv_algorithms_file(path) the table is also kept in a text file: its entries are
 * loaded, and every new choice is appended, so a process that resumes a run picks exactly the
 * algorithms of the process before it and the run stays bit-identical. The file has sections,
 * each opened by a header naming the cuDNN version and the device; only entries of sections
 * that match this process are used (other GPUs or libraries choose afresh, appending a
 * section of their own). Lines:
 *   # topiary conv algorithms v1 cudnn=<version> device=<name>
 *   <direction> <16 conv parameters> <tf32> <deterministic> <algorithm> <math type>
 * A malformed line is TP_ERR_INVALID_ARGUMENT naming the file and the line; a last line cut
 * short (a process killed inside its write, a full disk) is skipped and cut off the file before
 * the next entry is appended. Read and write failures are TP_ERR_BACKEND. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
static off_t cut_at = -1;        /* where a last line cut short starts; -1: none */

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
    return tp__fail(TP_ERR_BACKEND, "tp_conv_algorithms_file: cannot read %s: %s", path,
                    strerror(errno));
  }
  char mine[512], line[1024];
  header(mine, sizeof mine);
  int use = 0, s = TP_OK;
  long line_no = 0;
  long good = 0; /* bytes up to the end of the last whole line */
  while (s == TP_OK && fgets(line, sizeof line, f)) {
    line_no++;
    const size_t len = strlen(line);
    if (len == 0 || line[len - 1] != '\n') {
      if (!feof(f)) {
        s = tp__fail(TP_ERR_INVALID_ARGUMENT, "tp_conv_algorithms_file: %s line %ld is longer "
                     "than %d characters", path, line_no, (int)sizeof line - 2);
      } else {
        cut_at = (off_t)good; /* cut short: skipped */
      }
      break;
    }
    good = ftell(f);
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

/* Appends one entry (with this process's header first when the file's last section is not
 * ours) in a single write; a status. */
static int append(int dir, const int64_t* key, int algo, int math) {
  char buf[2048];
  size_t n = 0;
  if (!file_section_ok) {
    header(buf + n, sizeof buf - n);
    n += strlen(buf + n);
    buf[n++] = '\n';
  }
  n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", tp__conv_dir_names[dir]);
  for (int i = 0; i < TP_CONV_KEY_LEN && n < sizeof buf; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, " %lld", (long long)key[i]);
  if (n < sizeof buf) n += (size_t)snprintf(buf + n, sizeof buf - n, " %d %d\n", algo, math);
  if (n >= sizeof buf) return tp__fail(TP_ERR_BACKEND, "conv algorithms: entry too long");
  const int fd = open(file_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return tp__fail(TP_ERR_BACKEND, "conv algorithms: cannot append to %s: %s", file_path,
                    strerror(errno));
  struct stat st;
  if ((cut_at >= 0 && ftruncate(fd, cut_at) != 0) || fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return tp__fail(TP_ERR_BACKEND, "conv algorithms: cannot append to %s: %s", file_path,
                    strerror(err));
  }
  cut_at = -1;
  const ssize_t w = write(fd, buf, n);
  const int err = w < 0 ? errno : 0;
  close(fd);
  if (w != (ssize_t)n) {
    /* a short write leaves a cut line: the next append cuts it off first */
    if (w > 0) cut_at = st.st_size;
    return tp__fail(TP_ERR_BACKEND, "conv algorithms: cannot append to %s: %s", file_path,
                    err ? strerror(err) : "short write");
  }
  file_section_ok = 1;
  return TP_OK;
}

int tp__conv_algo_store(int dir, const int64_t* key, int algo, int math) {
  pthread_mutex_lock(&lock);
  int s = TP_OK;
  if (!find(dir, key)) {
    /* into the file first: a choice the file lacks would be timed again by a resumed process */
    if (file_path) s = append(dir, key, algo, math);
    if (s == TP_OK) s = push(dir, key, algo, math);
  }
  pthread_mutex_unlock(&lock);
  return s;
}

int tp__conv_algos_use_file(const char* path) {
  pthread_mutex_lock(&lock);
  count = 0, file_section_ok = 0, cut_at = -1;
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
