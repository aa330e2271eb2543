// A warp-specialized Hopper GEMM tile, the pattern sm_90a matmuls use: warpgroup 1 produces
// (one elected lane issues TMA loads of 64 x 64 bf16 A and B tiles, 128B-swizzled, into a
// 2-stage ring guarded by "full"/"empty" mbarriers), warpgroup 0 consumes (4 wgmma k16 steps
// per tile from 128B-swizzle descriptors, start advanced 32 bytes per step), with setmaxnreg
// moving registers between them. Epilogue: D as f32 straight from the accumulator fragment,
// and as bf16 through stmatrix.x4 into shared memory, then copied out after a named barrier
// over the consumer warpgroup.
//   D(64 x 64) = A(64 x K) * B(64 x K)^T, A and B row-major (K-major), K = 64 * k_tiles.
// `release_early` makes the consumers arrive on "empty" right after issuing the wgmmas, before
// wgmma.wait_group: the race the simulator must report.
// Compile: nvcc -ptx -O3 -lineinfo -arch=sm_90a wgmma_pipeline.cu -o ../ptx/wgmma_pipeline.sm_90a.ptx
#include <cuda.h>
#include <cuda_bf16.h>

namespace {

constexpr int kStages = 2;
constexpr int kTileBytes = 64 * 64 * 2; // one 64 x 64 bf16 tile

__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void wait_parity(unsigned bar, unsigned parity) {
  asm volatile("{\n .reg .pred p;\n WAIT_%=:\n"
               " mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
               " @!p bra WAIT_%=;\n}" ::"r"(bar),
               "r"(parity)
               : "memory");
}

__device__ __forceinline__ void tma_load(unsigned dst, const CUtensorMap* map, int c0, int c1,
                                         unsigned bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
               " [%0], [%1, {%2, %3}], [%4];" ::"r"(dst),
               "l"(map), "r"(c0), "r"(c1), "r"(bar)
               : "memory");
}

// K-major, 128B swizzle: rows of 128 bytes, 8-row groups 1024 bytes apart (SBO), LBO unused.
__device__ __forceinline__ unsigned long long sw128_desc(unsigned addr) {
  return (unsigned long long)((addr >> 4) & 0x3fff) | (1ull << 16) | (64ull << 32) | (1ull << 62);
}

__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<unsigned*>(&v);
}

} // namespace

extern "C" __global__ void __launch_bounds__(256)
    wgmma_tma_pipeline(const __grid_constant__ CUtensorMap map_a,
                       const __grid_constant__ CUtensorMap map_b, float* D, __nv_bfloat16* D16,
                       int k_tiles, int release_early) {
  extern __shared__ __align__(1024) unsigned char smem[];
  unsigned char* stage_a = smem;                          // kStages tiles
  unsigned char* stage_b = smem + kStages * kTileBytes;   // kStages tiles
  unsigned char* out = smem + 2 * kStages * kTileBytes;   // 64 x 64 bf16
  unsigned long long* bars = reinterpret_cast<unsigned long long*>(out + kTileBytes);
  const unsigned full = smem_addr(bars), empty = smem_addr(bars + kStages);
  const int tid = threadIdx.x, warpgroup = tid / 128;
  if (tid == 0)
    for (int s = 0; s < kStages; ++s) {
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(full + 8 * s));
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 128;" ::"r"(empty + 8 * s));
    }
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  __syncthreads();

  if (warpgroup == 1) { // producer
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
    unsigned leader = 0;
    if (tid / 32 == 4)
      asm volatile("{\n .reg .pred p;\n elect.sync _|p, 0xffffffff;\n selp.u32 %0, 1, 0, p;\n}"
                   : "=r"(leader));
    if (leader) {
      for (int kt = 0; kt < k_tiles; ++kt) {
        const int s = kt % kStages;
        wait_parity(empty + 8 * s, ((kt / kStages) & 1) ^ 1);
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(full + 8 * s),
                     "r"(2 * kTileBytes));
        tma_load(smem_addr(stage_a + s * kTileBytes), &map_a, kt * 64, 0, full + 8 * s);
        tma_load(smem_addr(stage_b + s * kTileBytes), &map_b, kt * 64, 0, full + 8 * s);
      }
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
  float d[32];
  for (int i = 0; i < 32; ++i)
    d[i] = 0.0f;
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int s = kt % kStages;
    wait_parity(full + 8 * s, (kt / kStages) & 1);
    const unsigned a = smem_addr(stage_a + s * kTileBytes), b = smem_addr(stage_b + s * kTileBytes);
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    for (int k = 0; k < 4; ++k) {
      unsigned long long da = sw128_desc(a + 32 * k), db = sw128_desc(b + 32 * k);
      asm volatile(
          "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
          "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
          "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
          "%32, %33, 1, 1, 1, 0, 0;"
          : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
            "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),
            "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),
            "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
            "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
            "+f"(d[31])
          : "l"(da), "l"(db)
          : "memory");
    }
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    if (release_early)
      asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(empty + 8 * s) : "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    if (!release_early)
      asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(empty + 8 * s) : "memory");
  }

  // D fragment: register i of lane (g, t) of warp w is row 16 w + g + 8 ((i >> 1) & 1),
  // column 8 (i >> 2) + 2 t + (i & 1).
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  for (int i = 0; i < 32; ++i)
    D[(16 * warp + g + 8 * ((i >> 1) & 1)) * 64 + 8 * (i >> 2) + 2 * t + (i & 1)] = d[i];

  // bf16 through stmatrix.x4: for column blocks j and j + 1, matrices {rows 0-7 of j, rows 8-15
  // of j, rows 0-7 of j + 1, rows 8-15 of j + 1}; lane l gives row l % 8 of matrix l / 8.
  for (int j = 0; j < 8; j += 2) {
    const int q = lane / 8, r = lane % 8;
    const int row = 16 * warp + 8 * (q & 1) + r, col = 8 * (j + (q >> 1));
    const unsigned addr = smem_addr(out + (row * 64 + col) * 2);
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};" ::"r"(addr),
                 "r"(pack_bf16(d[4 * j], d[4 * j + 1])), "r"(pack_bf16(d[4 * j + 2], d[4 * j + 3])),
                 "r"(pack_bf16(d[4 * j + 4], d[4 * j + 5])),
                 "r"(pack_bf16(d[4 * j + 6], d[4 * j + 7]))
                 : "memory");
  }
  asm volatile("bar.sync 1, 128;" ::: "memory");
  const unsigned* src = reinterpret_cast<const unsigned*>(out);
  unsigned* dst = reinterpret_cast<unsigned*>(D16);
  for (int i = tid; i < 64 * 64 / 2; i += 128)
    dst[i] = src[i];
}
