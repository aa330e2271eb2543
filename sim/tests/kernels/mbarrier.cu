// Warp-specialised producer/consumer through two cuda::barrier objects (mbarriers in shared
// memory): warp 0 writes ring slot s of `rounds` rounds, the other warps consume and sum;
// out[t] for consumer thread t = sum over rounds r of in[r * 32 + lane].
#include <cuda/barrier>

using barrier = cuda::barrier<cuda::thread_scope_block>;

extern "C" __global__ void ring(const int* in, int* out, int rounds) {
  __shared__ int slot[32];
  // cuda::barrier has a trivial default constructor in device code; nvcc warns that
  // shared variables are not dynamically initialised, which init() below does.
  __shared__ barrier full, empty;
  int t = threadIdx.x, lane = t & 31;
  int consumers = blockDim.x - 32;
  if (t == 0) {
    init(&full, blockDim.x);  // producer warp + consumers arrive
    init(&empty, blockDim.x);
  }
  __syncthreads();
  int sum = 0;
  for (int r = 0; r < rounds; ++r) {
    if (t < 32)
      slot[lane] = in[r * 32 + lane];
    full.arrive_and_wait();
    if (t >= 32)
      sum += slot[lane];
    empty.arrive_and_wait();
  }
  if (t >= 32)
    out[t - 32] = sum;
  (void)consumers;
}
