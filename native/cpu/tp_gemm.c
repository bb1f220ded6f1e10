/* Row-major f32 gemm through dnnl_sgemm. */
#include "tp_onednn.h"

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
  TP_REQUIRE(count >= 0 && (uint64_t)count <= TP_MAX_BYTES / 4,
             "tp_gemm: %s (%lldx%lld, %s %lld) is too large", name, (long long)rows,
             (long long)cols, ld_name, (long long)ld);
  return tp__check_range("tp_gemm", name, ptr, offset, count, 4);
}

int tp_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const void* a, int64_t a_offset, int64_t lda, const void* b, int64_t b_offset,
            int64_t ldb, float beta, void* c, int64_t c_offset, int64_t ldc) {
  TP_REQUIRE(m >= 0 && n >= 0 && k >= 0, "tp_gemm: sizes m=%lld n=%lld k=%lld must be >= 0",
             (long long)m, (long long)n, (long long)k);
  TP_TRY(check_matrix("a", a, a_offset, trans_a ? k : m, trans_a ? m : k, lda, "lda"));
  TP_TRY(check_matrix("b", b, b_offset, trans_b ? n : k, trans_b ? k : n, ldb, "ldb"));
  TP_TRY(check_matrix("c", c, c_offset, m, n, ldc, "ldc"));
  if (m == 0 || n == 0) return TP_OK;
  float* C = (float*)c + c_offset;
  if (k == 0) { /* C = beta * C; beta == 0 never reads C */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return TP_OK;
  }
  dnnl_status_t s = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha,
                               (const float*)a + a_offset, lda, (const float*)b + b_offset, ldb,
                               beta, C, ldc);
  if (s != dnnl_success) {
    char what[160];
    snprintf(what, sizeof what, "in sgemm (m=%lld n=%lld k=%lld)", (long long)m, (long long)n,
             (long long)k);
    return tp__dnnl_fail("tp_gemm", what, s);
  }
  return TP_OK;
}
