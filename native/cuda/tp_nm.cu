/* 2:4 structured-sparse weights (CUDA), with the layout, semantics and messages of the CPU
 * backend (native/cpu/tp_nm.c): values f32 [rows, cols / 2], meta u8 [rows, cols / 4] (bits
 * 0-1 and 2-3: the columns within each group of 4 of its two values).
 *   - tp_nm24_from_dense: one thread per group; a group with more than 2 non-zeros records
 *     the lowest such group index with atomicMin, read back (the call synchronises) to name it.
 *   - tp_nm24_linear: one warp per output (b, o), lanes strided over the groups, a fixed shuffle
 *     tree: run-to-run identical. Own kernels, not cuSPARSELt (2:4 sparse tensor cores), which
 *     is not bound. */
#include <stdint.h>

#include "tp_cuda_internal.h"
#include "tp_checks.h"


#define GRID_STRIDE(i, n)                                                      \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)
#define WARP_STRIDE(r, n)                                                              \
  for (int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32; r < (n); \
       r += (int64_t)gridDim.x * blockDim.x / 32)

static __global__ void compress_kernel(const float* __restrict__ d, int64_t groups, float* v,
                                       uint8_t* m, unsigned long long* bad) {
  GRID_STRIDE(g, groups) {
    const float* q = d + 4 * g;
    int idx[2] = {0, 1}, n = 0;
    for (int k = 0; k < 4; k++) {
      if (q[k] == 0.0f) continue;
      if (n == 2) {
        atomicMin(bad, (unsigned long long)g);
        n = 3;
        break;
      }
      idx[n++] = k;
    }
    if (n > 2) continue;
    if (n == 1 && idx[1] == idx[0]) idx[1] = idx[0] == 0 ? 1 : 0;
    if (n == 1 && idx[1] < idx[0]) idx[1] = idx[0], idx[0] = idx[0] == 0 ? 1 : 0;
    v[2 * g] = q[idx[0]];
    v[2 * g + 1] = q[idx[1]];
    m[g] = (uint8_t)(idx[0] | (idx[1] << 2));
  }
}

static __global__ void nm_linear_kernel(const float* __restrict__ x, const float* __restrict__ v,
                                        const uint8_t* __restrict__ m,
                                        const float* __restrict__ bias, float* y, int64_t batch,
                                        int64_t in, int64_t out) {
  const int lane = threadIdx.x & 31;
  const int64_t G = in / 4;
  WARP_STRIDE(item, batch * out) {
    const int64_t b = item / out, o = item - b * out;
    const float* xb = x + b * in;
    const float* vo = v + o * 2 * G;
    const uint8_t* mo = m + o * G;
    float acc = 0.0f;
    for (int64_t g = lane; g < G; g += 32) {
      const uint8_t c = mo[g];
      acc += vo[2 * g] * xb[4 * g + (c & 3)] + vo[2 * g + 1] * xb[4 * g + ((c >> 2) & 3)];
    }
    for (int s = 16; s > 0; s >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, s);
    if (lane == 0) y[item] = (bias ? bias[o] : 0.0f) + acc;
  }
}

int tp_nm24_from_dense(int64_t rows, int64_t cols, const void* dense, void* values,
                       void* meta) {
  static const char* op = "tp_nm24_from_dense";
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_nm24_from_dense(op, rows, cols, dense, values, meta));
  const int64_t groups = rows * cols / 4;
  unsigned long long* dev = (unsigned long long*)tp__scratch_alloc(sizeof *dev);
  if (!dev) return TP_ERR_OUT_OF_MEMORY;
  unsigned long long bad = ~0ull;
  int s = tp__cuda_status(cudaMemsetAsync(dev, 0xff, sizeof *dev, tp__stream()), op);
  if (s == TP_OK) {
    compress_kernel<<<tp__blocks(groups), TP_THREADS, 0, tp__stream()>>>(
        (const float*)dense, groups, (float*)values, (uint8_t*)meta, dev);
    s = tp__launch_check(op);
  }
  if (s == TP_OK)
    s = tp__cuda_status(
        cudaMemcpyAsync(&bad, dev, sizeof bad, cudaMemcpyDeviceToHost, tp__stream()), op);
  if (s == TP_OK) s = tp__sync(op);
  tp__scratch_free(dev);
  if (s != TP_OK) return s;
  if (bad != ~0ull) {
    const int64_t g = (int64_t)bad, r = g / (cols / 4), c = 4 * (g % (cols / 4));
    return tp__fail(TP_ERR_INVALID_ARGUMENT,
                    "%s: row %lld, columns %lld-%lld hold more than 2 non-zeros: not 2:4", op,
                    (long long)r, (long long)c, (long long)(c + 3));
  }
  return TP_OK;
}

int tp_nm24_linear(int64_t batch, int64_t in, int64_t out, const void* x,
                   const void* values, const void* meta, const void* bias, void* y) {
  static const char* op = "tp_nm24_linear";
  TP_TRY(tp__ensure_init());
  TP_TRY(tp__check_nm24_linear(op, batch, in, out, x, values, meta, bias, y));
  nm_linear_kernel<<<tp__blocks(batch * out * 32), TP_THREADS, 0, tp__stream()>>>(
      (const float*)x, (const float*)values, (const uint8_t*)meta, (const float*)bias, (float*)y,
      batch, in, out);
  return tp__launch_check(op);
}
