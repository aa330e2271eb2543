// Double-buffered copy through shared memory with cp.async (16-byte copies): while tile k
// is consumed, tile k+1 is in flight. Each thread scales its element by 2 on the way out.
#include <cstdint>

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// blockDim.x threads; each tile is blockDim.x * 4 floats (one 16-byte chunk per thread).
extern "C" __global__ void pipelined_copy(const float* in, float* out, int tiles) {
  extern __shared__ float4 stage[];  // 2 * blockDim.x float4
  int t = threadIdx.x;
  const float4* src = reinterpret_cast<const float4*>(in) + blockIdx.x * tiles * blockDim.x;
  float4* dst = reinterpret_cast<float4*>(out) + blockIdx.x * tiles * blockDim.x;
  cp_async16(&stage[t], &src[t]);
  cp_async_commit();
  for (int k = 0; k < tiles; ++k) {
    int cur = k & 1;
    if (k + 1 < tiles) {
      cp_async16(&stage[(cur ^ 1) * blockDim.x + t], &src[(k + 1) * blockDim.x + t]);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    float4 v = stage[cur * blockDim.x + t];
    dst[k * blockDim.x + t] = make_float4(2 * v.x, 2 * v.y, 2 * v.z, 2 * v.w);
    __syncthreads();
  }
}

// Reads the destination before waiting: the simulator must report it.
extern "C" __global__ void early_read(const float* in, float* out) {
  __shared__ float4 stage[32];
  int t = threadIdx.x;
  cp_async16(&stage[t], &reinterpret_cast<const float4*>(in)[t]);
  cp_async_commit();
  float4 v = stage[t];  // BUG: no cp.async.wait_group before the read
  cp_async_wait<0>();
  reinterpret_cast<float4*>(out)[t] = v;
}
