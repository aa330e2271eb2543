// Warp-level GEMM with ldmatrix and mma.sync m16n8k16 (inline PTX), for f16 and bf16
// inputs with f32 accumulation. C[M][N] = A[M][K] * B[K][N], A row-major, B stored
// transposed as Bt[N][K] (so both operands are K-contiguous, as ldmatrix without .trans
// wants). One warp per 16x8 output tile per block iteration; tiles staged in shared memory.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

template <bool kBf16>
__device__ void mma_16816(float* d, const uint32_t* a, const uint32_t* b) {
  if constexpr (kBf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// Each block has 4 warps and computes a 32x16 tile of C (2x2 warp tiles of 16x8).
template <typename T, bool kBf16>
__device__ void gemm_body(const T* A, const T* Bt, float* C, int M, int N, int K) {
  __shared__ __align__(16) uint16_t As[32][16 + 8];  // padded rows: 48 bytes
  __shared__ __align__(16) uint16_t Bs[16][16 + 8];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int wm = warp / 2, wn = warp % 2;
  int row0 = blockIdx.y * 32, col0 = blockIdx.x * 16;
  float acc[4] = {0, 0, 0, 0};
  const uint16_t* a16 = reinterpret_cast<const uint16_t*>(A);
  const uint16_t* b16 = reinterpret_cast<const uint16_t*>(Bt);
  for (int k0 = 0; k0 < K; k0 += 16) {
    for (int i = threadIdx.x; i < 32 * 16; i += blockDim.x)
      As[i / 16][i % 16] = a16[(row0 + i / 16) * K + k0 + i % 16];
    for (int i = threadIdx.x; i < 16 * 16; i += blockDim.x)
      Bs[i / 16][i % 16] = b16[(col0 + i / 16) * K + k0 + i % 16];
    __syncthreads();
    uint32_t a[4], b[2];
    // A: x4 — matrices (rows 0-7,k 0-7), (rows 8-15,k 0-7), (rows 0-7,k 8-15), (rows 8-15,k 8-15)
    unsigned a_addr = static_cast<unsigned>(
        __cvta_generic_to_shared(&As[wm * 16 + (lane % 16)][(lane / 16) * 8]));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(a_addr));
    // B: x2 — matrices (n 0-7, k 0-7), (n 0-7, k 8-15); lanes 0-15 give the row addresses.
    unsigned b_addr = static_cast<unsigned>(
        __cvta_generic_to_shared(&Bs[wn * 8 + (lane % 8)][((lane / 8) % 2) * 8]));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(b[0]), "=r"(b[1])
                 : "r"(b_addr));
    mma_16816<kBf16>(acc, a, b);
    __syncthreads();
  }
  int g = lane / 4, t = lane % 4;
  int r = row0 + wm * 16 + g, c = col0 + wn * 8 + t * 2;
  C[r * N + c] = acc[0];
  C[r * N + c + 1] = acc[1];
  C[(r + 8) * N + c] = acc[2];
  C[(r + 8) * N + c + 1] = acc[3];
}

extern "C" __global__ void gemm_f16(const __half* A, const __half* Bt, float* C, int M, int N,
                                    int K) {
  gemm_body<__half, false>(A, Bt, C, M, N, K);
}
extern "C" __global__ void gemm_bf16(const __nv_bfloat16* A, const __nv_bfloat16* Bt, float* C,
                                     int M, int N, int K) {
  gemm_body<__nv_bfloat16, true>(A, Bt, C, M, N, K);
}
