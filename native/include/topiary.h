/*
 * topiary.h: the whole native ABI of Topiary.
 *
 * Two shared libraries implement this header: libtopiary_cpu.so (C, oneDNN, OpenMP) and
 * libtopiary_cuda.so (CUDA). Rules that hold for every function:
 *   - the prefix is tp_, arguments are plain pointers, sizes and explicit layouts;
 *   - the return value is a status (TP_OK = 0); nothing aborts the process;
 *   - on failure, tp_last_error() returns a thread-local message naming the problem;
 *   - buffers are opaque device pointers from tp_alloc; host memory is only touched by the
 *     tp_copy_* functions; element offsets and strides are counted in elements, not bytes;
 *   - shapes, strides and op parameters travel as int64_t arrays;
 *   - calls are synchronous from the caller's point of view.
 *
 * Native formats: a tensor may live in an opaque, possibly padded layout chosen by the
 * backend (oneDNN's blocked nChw16c, for example). Such layouts are interned and named by a
 * small positive integer, a format id; format 0 is always plain, dense, row-major. Ops that
 * produce a native format report the id and the byte size the caller must allocate through
 * their *_query function, whose answers depend only on the op parameters.
 */
#ifndef TOPIARY_H
#define TOPIARY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TP_ABI_VERSION 1

/* ---- status codes ---------------------------------------------------------------------- */
enum tp_status {
  TP_OK = 0,
  TP_ERR_INVALID_ARGUMENT = 1, /* bad shape, size, pointer, enum value or option */
  TP_ERR_OUT_OF_MEMORY = 2,
  TP_ERR_BACKEND = 3,          /* the vendor library (oneDNN, cuDNN, ...) failed */
  TP_ERR_UNSUPPORTED = 4,      /* this backend does not implement the op or the case */
  TP_ERR_NUMERIC = 5,          /* NaN or infinity where a finite value is required */
  TP_ERR_LIBRARY_MISSING = 6,  /* a library opened at run time was not found */
  TP_ERR_NO_DRIVER = 35,       /* CUDA: no driver, or one too old (cudaErrorInsufficientDriver) */
  TP_ERR_NO_DEVICE = 100       /* CUDA: no device (cudaErrorNoDevice) */
};

/* ---- dtypes ------------------------------------------------------------------------------ */
enum tp_dtype { TP_F32 = 0, TP_I32 = 1, TP_U8 = 2 };

/* ---- library, errors, threads -------------------------------------------------------------- */
int tp_abi_version(void);
/* Thread-local message of the last failed call on this thread ("" if none). */
const char* tp_last_error(void);
/* JSON object describing the backend: name, vendor library versions, ISA, threads. */
int tp_backend_info(char* buf, int64_t capacity);
/* Threads used by every parallel kernel of this library (OpenMP and oneDNN). n >= 1. */
int tp_set_num_threads(int n);
int tp_get_num_threads(int* out);
/* Flush denormals to zero (FTZ and DAZ) in every thread of this library (1) or not (0).
 * Subnormal floats (e.g. softmax probabilities below 1e-38 in backward passes) otherwise
 * slow float math by orders of magnitude. */
int tp_set_flush_denormal(int on);

/* ---- memory -------------------------------------------------------------------------------- */
/* 64-byte aligned buffer of at least `bytes` bytes (bytes >= 1); contents undefined.
 * Freed blocks are cached by size and handed out again. */
int tp_alloc(uint64_t bytes, void** out);
/* Frees a buffer from tp_alloc. Unknown or already freed pointers are rejected, not freed. */
int tp_free(void* ptr);
int tp_copy_from_host(void* dst, uint64_t dst_offset_bytes, const void* src, uint64_t bytes);
int tp_copy_to_host(const void* src, uint64_t src_offset_bytes, void* dst, uint64_t bytes);
int tp_copy(void* dst, uint64_t dst_offset_bytes, const void* src, uint64_t src_offset_bytes,
            uint64_t bytes);
/* Fills n elements of dtype starting at element `offset` with `value` (converted). */
int tp_fill(int dtype, void* dst, int64_t offset, int64_t n, double value);
/* out[0..7]: live buffers, live bytes, cached buffers, cached bytes, plan cache entries,
 * peak live bytes, total tp_alloc calls, tp_alloc calls served by the cache. */
int tp_memory_stats(int64_t* out);
/* Limit on bytes the allocator cache may hold (default 1 GiB; 0 disables caching). */
int tp_set_cache_limit(uint64_t bytes);
/* Frees every cached block and every cached plan (primitives, reorders). Format ids stay valid. */
int tp_cache_clear(void);

/* ---- native formats ------------------------------------------------------------------------ */
/* out: [ndim, dims[0..ndim), bytes] for format `fmt` (fmt > 0); capacity >= 2 + ndim. */
int tp_format_info(int fmt, int64_t* out, int64_t capacity);
/* Copies src (format src_fmt) to dst (format dst_fmt); fmt 0 means plain row-major with the
 * given dims; a non-zero format must have exactly these dims. */
int tp_reorder(int ndim, const int64_t* dims, int src_fmt, const void* src, int dst_fmt,
               void* dst);

/* ---- elementwise ----------------------------------------------------------------------------
 * Strided n-d layout: shape[ndim], strides[ndim] (elements; 0 = broadcast), offset. The
 * output is always dense row-major with `shape`. ndim <= TP_MAX_DIMS. */
#define TP_MAX_DIMS 8

enum tp_unary_op {
  TP_UNARY_COPY = 0,  /* y = x (makes a strided view dense) */
  TP_UNARY_NEG = 1,
  TP_UNARY_RELU = 2,
  TP_UNARY_SIGN = 3,  /* -1, 0, +1 */
  TP_UNARY_ABS = 4,
  TP_UNARY_EXP = 5,
  TP_UNARY_LOG = 6,
  TP_UNARY_SQRT = 7,
  TP_UNARY_POW = 8,    /* x^a */
  TP_UNARY_CLAMP = 9,  /* min(max(x, a), b) */
  TP_UNARY_AFFINE = 10, /* a*x + b */
  TP_UNARY_SQUARE = 11,
  TP_UNARY_RECIPROCAL = 12,
  TP_UNARY_RSQRT = 13,
  TP_UNARY_TANH = 14,
  TP_UNARY_SIGMOID = 15,
  TP_UNARY_CLAMP_MASK = 16, /* 1 if a <= x <= b else 0 (gradient of clamp) */
  TP_UNARY_COUNT = 17
};
/* y = f(x; a, b) for f32 x. */
int tp_unary(int op, int ndim, const int64_t* shape, const void* x, const int64_t* x_strides,
             int64_t x_offset, void* y, float a, float b);

enum tp_binary_op {
  TP_BINARY_ADD = 0,
  TP_BINARY_SUB = 1,
  TP_BINARY_MUL = 2,
  TP_BINARY_DIV = 3,
  TP_BINARY_MAX = 4,
  TP_BINARY_MIN = 5,
  TP_BINARY_EQ = 6, /* comparisons give 1.0f or 0.0f */
  TP_BINARY_NE = 7,
  TP_BINARY_LT = 8,
  TP_BINARY_LE = 9,
  TP_BINARY_GT = 10,
  TP_BINARY_GE = 11,
  TP_BINARY_RELU_BACKWARD = 12, /* a > 0 ? b : 0 (a: relu input or output, b: gradient) */
  TP_BINARY_POW = 13,           /* a^b */
  TP_BINARY_COUNT = 14
};
/* y = a op b, f32, broadcasting expressed by zero strides. */
int tp_binary(int op, int ndim, const int64_t* shape, const void* a, const int64_t* a_strides,
              int64_t a_offset, const void* b, const int64_t* b_strides, int64_t b_offset,
              void* y);
/* y = cond != 0 ? a : b (all f32). */
int tp_where(int ndim, const int64_t* shape, const void* cond, const int64_t* c_strides,
             int64_t c_offset, const void* a, const int64_t* a_strides, int64_t a_offset,
             const void* b, const int64_t* b_strides, int64_t b_offset, void* y);
/* Dense row-major copy of a strided view of any dtype (x_strides and offset in elements). */
int tp_copy_strided(int dtype, int ndim, const int64_t* shape, const void* x,
                    const int64_t* x_strides, int64_t x_offset, void* y);
/* Writes a strided view of x into a strided view of y (same shape, any dtype). */
int tp_assign(int dtype, int ndim, const int64_t* shape, const void* x, const int64_t* x_strides,
              int64_t x_offset, void* y, const int64_t* y_strides, int64_t y_offset);
/* Converts n dense elements between dtypes (f32 -> i32 truncates toward zero). */
int tp_cast(int src_dtype, const void* x, int64_t x_offset, int dst_dtype, void* y, int64_t n);

/* ---- reductions -------------------------------------------------------------------------------
 * The input is split into kept dims (keep_shape/keep_strides, the output's row-major shape)
 * and reduced dims (red_shape/red_strides). Each output element reduces its elements in
 * row-major order of the reduced dims, in fixed chunks of TP_REDUCE_CHUNK elements summed in
 * double and combined in index order, so results do not depend on the thread count.
 * ARGMAX/ARGMIN write i32 row-major indices into the reduced dims (first one on ties). */
#define TP_REDUCE_CHUNK 16384
enum tp_reduce_op {
  TP_REDUCE_SUM = 0,
  TP_REDUCE_MEAN = 1,
  TP_REDUCE_MAX = 2,
  TP_REDUCE_MIN = 3,
  TP_REDUCE_ARGMAX = 4,
  TP_REDUCE_ARGMIN = 5,
  TP_REDUCE_SUM_SQUARES = 6,
  TP_REDUCE_COUNT = 7
};
int tp_reduce(int op, int keep_ndim, const int64_t* keep_shape, const int64_t* keep_strides,
              int red_ndim, const int64_t* red_shape, const int64_t* red_strides, const void* x,
              int64_t x_offset, void* y);

/* ---- losses ---------------------------------------------------------------------------------
 * logits: dense [n, c] f32; labels: [n] i32 in [0, c) (checked). */
/* losses[i] = -log softmax(logits[i])[labels[i]]. */
int tp_softmax_xent_fwd(int64_t n, int64_t c, const void* logits, const void* labels,
                        void* losses);
/* dlogits[i] = (softmax(logits[i]) - onehot(labels[i])) * scale * dloss[i * dloss_stride];
 * dloss_stride is 1 (per-sample upstream gradient) or 0 (one scalar for all rows). */
int tp_softmax_xent_bwd(int64_t n, int64_t c, const void* logits, const void* labels,
                        const void* dloss, int64_t dloss_stride, float scale, void* dlogits);
/* y = log_softmax(x) over rows of a dense [n, c]. */
int tp_log_softmax_fwd(int64_t n, int64_t c, const void* x, void* y);
/* dx = dy - exp(y) * rowsum(dy). */
int tp_log_softmax_bwd(int64_t n, int64_t c, const void* y, const void* dy, void* dx);

/* ---- gemm ---------------------------------------------------------------------------------------
 * Row-major C[m,n] = alpha * op(A) op(B) + beta * C, op = transpose when trans_* != 0. */
int tp_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const void* a, int64_t a_offset, int64_t lda, const void* b, int64_t b_offset,
            int64_t ldb, float beta, void* c, int64_t c_offset, int64_t ldc);

/* ---- convolution ----------------------------------------------------------------------------
 * p[TP_CONV_NPARAMS]: N, C, H, W, K, R, S, stride_h, stride_w, pad_top, pad_left,
 * pad_bottom, pad_right, dilation_h, dilation_w (1 = none), has_bias.
 * x is [N,C,H,W] in format x_fmt; w is plain [K,C,R,S]; b is [K]; y is [N,K,P,Q]. */
#define TP_CONV_NPARAMS 16
/* out[0..7]: y_fmt, y_bytes, dx_fmt, dx_bytes, P, Q, x_fmt wanted, dy_fmt wanted. */
int tp_conv2d_query(const int64_t* p, int64_t* out);
int tp_conv2d_fwd(const int64_t* p, int x_fmt, const void* x, const void* w, const void* b,
                  void* y);
/* dx (format from query) from dy (format dy_fmt) and w. */
int tp_conv2d_bwd_data(const int64_t* p, int dy_fmt, const void* dy, const void* w, void* dx);
/* dw (plain [K,C,R,S]) and db ([K], when has_bias and db != NULL); beta = 0 overwrites,
 * beta = 1 accumulates into dw/db. */
int tp_conv2d_bwd_weights(const int64_t* p, int x_fmt, const void* x, int dy_fmt,
                          const void* dy, void* dw, void* db, float beta);

/* ---- pooling --------------------------------------------------------------------------------
 * p[TP_POOL_NPARAMS]: N, C, H, W, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
 * pad_bottom, pad_right, kind (TP_POOL_*). */
#define TP_POOL_NPARAMS 13
enum tp_pool_kind { TP_POOL_MAX = 0, TP_POOL_AVG_INCLUDE_PAD = 1, TP_POOL_AVG_EXCLUDE_PAD = 2 };
/* Pooling keeps the input's format: plans are keyed by (p, x_fmt).
 * out[0..6]: y_fmt, y_bytes, workspace bytes (max pooling, training), dx_fmt, dx_bytes, P, Q. */
int tp_pool2d_query(const int64_t* p, int x_fmt, int64_t* out);
/* ws may be NULL (inference); max-pool backward needs the ws of its forward. */
int tp_pool2d_fwd(const int64_t* p, int x_fmt, const void* x, void* y, void* ws);
/* dx (format dx_fmt from the query for x_fmt) from dy (format dy_fmt). */
int tp_pool2d_bwd(const int64_t* p, int x_fmt, int dy_fmt, const void* dy, const void* ws,
                  void* dx);

/* ---- batch normalization ------------------------------------------------------------------------
 * p[TP_BN_NPARAMS]: N, C, H, W, affine (scale/shift given), training.
 * Training: mean/var are outputs (biased batch variance); when running_mean/running_var are
 * non-NULL they are updated as PyTorch does (unbiased variance, `momentum`).
 * Inference: mean/var are inputs (running statistics). */
#define TP_BN_NPARAMS 6
/* Batch norm keeps the input's format: plans are keyed by (p, eps, x_fmt).
 * out[0..3]: y_fmt, y_bytes, dx_fmt, dx_bytes. */
int tp_batchnorm_query(const int64_t* p, float eps, int x_fmt, int64_t* out);
int tp_batchnorm_fwd(const int64_t* p, float eps, float momentum, int x_fmt, const void* x,
                     const void* scale, const void* shift, void* mean, void* var,
                     void* running_mean, void* running_var, void* y);
/* dscale/dshift may be NULL when not affine or not wanted. */
int tp_batchnorm_bwd(const int64_t* p, float eps, int x_fmt, const void* x, int dy_fmt,
                     const void* dy, const void* scale, const void* mean, const void* var,
                     void* dx, void* dscale, void* dshift);

/* ---- random numbers: Philox-4x32-10, stateless --------------------------------------------------
 * Element i of a draw addressed by (seed, stream, counter) comes from the Philox block with
 * key (seed low 32 bits, seed high 32 bits) and counter words
 * (i / 4, counter low 32 bits, counter high 32 bits, stream), word i % 4.
 * uniform: u = (word >> 8) * 2^-24 in [0, 1), y = lo + (hi - lo) * u in float.
 * normal: Box-Muller in double on the word pairs (0,1) and (2,3) of each block:
 *   r = sqrt(-2 ln(1 - u0)), y0 = mean + std * r cos(2 pi u1), y1 = mean + std * r sin(2 pi u1).
 * bernoulli: 1 if uniform < p else 0. bits: the raw u32 words. */
int tp_rand_uniform(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter,
                    float lo, float hi);
int tp_rand_normal(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter,
                   float mean, float std);
int tp_rand_bernoulli(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter,
                      float p);
int tp_rand_bits(void* y, int64_t n, uint64_t seed, uint32_t stream, uint64_t counter);

/* ---- fused optimizer updates (dense f32, n elements; mask is NULL or 0/1 f32) ---------------
 * Where mask is 0 the weight and its state are set to exactly 0. Hyperparameters are doubles
 * (like Python floats): factors such as 1 - beta2 are formed in double, then rounded. */
/* PyTorch SGD: d = g + wd*w; buf = first_step ? d : momentum*buf + (1-dampening)*d;
 * d = nesterov ? d + momentum*buf : buf (when momentum != 0); w -= lr*d. buf may be NULL when
 * momentum == 0. */
int tp_sgd_update(int64_t n, void* w, const void* g, void* buf, const void* mask, double lr,
                  double momentum, double dampening, double weight_decay, int nesterov,
                  int first_step);
/* PyTorch Adam (decoupled = 0: L2 added to the gradient) or AdamW (decoupled = 1);
 * step counts from 1. */
int tp_adam_update(int64_t n, void* w, const void* g, void* m, void* v, const void* mask,
                   double lr, double beta1, double beta2, double eps, double weight_decay,
                   int64_t step, int decoupled);

/* ---- fused attack steps (dense f32 [batch, dim]) ----------------------------------------------
 * Linf: x = clamp(clamp(x + alpha*sign(g), x0 - eps, x0 + eps), 0, 1).
 * L2:   x' = x + alpha*g/max(||g||, 1e-12) per example; delta = x' - x0 scaled to norm <= eps;
 *       x = clamp(x0 + delta, 0, 1). */
int tp_attack_step_linf(int64_t batch, int64_t dim, void* x, const void* x0, const void* g,
                        float alpha, float eps);
int tp_attack_step_l2(int64_t batch, int64_t dim, void* x, const void* x0, const void* g,
                      float alpha, float eps);
/* Projects x onto {x0 + d : ||d|| <= eps} intersected with [0,1]^dim (norm: 0 = Linf, 2 = L2). */
int tp_attack_project(int norm, int64_t batch, int64_t dim, void* x, const void* x0, float eps);

/* ---- top-k masks ------------------------------------------------------------------------------
 * Over the concatenation of `count` dense f32 tensors (scores[i] has sizes[i] elements), keeps
 * exactly `keep` entries with the largest |score| (use_abs != 0) or score, ties broken by the
 * lower index in the concatenation; masks[i] gets 1.0f for kept entries, 0.0f otherwise.
 * Selection by radix select on the float bits, not a sort. NaN scores are rejected. */
int tp_topk_mask(int count, const void* const* scores, const int64_t* sizes, int64_t keep,
                 int use_abs, void* const* masks);

/* ---- sparse inference (CSR weights) -----------------------------------------------------------
 * A CSR matrix [rows, cols] is three buffers: row_ptr (i32, rows + 1 entries, row_ptr[0] = 0,
 * non-decreasing, row_ptr[rows] = nnz), col_idx (i32, nnz entries in [0, cols); tp_csr_from_dense
 * writes them increasing within a row, and repeated columns would be summed) and values (f32,
 * nnz entries). nnz < 2^31. The CPU backend checks row_ptr and the column bounds on every call
 * (O(rows) + a vectorised O(nnz) min/max); the CUDA backend trusts tp_csr_from_dense's output. These entry points are optional: a backend
 * that lacks them still loads, and Backend.supportsOp reports them missing. */
/* Number of non-zero entries of a dense row-major f32 [rows, cols]. */
int tp_csr_count(int64_t rows, int64_t cols, const void* dense, int64_t* nnz);
/* Fills a CSR matrix from a dense row-major f32 [rows, cols] holding exactly nnz non-zeros. */
int tp_csr_from_dense(int64_t rows, int64_t cols, const void* dense, int64_t nnz, void* row_ptr,
                      void* col_idx, void* values);
/* Linear layer with CSR weights W [out, in]: y[b, o] = sum_i x[b, i] W[o, i] + bias[o]
 * (bias may be NULL); x dense [batch, in], y dense [batch, out]. */
int tp_csr_linear(int64_t batch, int64_t in, int64_t out, int64_t nnz, const void* x,
                  const void* row_ptr, const void* col_idx, const void* values, const void* bias,
                  void* y);
/* Direct sparse convolution (forward, plain NCHW): p as for tp_conv2d_*, weights as CSR
 * [K, C*R*S] (column c*R*S + r*S + s), bias [K] when p[15] (has_bias) is 1; y [N, K, P, Q]. */
int tp_sparse_conv2d_fwd(const int64_t* p, int64_t nnz, const void* x, const void* row_ptr,
                         const void* col_idx, const void* values, const void* b, void* y);

/* ---- 2:4 structured sparsity (optional) -------------------------------------------------------
 * A 2:4 matrix [rows, cols] (cols a multiple of 4; at most 2 non-zeros in every group of 4
 * consecutive entries of a row) in compressed form: values f32 [rows, cols / 2] (each group's
 * kept entries in column order, zero-padded) and meta u8 [rows, cols / 4] (bits 0-1 and 2-3: the
 * columns within the group of the two values). */
/* Compresses a dense row-major f32 [rows, cols]; a group with more than 2 non-zeros is an error
 * naming it. */
int tp_nm24_from_dense(int64_t rows, int64_t cols, const void* dense, void* values, void* meta);
/* Linear layer with 2:4 weights W [out, in]: y[b, o] = sum_i x[b, i] W[o, i] + bias[o] (bias may
 * be NULL); x dense [batch, in], y dense [batch, out]. */
int tp_nm24_linear(int64_t batch, int64_t in, int64_t out, const void* x, const void* values,
                   const void* meta, const void* bias, void* y);

/* ---- synchronisation (optional) ---------------------------------------------------------------
 * Waits until every call made so far has finished on the device and reports an asynchronous
 * error of one of them (CUDA: the stream; the CPU's calls finish before they return). For
 * profiling: a caller timing each call synchronises after it. */
int tp_synchronize(void);

/* ---- convolution algorithms (optional) --------------------------------------------------------
 * Keeps the convolution algorithms this process chooses in a text file (NULL or "": in memory
 * only): the file's entries for this library version and device are used first, and each new
 * choice is appended, so a later process (a resumed run) runs the same algorithms. CUDA: cuDNN
 * algorithms, which with TOPIARY_CUDA_BENCHMARK=1 are chosen by timing, so two processes
 * without a shared file can choose differently; the CPU's oneDNN choice depends only on the
 * machine and the shapes, so there it does nothing. */
int tp_conv_algorithms_file(const char* path);

#ifdef __cplusplus
}
#endif
#endif /* TOPIARY_H */
