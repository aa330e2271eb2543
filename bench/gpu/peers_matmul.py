#!/usr/bin/env python3
"""GEMM peers for bench/gpu/run.sh: torch.matmul (cuBLAS) and a Triton matmul written the way
Triton's matmul tutorial describes it (grouped program ordering, fp32 accumulator, masks), timed
with CUDA events (triton.testing.do_bench, median) on fresh random inputs. Prints one line per
(peer, dtype, M, N, K): `peer dtype M N K median_ms tflops rel_err`. Runs only on the GPU machine;
nothing in tessel depends on torch or triton."""
import sys

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the table then only has cuBLAS
    triton = None

SHAPES = [(4096, 4096, 4096), (8192, 8192, 8192)]
# A 7B model's projections (Llama-2-7B: hidden 4096, MLP 11008): N, K of qkv/o, gate/up, down.
LLM_NK = [(4096, 4096), (11008, 4096), (4096, 11008)]
for m in (16, 128, 4096):
    SHAPES += [(m, n, k) for n, k in LLM_NK]

if triton is not None:

    @triton.jit
    def grouped_matmul(a, b, c, M, N, K, sam, sak, sbk, sbn, scm, scn,
                       BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, GM: tl.constexpr):
        pid = tl.program_id(0)
        tiles_m = tl.cdiv(M, BM)
        tiles_n = tl.cdiv(N, BN)
        per_group = GM * tiles_n
        first_m = (pid // per_group) * GM
        rows_in_group = min(tiles_m - first_m, GM)
        tm = first_m + (pid % per_group) % rows_in_group
        tn = (pid % per_group) // rows_in_group
        rm = tm * BM + tl.arange(0, BM)
        rn = tn * BN + tl.arange(0, BN)
        rk = tl.arange(0, BK)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k0 in range(0, K, BK):
            ka = k0 + rk
            ta = tl.load(a + rm[:, None] * sam + ka[None, :] * sak,
                         mask=(rm[:, None] < M) & (ka[None, :] < K), other=0.0)
            tb = tl.load(b + ka[:, None] * sbk + rn[None, :] * sbn,
                         mask=(ka[:, None] < K) & (rn[None, :] < N), other=0.0)
            acc = tl.dot(ta, tb, acc)
        tl.store(c + rm[:, None] * scm + rn[None, :] * scn, acc.to(c.dtype.element_ty),
                 mask=(rm[:, None] < M) & (rn[None, :] < N))

    def triton_matmul(a, b, c):
        M, K = a.shape
        N = b.shape[1]
        bm = 64 if M <= 64 else 128
        grid = (triton.cdiv(M, bm) * triton.cdiv(N, 128),)
        grouped_matmul[grid](a, b, c, M, N, K, a.stride(0), a.stride(1), b.stride(0),
                             b.stride(1), c.stride(0), c.stride(1),
                             BM=bm, BN=128, BK=64, GM=8, num_warps=4 if bm == 64 else 8,
                             num_stages=3 if bm == 64 else 4)


def rel_err(out, a, b):
    ref = a.double() @ b.double()
    return ((out.double() - ref).norm() / ref.norm()).item()


def main():
    if not torch.cuda.is_available():
        print("peers_matmul.py: no CUDA GPU visible to torch", file=sys.stderr)
        return 1
    torch.manual_seed(0)
    peers = [("cublas", lambda a, b, c: torch.matmul(a, b, out=c))]
    if triton is not None:
        peers.append(("triton", triton_matmul))
    for dtype in (torch.bfloat16, torch.float16):
        for m, n, k in SHAPES:
            a = torch.randn(m, k, device="cuda", dtype=dtype)
            b = torch.randn(k, n, device="cuda", dtype=dtype)
            for name, fn in peers:
                c = torch.full((m, n), float("nan"), device="cuda", dtype=dtype)
                fn(a, b, c)
                torch.cuda.synchronize()
                err = rel_err(c, a, b) if m * n * k <= 4096 ** 3 else float("nan")
                ms = triton.testing.do_bench(lambda: fn(a, b, c), warmup=25, rep=100,
                                             return_mode="median") if triton else float("nan")
                tflops = 2.0 * m * n * k / (ms * 1e-3) / 1e12
                print(f"{name} {str(dtype)[6:]} {m} {n} {k} {ms:.4f} {tflops:.1f} {err:.2e}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
