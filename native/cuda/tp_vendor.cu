/* Opens cuBLAS, cuDNN and cuSPARSE at run time and resolves the functions tp_vendor.h
 * declares. Each library is looked for in the folders of TOPIARY_CUDA_LIBDIRS (colon
 * separated, in order), then by its soname through the loader path (LD_LIBRARY_PATH, the
 * system cache). A library or symbol that cannot be found gives TP_ERR_LIBRARY_MISSING with
 * a message naming it, the folders searched and the loader's own reason. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tp_cuda_internal.h"
#include "tp_vendor.h"

tp_vendor_table tp__vendor;

/* Opens `soname` from the first TOPIARY_CUDA_LIBDIRS folder holding it, else the loader path. */
static int open_library(const char* soname, const char* what, void** out) {
  const char* dirs = getenv("TOPIARY_CUDA_LIBDIRS");
  char path[4096];
  if (dirs && *dirs) {
    const char* p = dirs;
    while (*p) {
      const char* end = strchr(p, ':');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      if (len > 0 && len + strlen(soname) + 2 < sizeof path) {
        memcpy(path, p, len);
        path[len] = '/';
        strcpy(path + len + 1, soname);
        void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h) {
          *out = h;
          return TP_OK;
        }
      }
      if (!end) break;
      p = end + 1;
    }
  }
  void* h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (h) {
    *out = h;
    return TP_OK;
  }
  const char* why = dlerror();
  const char* ld = getenv("LD_LIBRARY_PATH");
  return tp__fail(TP_ERR_LIBRARY_MISSING,
                  "CUDA initialisation: %s (%s) was not found in TOPIARY_CUDA_LIBDIRS=%s nor on "
                  "the loader path (LD_LIBRARY_PATH=%s): %s",
                  soname, what, dirs && *dirs ? dirs : "(unset)", ld && *ld ? ld : "(unset)",
                  why ? why : "unknown reason");
}

static int resolve(void* lib, const char* soname, const char* name, void** slot) {
  dlerror();
  void* f = dlsym(lib, name);
  if (!f) {
    return tp__fail(TP_ERR_LIBRARY_MISSING,
                    "CUDA initialisation: %s has no function %s (a different major version?)",
                    soname, name);
  }
  *slot = f;
  return TP_OK;
}

#define TP_RESOLVE(name, ret, args) \
  TP_TRY(resolve(lib, soname, #name, (void**)&tp__vendor.name));

static int load_cublas(cudaStream_t stream) {
  const char* soname = "libcublas.so.13";
  void* lib = NULL;
  TP_TRY(open_library(soname, "cuBLAS 13", &lib));
  TP_CUBLAS_FUNCTIONS(TP_RESOLVE)
  TP_TRY(tp__cublas_status(tp__vendor.cublasCreate_v2(&tp__vendor.cublas), "cublasCreate"));
  TP_TRY(tp__cublas_status(tp__vendor.cublasSetStream_v2(tp__vendor.cublas, stream),
                           "cublasSetStream"));
  TP_TRY(tp__cublas_status(
      tp__vendor.cublasSetMathMode(tp__vendor.cublas, tp__allow_tf32()
                                                          ? TP_CUBLAS_TF32_TENSOR_OP_MATH
                                                          : TP_CUBLAS_PEDANTIC_MATH),
      "cublasSetMathMode"));
  return tp__cublas_status(
      tp__vendor.cublasGetVersion_v2(tp__vendor.cublas, &tp__vendor.cublas_version),
      "cublasGetVersion");
}

static int load_cudnn(cudaStream_t stream) {
  const char* soname = "libcudnn.so.9";
  void* lib = NULL;
  TP_TRY(open_library(soname, "cuDNN 9", &lib));
  TP_CUDNN_FUNCTIONS(TP_RESOLVE)
  tp__vendor.cudnn_version = tp__vendor.cudnnGetVersion();
  TP_TRY(tp__cudnn_status(tp__vendor.cudnnCreate(&tp__vendor.cudnn), "cudnnCreate"));
  return tp__cudnn_status(tp__vendor.cudnnSetStream(tp__vendor.cudnn, stream), "cudnnSetStream");
}

static int load_cusparse(cudaStream_t stream) {
  const char* soname = "libcusparse.so.12";
  void* lib = NULL;
  TP_TRY(open_library(soname, "cuSPARSE 12", &lib));
  TP_CUSPARSE_FUNCTIONS(TP_RESOLVE)
  if (tp__vendor.cusparseCreate(&tp__vendor.cusparse) != 0) {
    return tp__fail(TP_ERR_BACKEND, "CUDA initialisation: cusparseCreate failed");
  }
  if (tp__vendor.cusparseSetStream(tp__vendor.cusparse, stream) != 0) {
    return tp__fail(TP_ERR_BACKEND, "CUDA initialisation: cusparseSetStream failed");
  }
  tp__vendor.cusparseGetVersion(tp__vendor.cusparse, &tp__vendor.cusparse_version);
  return TP_OK;
}
#undef TP_RESOLVE

int tp__vendor_load(cudaStream_t stream) {
  memset(&tp__vendor, 0, sizeof tp__vendor);
  TP_TRY(load_cublas(stream));
  TP_TRY(load_cudnn(stream));
  return load_cusparse(stream);
}

static const char* cublas_status_name(tp_cublas_status s) {
  switch (s) {
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

int tp__cublas_status(tp_cublas_status s, const char* op) {
  if (s == 0) return TP_OK;
  return tp__fail(s == 3 ? TP_ERR_OUT_OF_MEMORY : TP_ERR_BACKEND, "%s: cuBLAS failed with %s (%d)",
                  op, cublas_status_name(s), s);
}

int tp__cudnn_status(tp_cudnn_status s, const char* op) {
  if (s == 0) return TP_OK;
  const char* name = tp__vendor.cudnnGetErrorString ? tp__vendor.cudnnGetErrorString(s) : "?";
  const int oom = s == TP_CUDNN_STATUS_HOST_ALLOC_FAILED || s == TP_CUDNN_STATUS_DEVICE_ALLOC_FAILED;
  return tp__fail(oom ? TP_ERR_OUT_OF_MEMORY : TP_ERR_BACKEND, "%s: cuDNN failed with %s (%d)",
                  op, name, s);
}
