/* Row-major f32 gemm through cublasSgemm_v2, with the validation and messages of the CPU
 * backend (native/cpu/tp_gemm.c). Row-major C = op(A) op(B) is the column-major product
 * C^T = op(B)^T op(A)^T, so cuBLAS gets (transb, transa, n, m, k, B, ldb, A, lda, C, ldc);
 * leading dimensions carry over unchanged. The math mode is set on every call (the handle is
 * shared): TF32 tensor-op math when tp__allow_tf32(), else CUBLAS_DEFAULT_MATH, which cuBLAS
 * documents as computing with at least the requested precision (FP32 has 23 mantissa bits,
 * TF32 10, so TF32 is excluded) while keeping the fast FP32 kernels that PEDANTIC math may
 * give up. k == 0 (C = beta * C, C not read when beta == 0) runs our own kernel, so that
 * corner does not depend on cuBLAS's handling of an empty inner dimension. */
#include <limits.h>

#include "tp_cuda_internal.h"
#include "tp_vendor.h"

/* Largest buffer any op may address (the allocator's limit, as on the CPU). */
#define GEMM_MAX_BYTES ((uint64_t)1 << 46)

/* Elements addressed by a row-major rows x cols matrix with leading dim ld (-1: overflow). */
static int64_t span(int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return 0;
  int64_t r;
  if (__builtin_mul_overflow(rows - 1, ld, &r) || __builtin_add_overflow(r, cols, &r)) return -1;
  return r;
}

static int check_matrix(const char* name, const void* ptr, int64_t offset, int64_t rows,
                        int64_t cols, int64_t ld, const char* ld_name) {
  int64_t need = cols > 1 ? cols : 1;
  TP_REQUIRE(ld >= need, "tp_gemm: %s = %lld must be >= %lld (%s is %lldx%lld)", ld_name,
             (long long)ld, (long long)need, name, (long long)rows, (long long)cols);
  int64_t count = span(rows, cols, ld);
  TP_REQUIRE(count >= 0 && (uint64_t)count <= GEMM_MAX_BYTES / 4,
             "tp_gemm: %s (%lldx%lld, %s %lld) is too large", name, (long long)rows,
             (long long)cols, ld_name, (long long)ld);
  return tp__check_range("tp_gemm", name, ptr, offset, count, 4);
}

/* cuBLAS takes int sizes. */
static int fits_int(const char* name, int64_t v) {
  if (v <= INT_MAX) return TP_OK;
  return tp__fail(TP_ERR_UNSUPPORTED, "tp_gemm: %s = %lld exceeds cuBLAS's int range (%d)", name,
                  (long long)v, INT_MAX);
}

/* C[m,n] (leading dim ldc) = beta * C; beta == 0 writes zeros without reading C. */
static __global__ void scale_kernel(float* c, int64_t m, int64_t n, int64_t ldc, float beta) {
  const int64_t total = m * n;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / n;
    float* p = c + r * ldc + (i - r * n);
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
}

int tp_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const void* a, int64_t a_offset, int64_t lda, const void* b, int64_t b_offset,
            int64_t ldb, float beta, void* c, int64_t c_offset, int64_t ldc) {
  static const char* op = "tp_gemm";
  TP_TRY(tp__ensure_init());
  TP_REQUIRE(m >= 0 && n >= 0 && k >= 0, "tp_gemm: sizes m=%lld n=%lld k=%lld must be >= 0",
             (long long)m, (long long)n, (long long)k);
  TP_TRY(check_matrix("a", a, a_offset, trans_a ? k : m, trans_a ? m : k, lda, "lda"));
  TP_TRY(check_matrix("b", b, b_offset, trans_b ? n : k, trans_b ? k : n, ldb, "ldb"));
  TP_TRY(check_matrix("c", c, c_offset, m, n, ldc, "ldc"));
  if (m == 0 || n == 0) return TP_OK;
  float* C = (float*)c + c_offset;
  if (k == 0) {
    scale_kernel<<<tp__blocks(m * n), TP_THREADS, 0, tp__stream()>>>(C, m, n, ldc, beta);
    return tp__launch_check(op);
  }
  TP_TRY(fits_int("m", m));
  TP_TRY(fits_int("n", n));
  TP_TRY(fits_int("k", k));
  TP_TRY(fits_int("lda", lda));
  TP_TRY(fits_int("ldb", ldb));
  TP_TRY(fits_int("ldc", ldc));
  tp_cublas_status s = tp__vendor.cublasSetMathMode(
      tp__vendor.cublas, tp__allow_tf32() ? TP_CUBLAS_TF32_TENSOR_OP_MATH : TP_CUBLAS_DEFAULT_MATH);
  if (s != 0) return tp__cublas_status(s, op);
  /* column-major view: C^T[n,m] = op(B)^T[n,k] * op(A)^T[k,m] */
  s = tp__vendor.cublasSgemm_v2(tp__vendor.cublas, trans_b ? TP_CUBLAS_OP_T : TP_CUBLAS_OP_N,
                                trans_a ? TP_CUBLAS_OP_T : TP_CUBLAS_OP_N, (int)n, (int)m, (int)k,
                                &alpha, (const float*)b + b_offset, (int)ldb,
                                (const float*)a + a_offset, (int)lda, &beta, C, (int)ldc);
  if (s != 0) return tp__cublas_status(s, op);
  return TP_OK;
}
