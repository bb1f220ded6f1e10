/* Sparse inference on CSR weights (CUDA), with the semantics, validation and messages of the
 * CPU backend (native/cpu/tp_sparse.c).
 *   - tp_csr_count: per-thread counts, a block tree, one integer atomicAdd per block; the count
 *     is read back (the host needs it, so the call synchronises).
 *   - tp_csr_from_dense: the count above (checked against nnz with the CPU's message), then one
 *     warp per row: per-row counts into row_ptr[r + 1], a single-block integer scan in place,
 *     and a fill in increasing column order (ballot + popc per 32 columns).
 *   - tp_csr_linear: cuSPARSE generic SpMM computing Y^T = W X^T without copies: x [batch, in]
 *     row-major is X^T column-major (ld = in), y [batch, out] row-major is Y^T column-major
 *     (ld = out). The bias is written into y by our kernel first and SpMM runs with beta = 1
 *     (without bias, beta = 0). Algorithm: CUSPARSE_SPMM_CSR_ALG3 when tp__deterministic()
 *     (the default), because cuSPARSE 12 documents bitwise-reproducible SpMM only for
 *     COO_ALG2, CSR_ALG3 and BSR_ALG1 (CSR_ALG1/ALG2 "may produce slightly different results"
 *     between runs); otherwise CSR_ALG1, documented fastest for column-major B and C. batch 1
 *     (where cuSPARSE may switch to SpMV, whose default is not reproducible) uses our own
 *     kernel: one warp per output, lanes strided over the row, a fixed shuffle tree; nnz 0
 *     only writes the bias (or zeros).
 *   - tp_sparse_conv2d_fwd: one thread per output y[n,k,oh,ow], the bias then the non-zeros of
 *     row k in CSR order (float accumulation, no atomics), each column decoded to (c, r, s).
 * Results are run-to-run identical (tp_csr_linear's SpMM path only under tp__deterministic()).
 * Unlike the CPU, this backend does not read row_ptr or col_idx back to check them on each
 * call: it trusts CSR structure produced by tp_csr_from_dense (see topiary.h); a malformed one
 * is undefined behaviour here. */
#include <stdio.h>

#include "tp_cuda_internal.h"
#include "tp_checks.h"
#include "tp_vendor.h"

enum { N_, C_, H_, W_, K_, R_, S_, SH, SW, PT, PL, PB, PR, DH, DW, HAS_BIAS };

#define SCAN_THREADS 1024

/* ---- validation ------------------------------------------------------------------------------ */


static const char* cusparse_status_name(tp_cusparse_status s) {
  static const char* names[] = {
      "CUSPARSE_STATUS_SUCCESS", "CUSPARSE_STATUS_NOT_INITIALIZED",
      "CUSPARSE_STATUS_ALLOC_FAILED", "CUSPARSE_STATUS_INVALID_VALUE",
      "CUSPARSE_STATUS_ARCH_MISMATCH", "CUSPARSE_STATUS_MAPPING_ERROR",
      "CUSPARSE_STATUS_EXECUTION_FAILED", "CUSPARSE_STATUS_INTERNAL_ERROR",
      "CUSPARSE_STATUS_MATRIX_TYPE_NOT_SUPPORTED", "CUSPARSE_STATUS_ZERO_PIVOT",
      "CUSPARSE_STATUS_NOT_SUPPORTED", "CUSPARSE_STATUS_INSUFFICIENT_RESOURCES"};
  return s >= 0 && s <= 11 ? names[s] : "unknown cuSPARSE status";
}

static int cusparse_fail(tp_cusparse_status s, const char* op, const char* call) {
  const int oom = s == TP_CUSPARSE_STATUS_ALLOC_FAILED ||
                  s == TP_CUSPARSE_STATUS_INSUFFICIENT_RESOURCES;
  return tp__fail(oom ? TP_ERR_OUT_OF_MEMORY
                      : s == TP_CUSPARSE_STATUS_NOT_SUPPORTED ? TP_ERR_UNSUPPORTED : TP_ERR_BACKEND,
                  "%s: cuSPARSE %s failed with %s (%d)", op, call, cusparse_status_name(s), s);
}

/* ---- kernels --------------------------------------------------------------------------------- */
#define GRID_STRIDE(i, n)                                                      \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)
/* One warp per item r in [0, n) (blockDim a multiple of 32: r is uniform within a warp). */
#define WARP_STRIDE(r, n)                                                              \
  for (int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32; r < (n); \
       r += (int64_t)gridDim.x * blockDim.x / 32)

/* *count += number of non-zeros of d[0, n): thread sums, a block tree, one atomic per block. */
static __global__ void count_kernel(const float* __restrict__ d, int64_t n,
                                    unsigned long long* count) {
  __shared__ unsigned long long sh[TP_THREADS];
  unsigned long long c = 0;
  GRID_STRIDE(i, n) c += d[i] != 0.0f;
  sh[threadIdx.x] = c;
  __syncthreads();
  for (int s = TP_THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0 && sh[0]) atomicAdd(count, sh[0]);
}

/* rp[r + 1] = non-zeros of row r, rp[0] = 0. */
static __global__ void row_count_kernel(const float* __restrict__ d, int64_t rows, int64_t cols,
                                        int32_t* rp) {
  const int lane = threadIdx.x & 31;
  if (blockIdx.x == 0 && threadIdx.x == 0) rp[0] = 0;
  WARP_STRIDE(r, rows) {
    const float* row = d + r * cols;
    int32_t k = 0;
    for (int64_t c0 = 0; c0 < cols; c0 += 32) {
      const int64_t c = c0 + lane;
      k += __popc(__ballot_sync(0xffffffffu, c < cols && row[c] != 0.0f));
    }
    if (lane == 0) rp[r + 1] = k;
  }
}

/* In-place inclusive scan of rp[1, rows]: one block, thread t owns a contiguous chunk. Integer
 * sums, so the result is exact whatever the order. */
static __global__ void scan_kernel(int32_t* rp, int64_t rows) {
  __shared__ int32_t sh[SCAN_THREADS];
  const int t = threadIdx.x;
  const int64_t chunk = (rows + SCAN_THREADS - 1) / SCAN_THREADS;
  const int64_t b = 1 + t * chunk, e = b + chunk < rows + 1 ? b + chunk : rows + 1;
  int32_t sum = 0;
  for (int64_t i = b; i < e; i++) sum += rp[i];
  sh[t] = sum;
  __syncthreads();
  for (int s = 1; s < SCAN_THREADS; s <<= 1) { /* Hillis-Steele, inclusive */
    const int32_t v = t >= s ? sh[t - s] : 0;
    __syncthreads();
    sh[t] += v;
    __syncthreads();
  }
  int32_t run = t ? sh[t - 1] : 0;
  for (int64_t i = b; i < e; i++) run += rp[i], rp[i] = run;
}

/* Writes the non-zeros of each row at rp[r], in increasing column order. */
static __global__ void fill_kernel(const float* __restrict__ d, int64_t rows, int64_t cols,
                                   const int32_t* __restrict__ rp, int32_t* ci, float* v) {
  const int lane = threadIdx.x & 31;
  const unsigned below = (1u << lane) - 1;
  WARP_STRIDE(r, rows) {
    const float* row = d + r * cols;
    int32_t k = rp[r];
    for (int64_t c0 = 0; c0 < cols; c0 += 32) {
      const int64_t c = c0 + lane;
      const float w = c < cols ? row[c] : 0.0f;
      const unsigned m = __ballot_sync(0xffffffffu, w != 0.0f);
      if (w != 0.0f) {
        const int32_t at = k + __popc(m & below);
        ci[at] = (int32_t)c, v[at] = w;
      }
      k += __popc(m);
    }
  }
}

/* y[b, o] = bias[o] (or 0). */
static __global__ void bias_fill_kernel(float* y, const float* __restrict__ bias, int64_t n,
                                        int64_t out) {
  GRID_STRIDE(i, n) y[i] = bias ? bias[i % out] : 0.0f;
}

/* One warp per output (b, o): lane l takes non-zeros rp[o] + l, + 32, ...; a fixed tree. */
static __global__ void csr_linear_kernel(const float* __restrict__ x, const int32_t* __restrict__ rp,
                                         const int32_t* __restrict__ ci,
                                         const float* __restrict__ v,
                                         const float* __restrict__ bias, float* y, int64_t batch,
                                         int64_t in, int64_t out) {
  const int lane = threadIdx.x & 31;
  WARP_STRIDE(item, batch * out) {
    const int64_t b = item / out, o = item - b * out;
    const float* xb = x + b * in;
    float acc = 0.0f;
    for (int64_t j = rp[o] + lane; j < rp[o + 1]; j += 32) acc += v[j] * xb[ci[j]];
    for (int s = 16; s > 0; s >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, s);
    if (lane == 0) y[item] = (bias ? bias[o] : 0.0f) + acc;
  }
}

/* One thread per output y[n, k, oh, ow]: bias, then row k's non-zeros in CSR order. Columns
 * are < 2^31 (checked), so the decode uses 32-bit divisions. */
static __global__ void sparse_conv_kernel(const float* __restrict__ x,
                                          const int32_t* __restrict__ rp,
                                          const int32_t* __restrict__ ci,
                                          const float* __restrict__ v,
                                          const float* __restrict__ bias, float* y, int64_t total,
                                          int64_t C, int64_t H, int64_t W, int64_t K, uint32_t RS,
                                          uint32_t S, int64_t P, int64_t Q, int64_t sh,
                                          int64_t sw, int64_t pt, int64_t pl, int64_t dh,
                                          int64_t dw) {
  GRID_STRIDE(i, total) {
    const int64_t ow = i % Q, oh = (i / Q) % P, nk = i / (P * Q), k = nk % K, n = nk / K;
    const float* xn = x + n * C * H * W;
    const int64_t h0 = oh * sh - pt, w0 = ow * sw - pl;
    float acc = bias ? bias[k] : 0.0f;
    for (int32_t j = rp[k]; j < rp[k + 1]; j++) {
      const uint32_t col = (uint32_t)ci[j], c = col / RS, rem = col - c * RS, r = rem / S;
      const int64_t ih = h0 + (int64_t)r * dh, iw = w0 + (int64_t)(rem - r * S) * dw;
      if (ih >= 0 && ih < H && iw >= 0 && iw < W) acc += v[j] * xn[(c * H + ih) * W + iw];
    }
    y[i] = acc;
  }
}

/* ---- ABI ------------------------------------------------------------------------------------- */
/* Counts on the device and reads the count back (synchronises). */
static int count_nonzeros(const char* op, int64_t rows, int64_t cols, const void* dense,
                          int64_t* nnz) {
  TP_REQUIRE(rows >= 1 && cols >= 1, "%s: shape [%lld, %lld] must be >= 1", op, (long long)rows,
             (long long)cols);
  TP_TRY(tp__check_range(op, "dense", dense, 0, rows * cols, 4));
  unsigned long long* dev = (unsigned long long*)tp__scratch_alloc(sizeof *dev);
  if (!dev) return TP_ERR_OUT_OF_MEMORY;
  unsigned long long host = 0;
  int s = tp__cuda_status(cudaMemsetAsync(dev, 0, sizeof *dev, tp__stream()), op);
  if (s == TP_OK) {
    count_kernel<<<tp__blocks(rows * cols), TP_THREADS, 0, tp__stream()>>>((const float*)dense,
                                                                           rows * cols, dev);
    s = tp__launch_check(op);
  }
  if (s == TP_OK)
    s = tp__cuda_status(
        cudaMemcpyAsync(&host, dev, sizeof host, cudaMemcpyDeviceToHost, tp__stream()), op);
  if (s == TP_OK) s = tp__sync(op);
  tp__scratch_free(dev);
  if (s == TP_OK) *nnz = (int64_t)host;
  return s;
}

int tp_csr_count(int64_t rows, int64_t cols, const void* dense, int64_t* nnz) {
  static const char* op = "tp_csr_count";
  TP_TRY(tp__ensure_init());
  TP_REQUIRE(nnz != NULL, "%s: nnz is NULL", op);
  return count_nonzeros(op, rows, cols, dense, nnz);
}

int tp_csr_from_dense(int64_t rows, int64_t cols, const void* dense, int64_t nnz, void* row_ptr,
                      void* col_idx, void* values) {
  static const char* op = "tp_csr_from_dense";
  TP_TRY(tp__ensure_init());
  int64_t have = 0;
  TP_TRY(count_nonzeros("tp_csr_count", rows, cols, dense, &have)); /* the CPU's messages */
  TP_REQUIRE(have == nnz, "%s: the matrix has %lld non-zeros, nnz says %lld", op,
             (long long)have, (long long)nnz);
  TP_REQUIRE(nnz < ((int64_t)1 << 31) && cols < ((int64_t)1 << 31),
             "%s: %lld non-zeros or %lld columns exceed i32 indices", op, (long long)nnz,
             (long long)cols);
  TP_TRY(tp__check_range(op, "row_ptr", row_ptr, 0, rows + 1, 4));
  if (nnz) {
    TP_TRY(tp__check_range(op, "col_idx", col_idx, 0, nnz, 4));
    TP_TRY(tp__check_range(op, "values", values, 0, nnz, 4));
  }
  const float* d = (const float*)dense;
  int32_t* rp = (int32_t*)row_ptr;
  const unsigned blocks = tp__blocks(rows * 32);
  row_count_kernel<<<blocks, TP_THREADS, 0, tp__stream()>>>(d, rows, cols, rp);
  TP_TRY(tp__launch_check(op));
  scan_kernel<<<1, SCAN_THREADS, 0, tp__stream()>>>(rp, rows);
  TP_TRY(tp__launch_check(op));
  if (!nnz) return TP_OK;
  fill_kernel<<<blocks, TP_THREADS, 0, tp__stream()>>>(d, rows, cols, rp, (int32_t*)col_idx,
                                                       (float*)values);
  return tp__launch_check(op);
}

/* y = x W^T (+ y when beta is 1) through cuSPARSE SpMM; see the header for the layouts. */
static int spmm(const char* op, int64_t batch, int64_t in, int64_t out, int64_t nnz,
                const void* x, const void* row_ptr, const void* col_idx, const void* values,
                float beta, void* y) {
  tp_cusparse_spmat_desc a = NULL;
  tp_cusparse_dnmat_desc b = NULL, c = NULL;
  void* ws = NULL;
  size_t ws_bytes = 0;
  const float one = 1.0f;
  const int alg = tp__deterministic() ? TP_CUSPARSE_SPMM_CSR_ALG3 : TP_CUSPARSE_SPMM_CSR_ALG1;
  const int nt = TP_CUSPARSE_OPERATION_NON_TRANSPOSE;
  const char* call = "cusparseCreateCsr";
  tp_cusparse_status s = tp__vendor.cusparseCreateCsr(
      &a, out, in, nnz, (void*)row_ptr, (void*)col_idx, (void*)values, TP_CUSPARSE_INDEX_32I,
      TP_CUSPARSE_INDEX_32I, TP_CUSPARSE_INDEX_BASE_ZERO, TP_CUDA_R_32F);
  if (s == 0) {
    call = "cusparseCreateDnMat";
    s = tp__vendor.cusparseCreateDnMat(&b, in, batch, in, (void*)x, TP_CUDA_R_32F,
                                       TP_CUSPARSE_ORDER_COL);
  }
  if (s == 0)
    s = tp__vendor.cusparseCreateDnMat(&c, out, batch, out, y, TP_CUDA_R_32F,
                                       TP_CUSPARSE_ORDER_COL);
  if (s == 0) {
    call = "cusparseSpMM_bufferSize";
    s = tp__vendor.cusparseSpMM_bufferSize(tp__vendor.cusparse, nt, nt, &one, a, b, &beta, c,
                                           TP_CUDA_R_32F, alg, &ws_bytes);
  }
  int status = TP_OK;
  if (s == 0 && ws_bytes > 0 && !(ws = tp__scratch_alloc(ws_bytes))) status = TP_ERR_OUT_OF_MEMORY;
  if (s == 0 && status == TP_OK) {
    call = "cusparseSpMM";
    s = tp__vendor.cusparseSpMM(tp__vendor.cusparse, nt, nt, &one, a, b, &beta, c, TP_CUDA_R_32F,
                                alg, ws);
  }
  if (s != 0) status = cusparse_fail(s, op, call);
  tp__scratch_free(ws); /* stream-ordered reuse by the caching allocator */
  if (c) tp__vendor.cusparseDestroyDnMat(c);
  if (b) tp__vendor.cusparseDestroyDnMat(b);
  if (a) tp__vendor.cusparseDestroySpMat(a);
  return status;
}

int tp_csr_linear(int64_t batch, int64_t in, int64_t out, int64_t nnz, const void* x,
                  const void* row_ptr, const void* col_idx, const void* values, const void* bias,
                  void* y) {
  static const char* op = "tp_csr_linear";
  TP_TRY(tp__ensure_init());
  TP_REQUIRE(batch >= 1, "%s: batch %lld must be >= 1", op, (long long)batch);
  TP_TRY(tp__check_csr_buffers(op, out, in, nnz, row_ptr, col_idx, values));
  TP_TRY(tp__check_range(op, "x", x, 0, batch * in, 4));
  TP_TRY(tp__check_range(op, "y", y, 0, batch * out, 4));
  if (bias) TP_TRY(tp__check_range(op, "bias", bias, 0, out, 4));
  TP_REQUIRE(y != x, "%s: y and x share a buffer", op);
  const float* bf = (const float*)bias;
  if (batch == 1 && nnz > 0) {
    csr_linear_kernel<<<tp__blocks(out * 32), TP_THREADS, 0, tp__stream()>>>(
        (const float*)x, (const int32_t*)row_ptr, (const int32_t*)col_idx, (const float*)values,
        bf, (float*)y, batch, in, out);
    return tp__launch_check(op);
  }
  if (bias || nnz == 0) {
    bias_fill_kernel<<<tp__blocks(batch * out), TP_THREADS, 0, tp__stream()>>>((float*)y, bf,
                                                                               batch * out, out);
    TP_TRY(tp__launch_check(op));
  }
  if (nnz == 0) return TP_OK;
  return spmm(op, batch, in, out, nnz, x, row_ptr, col_idx, values, bias ? 1.0f : 0.0f, y);
}

int tp_sparse_conv2d_fwd(const int64_t* p, int64_t nnz, const void* x, const void* row_ptr,
                         const void* col_idx, const void* values, const void* b, void* y) {
  static const char* op = "tp_sparse_conv2d_fwd";
  TP_TRY(tp__ensure_init());
  int64_t P = 0, Q = 0;
  TP_TRY(tp__conv_check(op, p, &P, &Q));
  const int64_t N = p[N_], C = p[C_], H = p[H_], W = p[W_], K = p[K_], R = p[R_], S = p[S_];
  TP_TRY(tp__check_csr_buffers(op, K, C * R * S, nnz, row_ptr, col_idx, values));
  TP_TRY(tp__check_range(op, "x", x, 0, N * C * H * W, 4));
  TP_TRY(tp__check_range(op, "y", y, 0, N * K * P * Q, 4));
  if (p[HAS_BIAS]) TP_TRY(tp__check_range(op, "b", b, 0, K, 4));
  TP_REQUIRE(y != x, "%s: y and x share a buffer", op);
  const int64_t total = N * K * P * Q;
  sparse_conv_kernel<<<tp__blocks(total), TP_THREADS, 0, tp__stream()>>>(
      (const float*)x, (const int32_t*)row_ptr, (const int32_t*)col_idx, (const float*)values,
      p[HAS_BIAS] ? (const float*)b : NULL, (float*)y, total, C, H, W, K, (uint32_t)(R * S),
      (uint32_t)S, P, Q, p[SH], p[SW], p[PT], p[PL], p[DH], p[DW]);
  return tp__launch_check(op);
}
