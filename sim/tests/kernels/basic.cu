// Validation kernels for the PTX simulator: vector add, a block reduction with
// __shfl_down_sync, a histogram with shared and global atomics, and a kernel with
// divergent branches and loops. Compiled to PTX by nvcc at build time; the tests run
// the PTX in the simulator and compare with CPU references.
#include <cstdint>

extern "C" __global__ void vector_add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

// One partial sum per block: warp shuffles, then shared memory across warps.
extern "C" __global__ void block_reduce(const float* in, float* out, int n) {
  __shared__ float partial[32];
  float sum = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    sum += in[i];
  for (int offset = 16; offset > 0; offset /= 2)
    sum += __shfl_down_sync(0xffffffffu, sum, offset);
  int lane = threadIdx.x % 32;
  int warp = threadIdx.x / 32;
  if (lane == 0) partial[warp] = sum;
  __syncthreads();
  if (warp == 0) {
    int nwarps = blockDim.x / 32;
    sum = lane < nwarps ? partial[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset /= 2)
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) out[blockIdx.x] = sum;
  }
}

// 256-bin histogram of bytes: shared-memory atomics per block, then global atomics.
extern "C" __global__ void histogram(const uint8_t* data, int n, unsigned int* bins) {
  __shared__ unsigned int local[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) local[i] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    atomicAdd(&local[data[i]], 1u);
  __syncthreads();
  for (int i = threadIdx.x; i < 256; i += blockDim.x)
    if (local[i] != 0) atomicAdd(&bins[i], local[i]);
}

// Divergent control flow: a data-dependent loop trip count, nested branches, an early
// return, and a warp vote after reconvergence.
extern "C" __global__ void divergent(const int* in, int* out, int* votes, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int x = in[i];
  int acc = 0;
  if (x % 3 == 0) {
    for (int k = 0; k < (x & 15); ++k) acc += k * x;
  } else if (x % 3 == 1) {
    int k = x;
    while (k > 1) {  // Collatz steps, bounded
      k = (k & 1) ? 3 * k + 1 : k / 2;
      ++acc;
      if (acc > 50) break;
    }
  } else {
    acc = -x;
    if (x & 4) acc *= 2;
  }
  out[i] = acc;
  unsigned ballot = __ballot_sync(__activemask(), acc > 10);
  if ((threadIdx.x & 31) == 0) votes[i / 32] = __popc(ballot);
}
