#!/usr/bin/env python3
"""Writes wgmma.cu (validation kernels for the simulator's wgmma) and wgmma_kernels.h (their
table for tests/wgmma_test.cpp). Each kernel is one warpgroup computing D(64 x N) = A(64 x K) B(K x N)
(+ C) with ksteps wgmma.mma_async instructions: it copies A and B from global memory into shared
memory in the canonical layout the config names (placed per swizzle atom / core matrix, written
from the PTX ISA's "Asynchronous Warpgroup Level Matrix Shared Memory Layout"), builds the
descriptors, or loads A's register fragments, runs wgmma and stores D row-major.
Regenerate: python3 gen_wgmma.py && nvcc -ptx -O3 -lineinfo -arch=sm_90a wgmma.cu -o ../ptx/wgmma.sm_90a.ptx
"""
import os

# name, dtype, atype, btype, N, ksteps, a_layout, b_layout, a_mn_major, b_mn_major, a_regs,
# scale_a, scale_b, use_c. Layouts are descriptor swizzle codes: 0 none, 1 128B, 2 64B, 3 32B.
CONFIGS = [
    ("f16_sw128_n64", "f32", "f16", "f16", 64, 4, 1, 1, 0, 0, 0, 1, 1, 1),
    ("bf16_sw64_n128", "f32", "bf16", "bf16", 128, 2, 2, 2, 0, 0, 0, 1, 1, 0),
    ("f16_sw32_n32", "f32", "f16", "f16", 32, 2, 3, 3, 0, 0, 0, 1, 1, 1),
    ("bf16_none_n16", "f32", "bf16", "bf16", 16, 2, 0, 0, 0, 0, 0, 1, 1, 0),
    ("bf16_sw128_n256", "f32", "bf16", "bf16", 256, 4, 1, 1, 0, 0, 0, 1, 1, 0),
    ("f16acc_regs_sw128_n64", "f16", "f16", "f16", 64, 4, 1, 1, 0, 0, 1, 1, 1, 1),
    ("bf16_mn_sw128_none_n64", "f32", "bf16", "bf16", 64, 2, 1, 0, 1, 1, 0, 1, 1, 0),
    ("f16_mn_sw64_sw32_n32", "f32", "f16", "f16", 32, 1, 2, 3, 1, 1, 0, 1, -1, 1),
    ("f16_regs_mnb_none_n8", "f32", "f16", "f16", 8, 2, 1, 0, 0, 1, 1, -1, 1, 0),
    ("tf32_sw128_n24", "f32", "tf32", "tf32", 24, 4, 1, 1, 0, 0, 0, 1, 1, 1),
    ("tf32_regs_none_n8", "f32", "tf32", "tf32", 8, 2, 0, 0, 0, 0, 1, 1, 1, 0),
    ("e4m3_e5m2_sw128_n40", "f32", "e4m3", "e5m2", 40, 4, 1, 1, 0, 0, 0, -1, 1, 1),
    ("e5m2_f16acc_sw64_n16", "f16", "e5m2", "e5m2", 16, 2, 2, 2, 0, 0, 0, 1, 1, 0),
    ("e4m3_regs_sw32_n64", "f32", "e4m3", "e4m3", 64, 2, 3, 3, 0, 0, 1, 1, 1, 0),
    ("s8_u8_sw64_n48", "s32", "s8", "u8", 48, 2, 2, 2, 0, 0, 0, 1, 1, 1),
    ("u8_s8_regs_none_n24", "s32", "u8", "s8", 24, 2, 0, 0, 0, 0, 1, 1, 1, 0),
    ("s8_sw128_n256", "s32", "s8", "s8", 256, 4, 1, 1, 0, 0, 0, 1, 1, 0),
    ("bf16_2wg_sw128_n64", "f32", "bf16", "bf16", 64, 4, 1, 1, 0, 0, 0, 1, 1, 1),
    ("f16_2wg_mn_sw128_n32", "f32", "f16", "f16", 32, 2, 1, 2, 1, 0, 0, 1, 1, 0),
    ("e4m3_2wg_regs_none_n16", "f32", "e4m3", "e4m3", 16, 2, 0, 0, 0, 0, 1, 1, 1, 0),
]

# Kernels run by two warpgroups (M = 128): warpgroup w computes rows 64 w.. from A's descriptor
# advanced by 64 rows (or its own A fragments).
WARPGROUPS = {"bf16_2wg_sw128_n64": 2, "f16_2wg_mn_sw128_n32": 2, "e4m3_2wg_regs_none_n16": 2}

ESIZE = {"f16": 2, "bf16": 2, "tf32": 4, "e4m3": 1, "e5m2": 1, "s8": 1, "u8": 1}
WIDTH = {0: 16, 1: 128, 2: 64, 3: 32}


def kernel(c):
    check(c)
    wgs = WARPGROUPS.get(c[0], 1)
    threads = 128 * wgs
    (name, dt, at, bt, n, ksteps, al, bl, amn, bmn, aregs, sa, sb, usec) = c
    es = ESIZE[at]
    k = 32 // es
    ktot = k * ksteps
    f16acc = dt == "f16"
    dregs = n // 4 if f16acc else n // 2
    dcon = "f" if dt == "f32" else "r"
    dty = "float" if dt == "f32" else "unsigned"
    # The A registers are written after the loop's first fence: pin them (the empty asm keeps
    # the compiler from sinking the loads) and fence again before the wgmma that reads them.
    a_setup = ("unsigned a[4];\n    load_a_fragment<ES>(a, A, KT, tid / 32, lane / 4, lane % 4, k0);\n"
               "    for (int i = 0; i < 4; ++i)\n      fence_operand(a[i]);\n"
               '    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");' if aregs else
               "unsigned long long adesc = make_desc(sa, %d, %d, M, KT, ES, k0, 64 * wg);" % (al, amn))
    # With A in registers the compiler may reuse step s's A registers for step s + 1, which the
    # ISA forbids while step s is in flight: complete each step (and fence) before the next.
    wait_prev = ('if (s > 0)\n      asm volatile("wgmma.commit_group.sync.aligned;\\n wgmma.wait_group.sync.aligned 0;" ::: "memory");'
                 if aregs else "")
    ops = []
    dlist = ", ".join("%%%d" % i for i in range(dregs))
    idx = dregs
    if aregs:
        alist = "{%%%d, %%%d, %%%d, %%%d}" % (idx, idx + 1, idx + 2, idx + 3)
        idx += 4
    else:
        alist = "%%%d" % idx
        idx += 1
    bdesc = "%%%d" % idx
    idx += 1
    pred = "%%%d" % idx
    idx += 1
    tail = ""
    integer = at in ("s8", "u8")
    if not integer:
        tail += ", %d, %d" % (sa, sb)
        if es == 2:
            tail += (", %d" % bmn) if aregs else (", %d, %d" % (amn, bmn))
    sat = ""
    mnem = "wgmma.mma_async.sync.aligned.m64n%dk%d.%s.%s.%s" % (n, k, dt, at, bt)
    asm = ('"{\\n .reg .pred p;\\n setp.ne.b32 p, %s, 0;\\n %s {%s}, %s, %s, p%s;\\n}\\n"'
           % (pred, mnem, dlist, alist, bdesc, tail))
    outs = ", ".join('"+%s"(d[%d])' % (dcon, i) for i in range(dregs))
    ins = []
    if aregs:
        ins += ['"r"(a[%d])' % i for i in range(4)]
    else:
        ins.append('"l"(adesc)')
    ins += ['"l"(bdesc)', '"r"(scale_d)']
    return f"""
extern "C" __global__ void __launch_bounds__({threads}) wgmma_{name}(const unsigned char* A, const unsigned char* B, const {dty}* C, {dty}* D) {{
  constexpr int M = {64 * wgs}, N = {n}, KT = {ktot}, K = {k}, ES = {es};
  extern __shared__ __align__(1024) unsigned char smem[];
  unsigned char* sa = smem;
  unsigned char* sb = smem + round_up(M * KT * ES, 1024);
  const int tid = threadIdx.x, wg = tid / 128, warp = tid / 32 % 4, lane = tid % 32;
  for (int i = tid; i < ({int(not aregs)} ? M * KT : 0); i += {threads}) {{
    int m = i / KT, kk = i % KT;
    copy_element<ES>(sa + tile_offset({al}, {amn}, M, KT, ES, m, kk), A + (size_t(m) * KT + kk) * ES);
  }}
  for (int i = tid; i < N * KT; i += {threads}) {{
    int kk = i / N, nn = i % N;
    copy_element<ES>(sb + tile_offset({bl}, {bmn}, N, KT, ES, nn, kk), B + (size_t(kk) * N + nn) * ES);
  }}
  __syncthreads();
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  {dty} d[{dregs}];
  for (int i = 0; i < {dregs}; ++i) {{
    int row, col;
    acc_position({int(f16acc)}, i, 0, lane, row, col);
    d[i] = {usec} ? C[(64 * wg + 16 * warp + row) * ({"N / 2" if f16acc else "N"}) + col] : poison_acc<{dty}>();
  }}
  for (int i = 0; i < {dregs}; ++i)
    fence_operand(d[i]); // materialise the accumulators before the fence (the ISA's rule)
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
  for (int s = 0; s < {ksteps}; ++s) {{
    {wait_prev}
    const int k0 = s * K;
    unsigned scale_d = s > 0 || {usec};
    unsigned long long bdesc = make_desc(sb, {bl}, {bmn}, N, KT, ES, k0, 0);
    {a_setup}
    asm volatile({asm} : {outs} : {", ".join(ins)} : "memory");
  }}
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
  asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
  for (int i = 0; i < {dregs}; ++i) {{
    int row, col;
    acc_position({int(f16acc)}, i, 0, lane, row, col);
    D[(64 * wg + 16 * warp + row) * ({"N / 2" if f16acc else "N"}) + col] = d[i];
  }}
}}
"""


PRELUDE = r"""// Generated by gen_wgmma.py: validation kernels for the simulator's wgmma (tests/wgmma_test.cpp).
// One warpgroup (128 threads) computes D(64 x N) = A(64 x K) B(K x N) (+ C) with wgmma.mma_async;
// A is row-major 64 x K, B row-major K x N, C and D row-major 64 x N (f16 accumulators: D holds
// packed f16 pairs, element (r, c) at half index r * N + c of the buffer). Element bytes are
// copied raw, so every element type travels as bytes.

__device__ __forceinline__ int round_up(int v, int m) { return (v + m - 1) / m * m; }

template <int ES> __device__ __forceinline__ void copy_element(unsigned char* dst, const unsigned char* src) {
  for (int i = 0; i < ES; ++i)
    dst[i] = src[i];
}

// Byte offset of element (mn, k) of an MN x KT operand tile in the canonical layout: a grid of
// swizzle atoms (8 rows x W bytes, rows along MN for K-major, along K for MN-major) or, without
// swizzle, of 8 x 16-byte core matrices; atoms are stacked along MN first (K-major) or K first
// (MN-major). The swizzle XORs the 16-byte chunk index with the row within the 8-row atom
// (1024-aligned tiles, so this equals the address-bit form).
__device__ __forceinline__ unsigned tile_offset(int layout, int mn_major, int MN, int KT, int ES, int mn, int k) {
  const int W = layout == 0 ? 16 : layout == 1 ? 128 : layout == 2 ? 64 : 32;
  unsigned off;
  if (!mn_major) {
    int kb = k * ES, KB = KT * ES;
    if (layout == 0)
      return (mn / 8) * (KB / 16) * 128 + (kb / 16) * 128 + (mn % 8) * 16 + kb % 16;
    off = ((kb / W) * (MN / 8) + mn / 8) * 8 * W + (mn % 8) * W + kb % W;
  } else {
    int mb = mn * ES, MB = MN * ES;
    if (layout == 0)
      return (k / 8) * (MB / 16) * 128 + (mb / 16) * 128 + (k % 8) * 16 + mb % 16;
    off = ((mb / W) * (KT / 8) + k / 8) * 8 * W + (k % 8) * W + mb % W;
  }
  // Swizzle<log2(W/16), 4, 3>: the 16-byte chunk index inside each 128-byte line of the atom is
  // XORed with the line's index inside the atom (0..7 for 128 B, 0..3 for 64 B, 0..1 for 32 B).
  const int chunks = W / 16;
  unsigned within = off % (8 * W);
  unsigned atom = off - within;
  unsigned r128 = within / 128;          // 128-byte line inside the atom
  unsigned c16 = (within / 16) % 8;      // 16-byte chunk inside that line
  unsigned swz = c16 ^ (r128 & (chunks - 1));
  return atom + r128 * 128 + swz * 16 + within % 16;
}

// The descriptor of the operand's rows row0.. (a multiple of 64) and K steps k0..: the tile's
// start plus the unswizzled offsets of (0, k0) and (row0, 0), both at swizzle-atom boundaries.
__device__ __forceinline__ unsigned long long make_desc(const unsigned char* tile, int layout, int mn_major, int MN, int KT, int ES, int k0, int row0) {
  const int W = layout == 0 ? 16 : layout == 1 ? 128 : layout == 2 ? 64 : 32;
  unsigned base = static_cast<unsigned>(__cvta_generic_to_shared(tile));
  unsigned start, lbo, sbo;
  if (!mn_major) {
    int kb = k0 * ES, KB = KT * ES;
    if (layout == 0) {
      start = (kb / 16) * 128;
      lbo = 128;
      sbo = (KB / 16) * 128;
    } else {
      start = (kb / W) * (MN / 8) * 8 * W + kb % W;
      lbo = 16;
      sbo = 8 * W;
    }
  } else {
    int MB = MN * ES;
    if (layout == 0) {
      start = (k0 / 8) * (MB / 16) * 128;
      sbo = 128;
      lbo = (MB / 16) * 128;
    } else {
      start = (k0 / 8) * 8 * W;
      lbo = (KT / 8) * 8 * W;
      sbo = 8 * W;
    }
  }
  start += base + tile_offset(layout, mn_major, MN, KT, ES, row0, 0);
  return (unsigned long long)((start >> 4) & 0x3fff) | ((unsigned long long)((lbo >> 4) & 0x3fff) << 16) |
         ((unsigned long long)((sbo >> 4) & 0x3fff) << 32) | ((unsigned long long)layout << 62);
}

// A's register fragment (PTX ISA, wgmma .m64nNk* register fragment of A): register i of
// lane (g, t) of warp w holds row 16 w + g + 8 (i & 1), elements e (4/ES per register) at
// k = k0 + (4/ES) t + e + 4 (4/ES) (i >> 1).
template <int ES> __device__ __forceinline__ void load_a_fragment(unsigned* a, const unsigned char* A, int KT, int warp, int g, int t, int k0) {
  constexpr int E = 4 / ES;
  for (int i = 0; i < 4; ++i) {
    unsigned v = 0;
    int row = 16 * warp + g + 8 * (i & 1);
    for (int e = 0; e < E; ++e) {
      int k = k0 + E * t + e + 4 * E * (i >> 1);
      unsigned bits = 0;
      for (int b = 0; b < ES; ++b)
        bits |= unsigned(A[(size_t(row) * KT + k) * ES + b]) << (8 * b);
      v |= bits << (8 * ES * e);
    }
    a[i] = v;
  }
}

// Accumulator fragment (PTX ISA, wgmma .m64nNk* D): f32/s32 register i of lane (g, t) holds
// row g + 8 ((i >> 1) & 1), column 8 (i >> 2) + 2 t + (i & 1) of the warp's 16 rows; an f16x2
// register j holds row g + 8 (j & 1), columns 8 (j >> 1) + 2 t and + 1 (the pair: `col` is
// the pair's first column, in units of the pair's index for storing).
__device__ __forceinline__ void acc_position(int f16, int i, int, int lane, int& row, int& col) {
  int g = lane / 4, t = lane % 4;
  if (f16) {
    row = g + 8 * (i & 1);
    col = (8 * (i >> 1) + 2 * t) / 2;  // pair index: the row has N/2 pairs
  } else {
    row = g + 8 * ((i >> 1) & 1);
    col = 8 * (i >> 2) + 2 * t + (i & 1);
  }
}

// An empty asm that "reads and writes" a register: the compiler must produce its value before
// this point and cannot move the producing instruction past a later wgmma.fence.
__device__ __forceinline__ void fence_operand(float& v) { asm volatile("" : "+f"(v)::"memory"); }
__device__ __forceinline__ void fence_operand(unsigned& v) { asm volatile("" : "+r"(v)::"memory"); }

template <typename T> __device__ __forceinline__ T poison_acc();
template <> __device__ __forceinline__ float poison_acc<float>() { return __int_as_float(0x7fc00001); }
template <> __device__ __forceinline__ unsigned poison_acc<unsigned>() { return 0x7e017e01u; }
"""


def check(c):
    (name, dt, at, bt, n, ksteps, al, bl, amn, bmn, aregs, sa, sb, usec) = c
    es = ESIZE[at]
    kbytes = 32 * ksteps
    operands = [(bl, bmn, n)] + ([] if aregs else [(al, amn, 64)])
    for layout, mn_major, mn in operands:
        extent = mn * es if mn_major else kbytes
        assert layout == 0 or extent >= WIDTH[layout], (name, "tile narrower than its swizzle")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "wgmma.cu"), "w") as f:
        f.write(PRELUDE)
        for c in CONFIGS:
            f.write(kernel(c))
    with open(os.path.join(here, "..", "wgmma_kernels.h"), "w") as f:
        f.write("// Generated by kernels/gen_wgmma.py (do not edit): the wgmma validation kernels of kernels/wgmma.cu.\n")
        f.write("#pragma once\n\nnamespace tessel::sim::testing {\n\n")
        f.write("struct WgmmaKernel {\n  const char* name;\n  const char *dtype, *atype, *btype;\n"
                "  int m, n, k, a_regs, scale_a, scale_b, use_c;\n};\n\n")
        f.write("inline constexpr WgmmaKernel kWgmmaKernels[] = {\n")
        for c in CONFIGS:
            (name, dt, at, bt, n, ksteps, al, bl, amn, bmn, aregs, sa, sb, usec) = c
            ktot = (32 // ESIZE[at]) * ksteps
            f.write('    {"wgmma_%s", "%s", "%s", "%s", %d, %d, %d, %d, %d, %d, %d},\n'
                    % (name, dt, at, bt, 64 * WARPGROUPS.get(name, 1), n, ktot, aregs, sa, sb, usec))
        f.write("};\n\n} // namespace tessel::sim::testing\n")


main()
