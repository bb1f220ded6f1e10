/* Our own minimal declarations of the cuBLAS, cuDNN and cuSPARSE functions the CUDA backend
 * calls, and the table of pointers to them that tp_vendor.cu fills with dlopen/dlsym. The
 * build needs no vendor headers; tp_abi_check.cu compares every declaration here with the
 * real headers wherever they are present (TOPIARY_CUDA_INCLUDES).
 *
 * Only types we use are declared. Enums are passed as int (the C ABI of every enum here). */
#ifndef TP_VENDOR_H
#define TP_VENDOR_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

/* ---- cuBLAS (libcublas.so.13) --------------------------------------------------------------- */
typedef struct tp_cublas_context* tp_cublas_handle;
typedef int tp_cublas_status; /* CUBLAS_STATUS_SUCCESS = 0 */
enum { TP_CUBLAS_OP_N = 0, TP_CUBLAS_OP_T = 1 };
enum { TP_CUBLAS_DEFAULT_MATH = 0, TP_CUBLAS_PEDANTIC_MATH = 2, TP_CUBLAS_TF32_TENSOR_OP_MATH = 3 };

#define TP_CUBLAS_FUNCTIONS(X)                                                                   \
  X(cublasCreate_v2, tp_cublas_status, (tp_cublas_handle * handle))                              \
  X(cublasDestroy_v2, tp_cublas_status, (tp_cublas_handle handle))                               \
  X(cublasSetStream_v2, tp_cublas_status, (tp_cublas_handle handle, cudaStream_t stream))        \
  X(cublasSetMathMode, tp_cublas_status, (tp_cublas_handle handle, int mode))                    \
  X(cublasGetVersion_v2, tp_cublas_status, (tp_cublas_handle handle, int* version))              \
  X(cublasSgemm_v2, tp_cublas_status,                                                            \
    (tp_cublas_handle handle, int transa, int transb, int m, int n, int k, const float* alpha,   \
     const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc))

/* ---- cuDNN (libcudnn.so.9), legacy convolution API -------------------------------------------- */
typedef struct tp_cudnn_context* tp_cudnn_handle;
typedef struct tp_cudnn_tensor* tp_cudnn_tensor_desc;
typedef struct tp_cudnn_filter* tp_cudnn_filter_desc;
typedef struct tp_cudnn_conv* tp_cudnn_conv_desc;
typedef int tp_cudnn_status; /* CUDNN_STATUS_SUCCESS = 0 */
/* CUDNN_STATUS_INTERNAL_ERROR_{HOST,DEVICE}_ALLOCATION_FAILED (cuDNN 9). */
enum { TP_CUDNN_STATUS_HOST_ALLOC_FAILED = 4003, TP_CUDNN_STATUS_DEVICE_ALLOC_FAILED = 4004 };
enum { TP_CUDNN_TENSOR_NCHW = 0 };
enum { TP_CUDNN_DATA_FLOAT = 0 };
enum { TP_CUDNN_CROSS_CORRELATION = 1 };
enum { TP_CUDNN_DEFAULT_MATH = 0, TP_CUDNN_FMA_MATH = 3 };
enum { TP_CUDNN_NON_DETERMINISTIC = 0, TP_CUDNN_DETERMINISTIC = 1 };

/* cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout. */
typedef struct {
  int algo;
  tp_cudnn_status status;
  float time;
  size_t memory;
  int determinism;
  int mathType;
  int reserved[3];
} tp_cudnn_algo_perf;

#define TP_CUDNN_FUNCTIONS(X)                                                                     \
  X(cudnnGetVersion, size_t, (void))                                                              \
  X(cudnnGetErrorString, const char*, (tp_cudnn_status status))                                   \
  X(cudnnCreate, tp_cudnn_status, (tp_cudnn_handle * handle))                                     \
  X(cudnnDestroy, tp_cudnn_status, (tp_cudnn_handle handle))                                      \
  X(cudnnSetStream, tp_cudnn_status, (tp_cudnn_handle handle, cudaStream_t stream))               \
  X(cudnnCreateTensorDescriptor, tp_cudnn_status, (tp_cudnn_tensor_desc * desc))                  \
  X(cudnnDestroyTensorDescriptor, tp_cudnn_status, (tp_cudnn_tensor_desc desc))                   \
  X(cudnnSetTensor4dDescriptor, tp_cudnn_status,                                                  \
    (tp_cudnn_tensor_desc desc, int format, int dataType, int n, int c, int h, int w))            \
  X(cudnnCreateFilterDescriptor, tp_cudnn_status, (tp_cudnn_filter_desc * desc))                  \
  X(cudnnDestroyFilterDescriptor, tp_cudnn_status, (tp_cudnn_filter_desc desc))                   \
  X(cudnnSetFilter4dDescriptor, tp_cudnn_status,                                                  \
    (tp_cudnn_filter_desc desc, int dataType, int format, int k, int c, int h, int w))            \
  X(cudnnCreateConvolutionDescriptor, tp_cudnn_status, (tp_cudnn_conv_desc * desc))               \
  X(cudnnDestroyConvolutionDescriptor, tp_cudnn_status, (tp_cudnn_conv_desc desc))                \
  X(cudnnSetConvolution2dDescriptor, tp_cudnn_status,                                             \
    (tp_cudnn_conv_desc desc, int pad_h, int pad_w, int u, int v, int dilation_h, int dilation_w, \
     int mode, int computeType))                                                                  \
  X(cudnnSetConvolutionMathType, tp_cudnn_status, (tp_cudnn_conv_desc desc, int mathType))        \
  X(cudnnGetConvolutionForwardAlgorithm_v7, tp_cudnn_status,                                      \
    (tp_cudnn_handle handle, tp_cudnn_tensor_desc xDesc, tp_cudnn_filter_desc wDesc,              \
     tp_cudnn_conv_desc convDesc, tp_cudnn_tensor_desc yDesc, int requestedAlgoCount,             \
     int* returnedAlgoCount, tp_cudnn_algo_perf* perfResults))                                    \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7, tp_cudnn_status,                                 \
    (tp_cudnn_handle handle, tp_cudnn_filter_desc wDesc, tp_cudnn_tensor_desc dyDesc,             \
     tp_cudnn_conv_desc convDesc, tp_cudnn_tensor_desc dxDesc, int requestedAlgoCount,            \
     int* returnedAlgoCount, tp_cudnn_algo_perf* perfResults))                                    \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7, tp_cudnn_status,                               \
    (tp_cudnn_handle handle, tp_cudnn_tensor_desc xDesc, tp_cudnn_tensor_desc dyDesc,             \
     tp_cudnn_conv_desc convDesc, tp_cudnn_filter_desc dwDesc, int requestedAlgoCount,            \
     int* returnedAlgoCount, tp_cudnn_algo_perf* perfResults))                                    \
  X(cudnnFindConvolutionForwardAlgorithm, tp_cudnn_status,                                        \
    (tp_cudnn_handle handle, tp_cudnn_tensor_desc xDesc, tp_cudnn_filter_desc wDesc,              \
     tp_cudnn_conv_desc convDesc, tp_cudnn_tensor_desc yDesc, int requestedAlgoCount,             \
     int* returnedAlgoCount, tp_cudnn_algo_perf* perfResults))                                    \
  X(cudnnFindConvolutionBackwardDataAlgorithm, tp_cudnn_status,                                   \
    (tp_cudnn_handle handle, tp_cudnn_filter_desc wDesc, tp_cudnn_tensor_desc dyDesc,             \
     tp_cudnn_conv_desc convDesc, tp_cudnn_tensor_desc dxDesc, int requestedAlgoCount,            \
     int* returnedAlgoCount, tp_cudnn_algo_perf* perfResults))                                    \
  X(cudnnFindConvolutionBackwardFilterAlgorithm, tp_cudnn_status,                                 \
    (tp_cudnn_handle handle, tp_cudnn_tensor_desc xDesc, tp_cudnn_tensor_desc dyDesc,             \
     tp_cudnn_conv_desc convDesc, tp_cudnn_filter_desc dwDesc, int requestedAlgoCount,            \
     int* returnedAlgoCount, tp_cudnn_algo_perf* perfResults))                                    \
  X(cudnnGetConvolutionForwardWorkspaceSize, tp_cudnn_status,                                     \
    (tp_cudnn_handle handle, tp_cudnn_tensor_desc xDesc, tp_cudnn_filter_desc wDesc,              \
     tp_cudnn_conv_desc convDesc, tp_cudnn_tensor_desc yDesc, int algo, size_t* sizeInBytes))     \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize, tp_cudnn_status,                                \
    (tp_cudnn_handle handle, tp_cudnn_filter_desc wDesc, tp_cudnn_tensor_desc dyDesc,             \
     tp_cudnn_conv_desc convDesc, tp_cudnn_tensor_desc dxDesc, int algo, size_t* sizeInBytes))    \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize, tp_cudnn_status,                              \
    (tp_cudnn_handle handle, tp_cudnn_tensor_desc xDesc, tp_cudnn_tensor_desc dyDesc,             \
     tp_cudnn_conv_desc convDesc, tp_cudnn_filter_desc gradDesc, int algo, size_t* sizeInBytes))  \
  X(cudnnConvolutionForward, tp_cudnn_status,                                                     \
    (tp_cudnn_handle handle, const void* alpha, tp_cudnn_tensor_desc xDesc, const void* x,        \
     tp_cudnn_filter_desc wDesc, const void* w, tp_cudnn_conv_desc convDesc, int algo,            \
     void* workSpace, size_t workSpaceSizeInBytes, const void* beta, tp_cudnn_tensor_desc yDesc,  \
     void* y))                                                                                    \
  X(cudnnConvolutionBackwardData, tp_cudnn_status,                                                \
    (tp_cudnn_handle handle, const void* alpha, tp_cudnn_filter_desc wDesc, const void* w,        \
     tp_cudnn_tensor_desc dyDesc, const void* dy, tp_cudnn_conv_desc convDesc, int algo,          \
     void* workSpace, size_t workSpaceSizeInBytes, const void* beta, tp_cudnn_tensor_desc dxDesc, \
     void* dx))                                                                                   \
  X(cudnnConvolutionBackwardFilter, tp_cudnn_status,                                              \
    (tp_cudnn_handle handle, const void* alpha, tp_cudnn_tensor_desc xDesc, const void* x,        \
     tp_cudnn_tensor_desc dyDesc, const void* dy, tp_cudnn_conv_desc convDesc, int algo,          \
     void* workSpace, size_t workSpaceSizeInBytes, const void* beta, tp_cudnn_filter_desc dwDesc, \
     void* dw))

/* ---- cuSPARSE (libcusparse.so.12) --------------------------------------------------------------- */
typedef struct tp_cusparse_context* tp_cusparse_handle;
typedef int tp_cusparse_status; /* CUSPARSE_STATUS_SUCCESS = 0 */
/* Generic-API descriptors; the vendor's const variants are the same pointers. */
typedef struct tp_cusparse_spmat* tp_cusparse_spmat_desc;
typedef struct tp_cusparse_dnmat* tp_cusparse_dnmat_desc;
enum {
  TP_CUSPARSE_STATUS_ALLOC_FAILED = 2,
  TP_CUSPARSE_STATUS_NOT_SUPPORTED = 10,
  TP_CUSPARSE_STATUS_INSUFFICIENT_RESOURCES = 11
};
enum { TP_CUSPARSE_OPERATION_NON_TRANSPOSE = 0 };
enum { TP_CUSPARSE_INDEX_32I = 2 };
enum { TP_CUSPARSE_INDEX_BASE_ZERO = 0 };
enum { TP_CUSPARSE_ORDER_COL = 1 };
enum { TP_CUSPARSE_SPMM_CSR_ALG1 = 4, TP_CUSPARSE_SPMM_CSR_ALG3 = 12 };
enum { TP_CUDA_R_32F = 0 }; /* cudaDataType (library_types.h) */

#define TP_CUSPARSE_FUNCTIONS(X)                                                                 \
  X(cusparseCreate, tp_cusparse_status, (tp_cusparse_handle * handle))                           \
  X(cusparseDestroy, tp_cusparse_status, (tp_cusparse_handle handle))                            \
  X(cusparseSetStream, tp_cusparse_status, (tp_cusparse_handle handle, cudaStream_t stream))     \
  X(cusparseGetVersion, tp_cusparse_status, (tp_cusparse_handle handle, int* version))           \
  X(cusparseCreateCsr, tp_cusparse_status,                                                       \
    (tp_cusparse_spmat_desc * spMatDescr, int64_t rows, int64_t cols, int64_t nnz,               \
     void* csrRowOffsets, void* csrColInd, void* csrValues, int csrRowOffsetsType,               \
     int csrColIndType, int idxBase, int valueType))                                             \
  X(cusparseDestroySpMat, tp_cusparse_status, (tp_cusparse_spmat_desc spMatDescr))               \
  X(cusparseCreateDnMat, tp_cusparse_status,                                                     \
    (tp_cusparse_dnmat_desc * dnMatDescr, int64_t rows, int64_t cols, int64_t ld, void* values,  \
     int valueType, int order))                                                                  \
  X(cusparseDestroyDnMat, tp_cusparse_status, (tp_cusparse_dnmat_desc dnMatDescr))               \
  X(cusparseSpMM_bufferSize, tp_cusparse_status,                                                 \
    (tp_cusparse_handle handle, int opA, int opB, const void* alpha,                             \
     tp_cusparse_spmat_desc matA, tp_cusparse_dnmat_desc matB, const void* beta,                 \
     tp_cusparse_dnmat_desc matC, int computeType, int alg, size_t* bufferSize))                 \
  X(cusparseSpMM, tp_cusparse_status,                                                            \
    (tp_cusparse_handle handle, int opA, int opB, const void* alpha,                             \
     tp_cusparse_spmat_desc matA, tp_cusparse_dnmat_desc matB, const void* beta,                 \
     tp_cusparse_dnmat_desc matC, int computeType, int alg, void* externalBuffer))

/* ---- the table ----------------------------------------------------------------------------------- */
#define TP_VENDOR_POINTER(name, ret, args) ret(*name) args;
typedef struct {
  TP_CUBLAS_FUNCTIONS(TP_VENDOR_POINTER)
  TP_CUDNN_FUNCTIONS(TP_VENDOR_POINTER)
  TP_CUSPARSE_FUNCTIONS(TP_VENDOR_POINTER)
  tp_cublas_handle cublas;
  tp_cudnn_handle cudnn;
  tp_cusparse_handle cusparse;
  int cublas_version, cusparse_version;
  size_t cudnn_version;
} tp_vendor_table;
#undef TP_VENDOR_POINTER

/* The loaded libraries and their handles (bound to tp__stream()); valid after a successful
 * tp__ensure_init(). */
extern tp_vendor_table tp__vendor;

/* Opens the three libraries (TOPIARY_CUDA_LIBDIRS first, then the loader path), resolves
 * every symbol and creates the handles. A missing library or symbol gives
 * TP_ERR_LIBRARY_MISSING naming it and the folders searched. Called by tp__ensure_init. */
int tp__vendor_load(cudaStream_t stream);

/* Messages for vendor statuses ("cuDNN: CUDNN_STATUS_BAD_PARAM" style). */
int tp__cublas_status(tp_cublas_status s, const char* op);
int tp__cudnn_status(tp_cudnn_status s, const char* op);

#endif
