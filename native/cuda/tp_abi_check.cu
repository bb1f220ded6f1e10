/* Compile-time check of tp_vendor.h against the real vendor headers.
 *
 * Built (compile only, nothing linked) by native/build.ts when TOPIARY_CUDA_INCLUDES names
 * folders holding cublas_v2.h, cudnn.h and cusparse.h. For every function we declare it
 * compares the real prototype with ours: same number of parameters, and each parameter and
 * the result of the same size, pointer-ness and float-ness (our opaque handle and enum types
 * stand in for the vendor's). Enum constants and the algorithm-perf struct layout are
 * compared by value. A mismatch is a compile error naming the function. */
#include <cublas_v2.h>
#include <cudnn.h>
#include <cusparse.h>

#include <cstddef>
#include <type_traits>

#include "tp_vendor.h"

namespace {

template <typename A, typename B>
constexpr bool same_kind() {
  return sizeof(A) == sizeof(B) && std::is_pointer<A>::value == std::is_pointer<B>::value &&
         std::is_floating_point<A>::value == std::is_floating_point<B>::value;
}

template <typename R1, typename... A1, typename R2, typename... A2>
constexpr bool compatible(R1 (*)(A1...), R2 (*)(A2...)) {
  if constexpr (sizeof...(A1) != sizeof...(A2)) {
    return false;
  } else {
    return same_kind<R1, R2>() && (true && ... && same_kind<A1, A2>());
  }
}

#define TP_CHECK_DECL(name, ret, args)                                              \
  static_assert(compatible(&::name, static_cast<ret(*) args>(nullptr)),             \
                "tp_vendor.h: the declaration of " #name " differs from the vendor header");
TP_CUBLAS_FUNCTIONS(TP_CHECK_DECL)
TP_CUDNN_FUNCTIONS(TP_CHECK_DECL)
TP_CUSPARSE_FUNCTIONS(TP_CHECK_DECL)
#undef TP_CHECK_DECL

#define TP_CHECK_VALUE(ours, theirs) \
  static_assert((int)(ours) == (int)(theirs), "tp_vendor.h: " #ours " != " #theirs);
TP_CHECK_VALUE(TP_CUBLAS_OP_N, CUBLAS_OP_N)
TP_CHECK_VALUE(TP_CUBLAS_OP_T, CUBLAS_OP_T)
TP_CHECK_VALUE(TP_CUBLAS_DEFAULT_MATH, CUBLAS_DEFAULT_MATH)
TP_CHECK_VALUE(TP_CUBLAS_PEDANTIC_MATH, CUBLAS_PEDANTIC_MATH)
TP_CHECK_VALUE(TP_CUBLAS_TF32_TENSOR_OP_MATH, CUBLAS_TF32_TENSOR_OP_MATH)
TP_CHECK_VALUE(TP_CUDNN_TENSOR_NCHW, CUDNN_TENSOR_NCHW)
TP_CHECK_VALUE(TP_CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT)
TP_CHECK_VALUE(TP_CUDNN_CROSS_CORRELATION, CUDNN_CROSS_CORRELATION)
TP_CHECK_VALUE(TP_CUDNN_DEFAULT_MATH, CUDNN_DEFAULT_MATH)
TP_CHECK_VALUE(TP_CUDNN_FMA_MATH, CUDNN_FMA_MATH)
TP_CHECK_VALUE(TP_CUDNN_NON_DETERMINISTIC, CUDNN_NON_DETERMINISTIC)
TP_CHECK_VALUE(TP_CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC)
TP_CHECK_VALUE(TP_CUDNN_STATUS_HOST_ALLOC_FAILED, CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED)
TP_CHECK_VALUE(TP_CUDNN_STATUS_DEVICE_ALLOC_FAILED,
               CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
TP_CHECK_VALUE(TP_CUSPARSE_STATUS_ALLOC_FAILED, CUSPARSE_STATUS_ALLOC_FAILED)
TP_CHECK_VALUE(TP_CUSPARSE_STATUS_NOT_SUPPORTED, CUSPARSE_STATUS_NOT_SUPPORTED)
TP_CHECK_VALUE(TP_CUSPARSE_STATUS_INSUFFICIENT_RESOURCES, CUSPARSE_STATUS_INSUFFICIENT_RESOURCES)
TP_CHECK_VALUE(TP_CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE)
TP_CHECK_VALUE(TP_CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I)
TP_CHECK_VALUE(TP_CUSPARSE_INDEX_BASE_ZERO, CUSPARSE_INDEX_BASE_ZERO)
TP_CHECK_VALUE(TP_CUSPARSE_ORDER_COL, CUSPARSE_ORDER_COL)
TP_CHECK_VALUE(TP_CUSPARSE_SPMM_CSR_ALG1, CUSPARSE_SPMM_CSR_ALG1)
TP_CHECK_VALUE(TP_CUSPARSE_SPMM_CSR_ALG3, CUSPARSE_SPMM_CSR_ALG3)
TP_CHECK_VALUE(TP_CUDA_R_32F, CUDA_R_32F)
#undef TP_CHECK_VALUE

#define TP_CHECK_PERF(T)                                                                     \
  static_assert(sizeof(tp_cudnn_algo_perf) == sizeof(T), "tp_cudnn_algo_perf size vs " #T); \
  static_assert(offsetof(tp_cudnn_algo_perf, algo) == offsetof(T, algo), #T ".algo");       \
  static_assert(offsetof(tp_cudnn_algo_perf, status) == offsetof(T, status), #T ".status"); \
  static_assert(offsetof(tp_cudnn_algo_perf, memory) == offsetof(T, memory), #T ".memory"); \
  static_assert(offsetof(tp_cudnn_algo_perf, determinism) == offsetof(T, determinism),      \
                #T ".determinism");                                                          \
  static_assert(offsetof(tp_cudnn_algo_perf, mathType) == offsetof(T, mathType), #T ".mathType");
TP_CHECK_PERF(cudnnConvolutionFwdAlgoPerf_t)
TP_CHECK_PERF(cudnnConvolutionBwdDataAlgoPerf_t)
TP_CHECK_PERF(cudnnConvolutionBwdFilterAlgoPerf_t)
#undef TP_CHECK_PERF

}  // namespace
