"""Times Triton compiling a fused-attention forward (the algorithm of its tutorial 06, written here:
Q tile resident, K/V blocks streamed with an online softmax in exp2, one program per (query block,
batch * head)) for GPUTarget("cuda", 80, 32) (or 90: sm_90a, wgmma), without a GPU, cold: each compile in a fresh
TRITON_CACHE_DIR, to a cubin. f16, head_dim 64, BLOCK_M 64, BLOCK_N 32, 4 warps, 3 stages (a config
of the tutorial's autotuning set for sm_80 at head_dim 64), non-causal, pointers 16-byte aligned and
integers divisible by 16. "first" includes Triton's process-wide initialisation after the imports.

usage: python triton_attention_compile.py [RUNS] [ARCH=80|90]   (a Python with triton; run.sh passes TRITON_PYTHON)
"""
import os
import statistics
import sys
import tempfile
import time

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget


@triton.jit
def attention_forward(out_ptr, q_ptr, k_ptr, v_ptr, lse_ptr, s_b, s_s, s_h, heads, seqlen, scale_log2,
                      HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, HEAD_DIM)
    base = b.to(tl.int64) * s_b + h.to(tl.int64) * s_h
    q = tl.load(q_ptr + base + rows[:, None] * s_s + dims[None, :], mask=rows[:, None] < seqlen, other=0.0)
    m = tl.full((BLOCK_M,), -float("inf"), tl.float32)
    l = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), tl.float32)
    for n0 in range(0, seqlen, BLOCK_N):
        cols = n0 + tl.arange(0, BLOCK_N)
        k_in = cols < seqlen
        kt = tl.load(k_ptr + base + cols[None, :] * s_s + dims[:, None], mask=k_in[None, :], other=0.0)
        s = tl.dot(q, kt) * scale_log2
        s = tl.where(k_in[None, :], s, -float("inf"))
        m_new = tl.maximum(m, tl.max(s, 1))
        p = tl.math.exp2(s - m_new[:, None])
        alpha = tl.math.exp2(m - m_new)
        l = l * alpha + tl.sum(p, 1)
        vt = tl.load(v_ptr + base + cols[:, None] * s_s + dims[None, :], mask=k_in[:, None], other=0.0)
        acc = tl.dot(p.to(vt.dtype), vt, acc * alpha[:, None])
        m = m_new
    tl.store(out_ptr + base + rows[:, None] * s_s + dims[None, :], (acc / l[:, None]).to(out_ptr.dtype.element_ty),
             mask=rows[:, None] < seqlen)
    tl.store(lse_ptr + bh * seqlen + rows, (m + tl.math.log2(l)) * 0.6931471805599453, mask=rows < seqlen)


SIGNATURE = {"out_ptr": "*fp16", "q_ptr": "*fp16", "k_ptr": "*fp16", "v_ptr": "*fp16", "lse_ptr": "*fp32",
             "s_b": "i32", "s_s": "i32", "s_h": "i32", "heads": "i32", "seqlen": "i32", "scale_log2": "fp32",
             "HEAD_DIM": "constexpr", "BLOCK_M": "constexpr", "BLOCK_N": "constexpr"}


def compile_once(target):
    names = list(SIGNATURE)
    attrs = {(i,): [["tt.divisibility", 16]] for i, n in enumerate(names)
             if SIGNATURE[n].startswith("*") or SIGNATURE[n] == "i32"}
    src = triton.compiler.ASTSource(attention_forward, SIGNATURE,
                                    {"HEAD_DIM": 64, "BLOCK_M": 64, "BLOCK_N": 32}, attrs)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRITON_CACHE_DIR"] = cache
        t0 = time.perf_counter()
        compiled = triton.compile(src, target=target, options={"num_warps": 4, "num_stages": 3})
        return (time.perf_counter() - t0) * 1e3, compiled


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    arch = int(sys.argv[2]) if len(sys.argv) > 2 else 80  # 90: sm_90a, where Triton uses wgmma
    target = GPUTarget("cuda", arch, 32)
    first, compiled = compile_once(target)
    times = [compile_once(target)[0] for _ in range(runs)]
    assert compiled.asm.get("cubin"), "no cubin"
    name = "sm_90a" if arch == 90 else f"sm_{arch}"
    print(f"TRITON {triton.__version__} attention_forward {name} first {first:.1f} min {min(times):.1f} "
          f"median {statistics.median(times):.1f} ms ({runs} runs), regs {getattr(compiled, 'n_regs', '?')}")


if __name__ == "__main__":
    main()
