"""Times Triton compiling the equivalents of tessel's sample kernels for GPUTarget("cuda", 90, 32),
without a GPU, and prints its PTX instruction mix next to tessel's.

Run by triton_compile_time.sh (which makes the throw-away virtual environment); not a dependency
of tessel. The kernels mirror samples/kernels.cpp (= the simple forms of Triton's tutorials 01,
02 and 05): vector_add with BLOCK 1024, softmax and layer_norm one program per row with BLOCK
1024, f32, pointers 16-byte aligned and integers divisible by 16 (Triton's default
specialization, as tessel's default). 4 warps, num_stages 3 (Triton's defaults).

Each compile runs in a fresh cache directory (TRITON_CACHE_DIR), so it is cold; "first" is the
first compile in the process (imports done beforehand, LLVM/MLIR initialised by it), "median"
the median of the following runs.

usage: python triton_compile_time.py RUNS OUT_DIR [ARCH [KERNEL]]  (writes OUT_DIR/<kernel>.triton.ptx;
                                                ARCH 90 by default, KERNEL e.g. matmul_f16)
       python triton_compile_time.py --mix OUT_DIR   (instruction mix of OUT_DIR/<kernel>.{tessel,triton}.ptx;
                                                      needs only the standard library)
"""
import os
import re
import statistics
import sys
import tempfile
import time

if __name__ == "__main__" and sys.argv[1:2] == ["--mix"]:
    triton = None
else:
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget


if triton is not None:
    @triton.jit
    def vector_add(out_ptr, a_ptr, b_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        tl.store(out_ptr + offs, tl.load(a_ptr + offs, mask=mask) + tl.load(b_ptr + offs, mask=mask), mask=mask)


    @triton.jit
    def softmax(out_ptr, in_ptr, stride, n_cols, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(in_ptr + row * stride + cols, mask=mask, other=-float("inf")).to(tl.float32)
        num = tl.exp(x - tl.max(x, axis=0))
        tl.store(out_ptr + row * stride + cols, num / tl.sum(num, axis=0), mask=mask)


    @triton.jit
    def layer_norm(y_ptr, x_ptr, w_ptr, b_ptr, stride, n, eps, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < n
        v = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
        mean = tl.sum(v, axis=0) / n
        centered = tl.where(mask, v - mean, 0.0)
        var = tl.sum(centered * centered, axis=0) / n
        rstd = 1 / tl.sqrt(var + eps)
        scale = tl.load(w_ptr + cols, mask=mask).to(tl.float32)
        shift = tl.load(b_ptr + cols, mask=mask).to(tl.float32)
        tl.store(y_ptr + row * stride + cols, centered * rstd * scale + shift, mask=mask)


    @triton.jit
    def matmul(c_ptr, a_ptr, b_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm,
               stride_cn, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
               GROUP_M: tl.constexpr):
        # Tutorial 03, as samples/matmul.cpp: grouped tile order, masked edges, f32 accumulator.
        pid = tl.program_id(0)
        num_m = tl.cdiv(M, BLOCK_M)
        num_n = tl.cdiv(N, BLOCK_N)
        group = GROUP_M * num_n
        first_m = (pid // group) * GROUP_M
        size_m = min(num_m - first_m, GROUP_M)
        pid_m = first_m + (pid % group) % size_m
        pid_n = (pid % group) // size_m
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        rk = tl.arange(0, BLOCK_K)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k in range(0, K, BLOCK_K):
            ka = k + rk
            a = tl.load(a_ptr + rm[:, None] * stride_am + ka[None, :] * stride_ak,
                        mask=(rm[:, None] < M) & (ka[None, :] < K), other=0.0)
            b = tl.load(b_ptr + ka[:, None] * stride_bk + rn[None, :] * stride_bn,
                        mask=(ka[:, None] < K) & (rn[None, :] < N), other=0.0)
            acc = tl.dot(a, b, acc)
        tl.store(c_ptr + rm[:, None] * stride_cm + rn[None, :] * stride_cn,
                 acc.to(c_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rn[None, :] < N))


    def with_dtype(signature, ptr):
        return {k: (ptr if v == "*fp32" else v) for k, v in signature.items()}


    KERNELS = {
        "vector_add": (vector_add, {"out_ptr": "*fp32", "a_ptr": "*fp32", "b_ptr": "*fp32", "n": "i32",
                                    "BLOCK": "constexpr"}),
        "softmax": (softmax, {"out_ptr": "*fp32", "in_ptr": "*fp32", "stride": "i32", "n_cols": "i32",
                              "BLOCK": "constexpr"}),
        "layer_norm": (layer_norm, {"y_ptr": "*fp32", "x_ptr": "*fp32", "w_ptr": "*fp32", "b_ptr": "*fp32",
                                    "stride": "i32", "n": "i32", "eps": "fp32", "BLOCK": "constexpr"}),
        # stride_ak, stride_bn, stride_cn are 1 (constexpr), as tessel's default specialization.
        "matmul": (matmul, {"c_ptr": "*fp32", "a_ptr": "*fp32", "b_ptr": "*fp32", "M": "i32", "N": "i32",
                            "K": "i32", "stride_am": "i32", "stride_ak": "constexpr", "stride_bk": "i32",
                            "stride_bn": "constexpr", "stride_cm": "i32", "stride_cn": "constexpr",
                            "BLOCK_M": "constexpr", "BLOCK_N": "constexpr", "BLOCK_K": "constexpr",
                            "GROUP_M": "constexpr"}),
    }
    # The same kernels on f16 tensors (f32 arithmetic inside, as written).
    for _name in list(KERNELS):
        _fn, _sig = KERNELS[_name]
        KERNELS[_name + ".f16"] = (_fn, with_dtype(_sig, "*fp16"))


def attrs_for(fn, signature):
    """16-byte alignment / divisibility for pointers and integers (Triton's tt.divisibility=16)."""
    names = list(signature)
    specs = [(i,) for i, n in enumerate(names) if signature[n].startswith("*") or signature[n] == "i32"]
    # M, N, K and the strides: divisible by 16 as tessel's defaults (the M/N/K edges stay masked).
    try:  # Triton >= 3.3: attrs as {(index,): [["tt.divisibility", 16]]}
        return {s: [["tt.divisibility", 16]] for s in specs}
    except Exception:  # pragma: no cover
        return None


if triton is not None:
    # The tensor-core comparison (tessel's bench_compile_gpu row "matmul_f16"): f16 operands,
    # 64 x 64 x 32 tiles, 4 warps, 3 stages, f32 accumulator, f16 output (as tessel's -D DTYPE=f16).
    KERNELS["matmul_f16"] = (KERNELS["matmul"][0], dict(KERNELS["matmul"][1], c_ptr="*fp16",
                                                        a_ptr="*fp16", b_ptr="*fp16"))


def compile_once(name, target):
    fn, signature = KERNELS[name]
    constexprs = {"BLOCK": 1024}
    if name.startswith("matmul"):
        constexprs = {"stride_ak": 1, "stride_bn": 1, "stride_cn": 1, "BLOCK_M": 64, "BLOCK_N": 64,
                      "BLOCK_K": 32 if name == "matmul_f16" else 16, "GROUP_M": 8}
    src = triton.compiler.ASTSource(fn, signature, constexprs, attrs_for(fn, signature))
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRITON_CACHE_DIR"] = cache
        t0 = time.perf_counter()
        compiled = triton.compile(src, target=target, options={"num_warps": 4, "num_stages": 3})
        ms = (time.perf_counter() - t0) * 1e3
    return ms, compiled


MIX = [  # (column, regex over one instruction's opcode)
    ("ld.global.v4", r"^ld\.global(\.[a-z]+)*\.v4\."), ("ld.global.v2", r"^ld\.global(\.[a-z]+)*\.v2\."),
    ("ld.global (scalar)", r"^ld\.global(\.[a-z]+)*\.[bfsu]\d+$"),
    ("st.global.v4", r"^st\.global(\.[a-z]+)*\.v4\."), ("st.global.v2", r"^st\.global(\.[a-z]+)*\.v2\."),
    ("st.global (scalar)", r"^st\.global(\.[a-z]+)*\.[bfsu]\d+$"),
    ("ld.shared", r"^ld\.shared"), ("st.shared", r"^st\.shared"), ("shfl.sync", r"^shfl\.sync"),
    ("bar.sync", r"^bar\.sync|^barrier"), ("ex2.approx", r"^ex2\.approx"), ("rsqrt/sqrt", r"^(rsqrt|sqrt)"),
    ("div", r"^div\.(rn|full|approx)\.f32"), ("fma.f32", r"^fma\.\w+\.f32"), ("branches", r"^bra"),
]


def opcodes(ptx):
    for line in ptx.splitlines():
        line = line.strip()
        if not line or line.startswith(("//", ".", "{", "}", "$")) or line.endswith(":"):
            continue
        line = re.sub(r"^@!?%?\w+\s+", "", line)
        yield line.split()[0].rstrip(";")


def mix(out_dir):
    print("| kernel | compiler | instructions | " + " | ".join(c for c, _ in MIX) + " |")
    print("|---|---|---:|" + "---:|" * len(MIX))
    for name in ("vector_add", "softmax", "layer_norm", "matmul", "vector_add.f16", "softmax.f16",
                 "layer_norm.f16", "matmul.f16"):
        for who in ("tessel", "triton"):
            path = os.path.join(out_dir, f"{name}.{who}.ptx")
            if not os.path.exists(path):
                continue
            ops = list(opcodes(open(path).read()))
            counts = [sum(1 for o in ops if re.search(rx, o)) for _, rx in MIX]
            print(f"| {name} | {who} | {len(ops)} | " + " | ".join(map(str, counts)) + " |")


def main():
    if sys.argv[1:2] == ["--mix"]:
        mix(sys.argv[2])
        return
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "."
    arch = int(sys.argv[3]) if len(sys.argv) > 3 else 90  # 80: the sm_80 matmul comparison
    only = sys.argv[4] if len(sys.argv) > 4 else None
    target = GPUTarget("cuda", arch, 32)
    print(f"triton {triton.__version__}, target {target}, cold compile to cubin, ms "
          f"(first, then median of {runs})")
    for name in KERNELS:
        if (only is None and name == "matmul_f16") or (only is not None and name != only):
            continue
        first, compiled = compile_once(name, target)
        times = [compile_once(name, target)[0] for _ in range(runs)]
        with open(os.path.join(out_dir, f"{name}.triton.ptx"), "w") as f:
            f.write(compiled.asm["ptx"])
        print(f"TRITON {name} first {first:.1f} median {statistics.median(times):.1f} "
              f"min {min(times):.1f} max {max(times):.1f} regs {getattr(compiled, 'n_regs', '?')}")


if __name__ == "__main__":
    main()
