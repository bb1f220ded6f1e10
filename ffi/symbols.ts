/**
 * The Deno FFI symbol table of `native/include/topiary.h`: one entry per `tp_` function.
 *
 * Conventions: native buffers are `"pointer"` (pointer objects fetched once per buffer);
 * int64 parameter arrays and host memory are `"buffer"` (typed arrays); every function
 * returns an `i32` status except `tp_last_error` and `tp_abi_version`. Compute calls are
 * synchronous. Entry points added after the first ABI are `optional`: a library without them
 * still loads, the symbol is null and `Backend.supportsOp` says so.
 * @module
 */

const P = "pointer" as const;
const B = "buffer" as const;
const I32 = "i32" as const;
const I64 = "i64" as const;
const U64 = "u64" as const;
const U32 = "u32" as const;
const F32 = "f32" as const;
const F64 = "f64" as const;

/** Every native entry point with its parameter and result types. */
export const SYMBOLS = {
  tp_abi_version: { parameters: [], result: I32 },
  tp_last_error: { parameters: [], result: P },
  tp_backend_info: { parameters: [B, I64], result: I32 },
  tp_set_num_threads: { parameters: [I32], result: I32 },
  tp_get_num_threads: { parameters: [B], result: I32 },
  tp_set_flush_denormal: { parameters: [I32], result: I32 },

  tp_alloc: { parameters: [U64, B], result: I32 },
  tp_free: { parameters: [P], result: I32 },
  tp_copy_from_host: { parameters: [P, U64, B, U64], result: I32 },
  tp_copy_to_host: { parameters: [P, U64, B, U64], result: I32 },
  tp_copy: { parameters: [P, U64, P, U64, U64], result: I32 },
  tp_fill: { parameters: [I32, P, I64, I64, F64], result: I32 },
  tp_memory_stats: { parameters: [B], result: I32 },
  tp_set_cache_limit: { parameters: [U64], result: I32 },
  tp_cache_clear: { parameters: [], result: I32 },

  tp_format_info: { parameters: [I32, B, I64], result: I32 },
  tp_reorder: { parameters: [I32, B, I32, P, I32, P], result: I32 },

  tp_unary: { parameters: [I32, I32, B, P, B, I64, P, F32, F32], result: I32 },
  tp_binary: { parameters: [I32, I32, B, P, B, I64, P, B, I64, P], result: I32 },
  tp_where: { parameters: [I32, B, P, B, I64, P, B, I64, P, B, I64, P], result: I32 },
  tp_copy_strided: { parameters: [I32, I32, B, P, B, I64, P], result: I32 },
  tp_assign: { parameters: [I32, I32, B, P, B, I64, P, B, I64], result: I32 },
  tp_cast: { parameters: [I32, P, I64, I32, P, I64], result: I32 },
  tp_reduce: { parameters: [I32, I32, B, B, I32, B, B, P, I64, P], result: I32 },

  tp_softmax_xent_fwd: { parameters: [I64, I64, P, P, P], result: I32 },
  tp_softmax_xent_bwd: { parameters: [I64, I64, P, P, P, I64, F32, P], result: I32 },
  tp_log_softmax_fwd: { parameters: [I64, I64, P, P], result: I32 },
  tp_log_softmax_bwd: { parameters: [I64, I64, P, P, P], result: I32 },

  tp_gemm: {
    parameters: [I32, I32, I64, I64, I64, F32, P, I64, I64, P, I64, I64, F32, P, I64, I64],
    result: I32,
  },

  tp_conv2d_query: { parameters: [B, B], result: I32 },
  tp_conv2d_fwd: { parameters: [B, I32, P, P, P, P], result: I32 },
  tp_conv2d_bwd_data: { parameters: [B, I32, P, P, P], result: I32 },
  tp_conv2d_bwd_weights: { parameters: [B, I32, P, I32, P, P, P, F32], result: I32 },

  tp_pool2d_query: { parameters: [B, I32, B], result: I32 },
  tp_pool2d_fwd: { parameters: [B, I32, P, P, P], result: I32 },
  tp_pool2d_bwd: { parameters: [B, I32, I32, P, P, P], result: I32 },

  tp_batchnorm_query: { parameters: [B, F32, I32, B], result: I32 },
  tp_batchnorm_fwd: { parameters: [B, F32, F32, I32, P, P, P, P, P, P, P, P], result: I32 },
  tp_batchnorm_bwd: { parameters: [B, F32, I32, P, I32, P, P, P, P, P, P, P], result: I32 },

  tp_rand_uniform: { parameters: [P, I64, U64, U32, U64, F32, F32], result: I32 },
  tp_rand_normal: { parameters: [P, I64, U64, U32, U64, F32, F32], result: I32 },
  tp_rand_bernoulli: { parameters: [P, I64, U64, U32, U64, F32], result: I32 },
  tp_rand_bits: { parameters: [P, I64, U64, U32, U64], result: I32 },

  tp_sgd_update: { parameters: [I64, P, P, P, P, F64, F64, F64, F64, I32, I32], result: I32 },
  tp_adam_update: {
    parameters: [I64, P, P, P, P, P, F64, F64, F64, F64, F64, I64, I32],
    result: I32,
  },

  tp_attack_step_linf: { parameters: [I64, I64, P, P, P, F32, F32], result: I32 },
  tp_attack_step_l2: { parameters: [I64, I64, P, P, P, F32, F32], result: I32 },
  tp_attack_project: { parameters: [I32, I64, I64, P, P, F32], result: I32 },

  tp_topk_mask: { parameters: [I32, B, B, I64, I32, B], result: I32 },

  // Optional entry points (a library without them still loads; see Backend.supportsOp).
  tp_csr_count: { parameters: [I64, I64, P, B], result: I32, optional: true },
  tp_csr_from_dense: { parameters: [I64, I64, P, I64, P, P, P], result: I32, optional: true },
  tp_csr_linear: {
    parameters: [I64, I64, I64, I64, P, P, P, P, P, P],
    result: I32,
    optional: true,
  },
  tp_sparse_conv2d_fwd: { parameters: [B, I64, P, P, P, P, P, P], result: I32, optional: true },
  tp_nm24_from_dense: { parameters: [I64, I64, P, P, P], result: I32, optional: true },
  tp_nm24_linear: { parameters: [I64, I64, I64, P, P, P, P, P], result: I32, optional: true },
  tp_synchronize: { parameters: [], result: I32, optional: true },
  tp_conv_algorithms_file: { parameters: [B], result: I32, optional: true },
} as const;

/** The loaded library's typed symbols. */
export type NativeSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Names of all native entry points. */
export type SymbolName = keyof typeof SYMBOLS;
