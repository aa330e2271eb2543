// TMA through a __grid_constant__ CUtensorMap (sm_90a): thread 0 initialises an mbarrier,
// expects the box's bytes and issues a 2D tile load of a 16x16 f32 box at (c0, c1); every
// thread waits on phase 0 and writes twice the box, dense and unswizzled, to out.
#include <cuda.h>

extern "C" __global__ void tma_tile(const __grid_constant__ CUtensorMap map, float* out, int c0,
                                    int c1) {
  __shared__ alignas(128) float box[16 * 16];
  __shared__ alignas(8) unsigned long long bar;
  unsigned b = static_cast<unsigned>(__cvta_generic_to_shared(&bar));
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(box));
  if (threadIdx.x == 0)
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(b));
  __syncthreads();
  if (threadIdx.x == 0) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(b),
                 "r"(int(sizeof box)));
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::"
                 "bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(s),
                 "l"(&map), "r"(c0), "r"(c1), "r"(b)
                 : "memory");
  }
  asm volatile("{\n .reg .pred p;\n WAIT_%=:\n"
               " mbarrier.try_wait.parity.shared::cta.b64 p, [%0], 0;\n"
               " @!p bra WAIT_%=;\n}" ::"r"(b)
               : "memory");
  for (int i = threadIdx.x; i < 16 * 16; i += blockDim.x)
    out[i] = box[i] * 2.0f;
}
