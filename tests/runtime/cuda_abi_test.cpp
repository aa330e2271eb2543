// The CUDA driver ABI that runtime/cuda_api.h declares by hand, checked against the toolkit's
// <cuda.h> (built only where the toolkit is installed; the checks are at compile time).
#include "runtime/cuda_api.h"

#include <cuda.h>
#include <gtest/gtest.h>

#include <cstddef>

namespace c = tessel::runtime::cuda;

static_assert(sizeof(c::CUdeviceptr) == sizeof(CUdeviceptr));
static_assert(sizeof(c::LaunchAttribute) == sizeof(CUlaunchAttribute));
static_assert(offsetof(c::LaunchAttribute, value) == offsetof(CUlaunchAttribute, value));
static_assert(sizeof(c::LaunchConfig) == sizeof(CUlaunchConfig));
static_assert(offsetof(c::LaunchConfig, shared_bytes) == offsetof(CUlaunchConfig, sharedMemBytes));
static_assert(offsetof(c::LaunchConfig, stream) == offsetof(CUlaunchConfig, hStream));
static_assert(offsetof(c::LaunchConfig, attrs) == offsetof(CUlaunchConfig, attrs));
static_assert(offsetof(c::LaunchConfig, num_attrs) == offsetof(CUlaunchConfig, numAttrs));
static_assert(int(c::kMaxThreadsPerBlock) == int(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK));
static_assert(int(c::kMaxGridDimZ) == int(CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z));
static_assert(int(c::kMaxSharedMemoryPerBlock) ==
              int(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK));
static_assert(int(c::kMultiprocessorCount) == int(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
static_assert(int(c::kComputeCapabilityMajor) == int(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR));
static_assert(int(c::kComputeCapabilityMinor) == int(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
static_assert(int(c::kMaxSharedMemoryPerMultiprocessor) ==
              int(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR));
static_assert(int(c::kMaxSharedMemoryPerBlockOptin) ==
              int(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN));
static_assert(int(c::kMaxRegistersPerBlock) == int(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK));
static_assert(int(c::kFuncNumRegs) == int(CU_FUNC_ATTRIBUTE_NUM_REGS));
static_assert(int(c::kFuncSharedSizeBytes) == int(CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES));
static_assert(int(c::kFuncMaxDynamicSharedSizeBytes) ==
              int(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES));
static_assert(c::kPointerAttributeMemoryType == CU_POINTER_ATTRIBUTE_MEMORY_TYPE);
static_assert(c::kMemoryTypeDevice == CU_MEMORYTYPE_DEVICE);
static_assert(c::kMemoryTypeUnified == CU_MEMORYTYPE_UNIFIED);
static_assert(c::kStreamNonBlocking == CU_STREAM_NON_BLOCKING);
static_assert(c::kLaunchAttributeClusterDimension == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION);
static_assert(c::CUDA_ERROR_NO_DEVICE == CUDA_ERROR_NO_DEVICE);

TEST(CudaAbi, MatchesTheToolkitHeader) { SUCCEED() << "checked at compile time"; }
