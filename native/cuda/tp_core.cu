/* Errors, initialisation, settings and backend information of the CUDA backend.
 *
 * The device is initialised once, on the first call that needs it: the runtime (linked
 * statically) finds the driver, the device is selected (TOPIARY_CUDA_DEVICE, default 0), one
 * non-blocking stream is created and the vendor libraries are opened. A missing or too old
 * driver (35), no device (100) and a missing library (6) are distinct statuses with messages
 * that say what was looked for; the first outcome is kept and reported by every later call.
 * Settings read once at initialisation: TOPIARY_CUDA_DETERMINISTIC (default 1: cuDNN may use
 * only deterministic algorithms), TOPIARY_CUDA_ALLOW_TF32 (default 0: float32 math stays
 * float32 in cuBLAS and cuDNN) and TOPIARY_CUDA_BENCHMARK (default 0: cuDNN convolution
 * algorithms come from its heuristics; 1: each shape's algorithms are timed once, as
 * torch.backends.cudnn.benchmark, which makes the choice, and so the rounding, vary between
 * processes). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tp_cuda_internal.h"
#include "tp_vendor.h"

static thread_local char tp_error[1024];
static int tp_num_threads = 1;
static int tp_flush_denormal = 0;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = TP_OK;
static char init_message[1024];
static cudaStream_t stream = NULL;
static int device_index = 0;
static int deterministic = 1, allow_tf32 = 0, benchmark = 0;
static cudaDeviceProp props;
static int driver_version = 0, runtime_version = 0;

/* Chosen library algorithms, for tp_backend_info (bounded; later ones are counted only). */
#define MAX_ALGOS 128
static pthread_mutex_t algo_lock = PTHREAD_MUTEX_INITIALIZER;
static char algos[MAX_ALGOS][96];
static int algo_count = 0;

int tp__fail(int status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tp_error, sizeof tp_error, fmt, ap);
  va_end(ap);
  return status;
}

const char* tp_last_error(void) { return tp_error; }

int tp_abi_version(void) { return TP_ABI_VERSION; }

int tp_synchronize(void) {
  TP_TRY(tp__ensure_init());
  return tp__cuda_status(cudaStreamSynchronize(tp__stream()), "tp_synchronize");
}

int tp__cuda_status(cudaError_t err, const char* op) {
  switch (err) {
    case cudaSuccess:
      return TP_OK;
    case cudaErrorInsufficientDriver:
      return tp__fail(TP_ERR_NO_DRIVER,
                      "%s: no usable NVIDIA driver (libcuda.so.1 is missing or older than this "
                      "CUDA %d.%d runtime needs; cudaErrorInsufficientDriver)",
                      op, CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
    case cudaErrorNoDevice:
      return tp__fail(TP_ERR_NO_DEVICE, "%s: the NVIDIA driver reports no CUDA device "
                                        "(cudaErrorNoDevice)", op);
    case cudaErrorMemoryAllocation:
      return tp__fail(TP_ERR_OUT_OF_MEMORY, "%s: out of device memory", op);
    default:
      return tp__fail(TP_ERR_BACKEND, "%s: CUDA error %d (%s: %s)", op, (int)err,
                      cudaGetErrorName(err), cudaGetErrorString(err));
  }
}

static int env_flag(const char* name, int dflt) {
  const char* v = getenv(name);
  if (!v || !*v) return dflt;
  return strcmp(v, "0") != 0;
}

static int init_device(void) {
  deterministic = env_flag("TOPIARY_CUDA_DETERMINISTIC", 1);
  allow_tf32 = env_flag("TOPIARY_CUDA_ALLOW_TF32", 0);
  benchmark = env_flag("TOPIARY_CUDA_BENCHMARK", 0);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return tp__cuda_status(e, "CUDA initialisation");
  if (count == 0) {
    return tp__fail(TP_ERR_NO_DEVICE, "CUDA initialisation: the driver reports no CUDA device");
  }
  const char* dev = getenv("TOPIARY_CUDA_DEVICE");
  if (dev && *dev) {
    char* end = NULL;
    long d = strtol(dev, &end, 10);
    if (*end != 0 || d < 0 || d >= count) {
      return tp__fail(TP_ERR_INVALID_ARGUMENT,
                      "CUDA initialisation: TOPIARY_CUDA_DEVICE=%s is not a device index in "
                      "[0, %d)", dev, count);
    }
    device_index = (int)d;
  }
  TP_TRY(tp__cuda_status(cudaSetDevice(device_index), "CUDA initialisation (cudaSetDevice)"));
  TP_TRY(tp__cuda_status(cudaGetDeviceProperties(&props, device_index),
                         "CUDA initialisation (cudaGetDeviceProperties)"));
  cudaDriverGetVersion(&driver_version);
  cudaRuntimeGetVersion(&runtime_version);
  TP_TRY(tp__cuda_status(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
                         "CUDA initialisation (cudaStreamCreate)"));
  return tp__vendor_load(stream);
}

static void init_once_fn(void) {
  init_status = init_device();
  if (init_status != TP_OK) snprintf(init_message, sizeof init_message, "%s", tp_error);
}

int tp__ensure_init(void) {
  pthread_once(&init_once, init_once_fn);
  if (init_status != TP_OK) return tp__fail(init_status, "%s", init_message);
  return TP_OK;
}

cudaStream_t tp__stream(void) { return stream; }

int tp__launch_check(const char* op) {
  return tp__cuda_status(cudaGetLastError(), op);
}

int tp__sync(const char* op) {
  cudaError_t e = cudaStreamSynchronize(stream);
  if (e == cudaSuccess) return TP_OK;
  return tp__cuda_status(e, op);
}

int tp__deterministic(void) { return deterministic; }
int tp__allow_tf32(void) { return allow_tf32; }
int tp__benchmark(void) { return benchmark; }
const char* tp__device_name(void) { return props.name; }

void tp__record_algorithm(const char* what) {
  pthread_mutex_lock(&algo_lock);
  if (algo_count < MAX_ALGOS) snprintf(algos[algo_count], sizeof algos[0], "%s", what);
  algo_count++;
  pthread_mutex_unlock(&algo_lock);
}

int tp_set_num_threads(int n) {
  TP_REQUIRE(n >= 1 && n <= 4096, "tp_set_num_threads: thread count must be in [1, 4096], got %d",
             n);
  tp_num_threads = n; /* host-side only: device kernels size their own grids */
  return TP_OK;
}

int tp_get_num_threads(int* out) {
  TP_REQUIRE(out != NULL, "tp_get_num_threads: out is NULL");
  *out = tp_num_threads;
  return TP_OK;
}

/* Device float math runs subnormals at full speed, and kernels are built without -ftz, so
 * the setting is recorded (and reported) but changes nothing on the GPU. */
int tp_set_flush_denormal(int on) {
  TP_REQUIRE(on == 0 || on == 1, "tp_set_flush_denormal: expected 0 or 1, got %d", on);
  tp_flush_denormal = on;
  return TP_OK;
}

/* Appends printf-style text at *n of buf; fails (returns 0) when it does not fit. */
static int append(char* buf, int64_t cap, int64_t* n, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char* buf, int64_t cap, int64_t* n, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + *n, (size_t)(cap - *n), fmt, ap);
  va_end(ap);
  if (k < 0 || *n + k >= cap) return 0;
  *n += k;
  return 1;
}

/* Backend facts as JSON: device, compute capability, driver/runtime/library versions,
 * settings and the library algorithms chosen so far (for exact-resume records). Needs the
 * device, so a missing driver or device is reported here first. */
int tp_backend_info(char* buf, int64_t capacity) {
  TP_REQUIRE(buf != NULL && capacity > 0, "tp_backend_info: empty output buffer");
  TP_TRY(tp__ensure_init());
  int64_t n = 0;
  int ok = append(buf, capacity, &n,
                  "{\"backend\":\"cuda\",\"abi\":%d,\"device\":\"%s\",\"device_index\":%d,"
                  "\"compute_capability\":\"%d.%d\",\"memory_bytes\":%llu,\"driver\":%d,"
                  "\"runtime\":%d,\"cublas\":%d,\"cudnn\":%llu,\"cusparse\":%d,"
                  "\"deterministic\":%s,\"allow_tf32\":%s,\"benchmark\":%s,\"threads\":%d,"
                  "\"flush_denormal\":%s,\"algorithms\":[",
                  TP_ABI_VERSION, props.name, device_index, props.major, props.minor,
                  (unsigned long long)props.totalGlobalMem, driver_version, runtime_version,
                  tp__vendor.cublas_version, (unsigned long long)tp__vendor.cudnn_version,
                  tp__vendor.cusparse_version, deterministic ? "true" : "false",
                  allow_tf32 ? "true" : "false", benchmark ? "true" : "false", tp_num_threads,
                  tp_flush_denormal ? "true" : "false");
  pthread_mutex_lock(&algo_lock);
  const int shown = algo_count < MAX_ALGOS ? algo_count : MAX_ALGOS;
  for (int i = 0; ok && i < shown; i++) {
    ok = append(buf, capacity, &n, "%s\"%s\"", i ? "," : "", algos[i]);
  }
  const int total = algo_count;
  pthread_mutex_unlock(&algo_lock);
  if (ok) ok = append(buf, capacity, &n, "],\"algorithms_total\":%d}", total);
  TP_REQUIRE(ok, "tp_backend_info: buffer of %lld bytes is too small", (long long)capacity);
  return TP_OK;
}

int64_t tp__numel(int ndim, const int64_t* shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

int tp__dtype_size(int dtype) {
  switch (dtype) {
    case TP_F32: return 4;
    case TP_I32: return 4;
    case TP_U8: return 1;
    default: return 0;
  }
}

/* ---- plan cache registry ----------------------------------------------------------------- */
#define MAX_PLAN_CACHES 16
static int64_t (*plan_entries[MAX_PLAN_CACHES])(void);
static void (*plan_clears[MAX_PLAN_CACHES])(void);
static int plan_caches = 0;
static pthread_mutex_t plan_reg_lock = PTHREAD_MUTEX_INITIALIZER;

void tp__plan_register(int64_t (*entries)(void), void (*clear)(void)) {
  pthread_mutex_lock(&plan_reg_lock);
  int known = 0;
  for (int i = 0; i < plan_caches; i++) known |= plan_entries[i] == entries;
  if (!known && plan_caches < MAX_PLAN_CACHES) {
    plan_entries[plan_caches] = entries;
    plan_clears[plan_caches] = clear;
    plan_caches++;
  }
  pthread_mutex_unlock(&plan_reg_lock);
}

int64_t tp__plan_entries(void) {
  int64_t n = 0;
  pthread_mutex_lock(&plan_reg_lock);
  for (int i = 0; i < plan_caches; i++) n += plan_entries[i]();
  pthread_mutex_unlock(&plan_reg_lock);
  return n;
}

void tp__plan_clear_all(void) {
  pthread_mutex_lock(&plan_reg_lock);
  for (int i = 0; i < plan_caches; i++) plan_clears[i]();
  pthread_mutex_unlock(&plan_reg_lock);
}
