// Warp-level GEMM with 2:4-sparse A on mma.sp (inline PTX): C[M][N] = A[M][K] * B[K][N] for f16
// and bf16 inputs, f32 accumulation. A comes compressed, Ac[M][K/2] (the two kept elements of
// every chunk of 4, in column order), with its metadata Em[M][K/16]: one 16-bit word per 16
// columns of a row, chunk c of the word at bits 4c..4c+3 (low two bits: the position of the
// first kept element in the chunk, high two: the second's). B is stored transposed, Bt[N][K].
// Fragments are read straight from global memory. Each block has 4 warps and computes a 32x16
// tile (2x2 warp tiles of 16x8).
//
// The metadata register (PTX ISA, "Sparse matrix storage"): row g's 16 bits in the low half and
// row g+8's in the high half; m16n8k32 takes it from lanes 2*sel and 2*sel+1 of each quad
// (columns 0..15 and 16..31 of the step), m16n8k16 from lane sel. The other lanes pass 0, an
// invalid pattern, so a simulator reading the wrong lanes fails.
#include <cstdint>

// sm_90 PTX takes the ::ordered_metadata form (ptxas advises it there; the metadata here is
// ordered), sm_80 the plain one, so the tests run both.
#if __CUDA_ARCH__ >= 900
#define MMA_SP "mma.sp::ordered_metadata"
#else
#define MMA_SP "mma.sp"
#endif

template <bool kBf16, int kSel>
__device__ void mma_sp_k32(float* d, const uint32_t* a, const uint32_t* b, uint32_t e) {
  if constexpr (kBf16) {
    asm volatile(MMA_SP ".sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, %13;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]),
                   "r"(b[3]), "r"(e), "n"(kSel));
  } else {
    asm volatile(MMA_SP ".sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, %13;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]),
                   "r"(b[3]), "r"(e), "n"(kSel));
  }
}

template <int kSel>
__device__ void mma_sp_k16(float* d, const uint32_t* a, const uint32_t* b, uint32_t e) {
  asm volatile(MMA_SP ".sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, "
               "{%6,%7}, {%0,%1,%2,%3}, %8, %9;\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(b[0]), "r"(b[1]), "r"(e), "n"(kSel));
}

__device__ uint32_t load2(const uint16_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

// The metadata register of rows r and r+8 for the 16 columns starting at k.
__device__ uint32_t meta(const uint16_t* em, int r, int k, int K) {
  return uint32_t(em[r * (K / 16) + k / 16]) | (uint32_t(em[(r + 8) * (K / 16) + k / 16]) << 16);
}

template <bool kBf16, int kK, int kSel>
__device__ void sparse_gemm(const uint16_t* ac, const uint16_t* em, const uint16_t* bt, float* c,
                            int N, int K) {
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  int row0 = blockIdx.y * 32 + (warp / 2) * 16, col0 = blockIdx.x * 16 + (warp % 2) * 8;
  float acc[4] = {0, 0, 0, 0};
  for (int k0 = 0; k0 < K; k0 += kK) {
    uint32_t a[4], b[4];
    for (int i = 0; i < kK / 8; ++i) {
      int row = row0 + g + 8 * (kK == 32 ? (i & 1) : i);
      int cc = k0 / 2 + 2 * t + 8 * (kK == 32 ? (i >> 1) : 0);
      a[i] = load2(ac + row * (K / 2) + cc);
      b[i] = load2(bt + (col0 + g) * K + k0 + 2 * t + 8 * i);
    }
    uint32_t e = 0;
    if (kK == 32 && t / 2 == kSel)
      e = meta(em, row0 + g, k0 + 16 * (t % 2), K);
    if (kK == 16 && t == kSel)
      e = meta(em, row0 + g, k0, K);
    if constexpr (kK == 32)
      mma_sp_k32<kBf16, kSel>(acc, a, b, e);
    else
      mma_sp_k16<kSel>(acc, a, b, e);
  }
  int r = row0 + g, col = col0 + 2 * t;
  c[r * N + col] = acc[0];
  c[r * N + col + 1] = acc[1];
  c[(r + 8) * N + col] = acc[2];
  c[(r + 8) * N + col + 1] = acc[3];
}

extern "C" __global__ void sparse_gemm_f16_k32(const uint16_t* ac, const uint16_t* em,
                                               const uint16_t* bt, float* c, int N, int K) {
  sparse_gemm<false, 32, 0>(ac, em, bt, c, N, K);
}
extern "C" __global__ void sparse_gemm_f16_k32_sel1(const uint16_t* ac, const uint16_t* em,
                                                    const uint16_t* bt, float* c, int N, int K) {
  sparse_gemm<false, 32, 1>(ac, em, bt, c, N, K);
}
extern "C" __global__ void sparse_gemm_bf16_k32(const uint16_t* ac, const uint16_t* em,
                                                const uint16_t* bt, float* c, int N, int K) {
  sparse_gemm<true, 32, 0>(ac, em, bt, c, N, K);
}
extern "C" __global__ void sparse_gemm_f16_k16(const uint16_t* ac, const uint16_t* em,
                                               const uint16_t* bt, float* c, int N, int K) {
  sparse_gemm<false, 16, 0>(ac, em, bt, c, N, K);
}
extern "C" __global__ void sparse_gemm_f16_k16_sel3(const uint16_t* ac, const uint16_t* em,
                                                    const uint16_t* bt, float* c, int N, int K) {
  sparse_gemm<false, 16, 3>(ac, em, bt, c, N, K);
}
