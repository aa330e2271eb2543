"""PyTorch CPU's figures for bench/cpu_ops: each op of bench_cpu_ops at the same shapes and dtypes,
on torch.set_num_threads(2), min and median of several runs after a warm-up, printed in
bench_cpu_ops's tab-separated format (impl torch). PyTorch allocates its outputs (its usual use);
backward ops are timed through the aten backward kernels or autograd.grad on a kept graph, so the
forward is not in the figure.

    python bench/cpu_ops/peers.py [reps] [op...] > torch.tsv   # any Python with torch and numpy

BENCH_SHAPES=ROWSxCOLS[,...] runs those shapes instead. BENCH_CLOCK=cpu times the process's CPU
time instead of the wall clock and BENCH_THREADS=N sets
the thread count (default 2), as bench_cpu_ops and bench_cpu_ops_halide do: for same-run ratios on
a loaded machine, with BENCH_THREADS=1 (idle OpenMP workers spin, which CPU time would count).
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = [(4096, 4096), (8192, 1024), (32768, 128)]
# BENCH_SHAPES=32768x128,1024x128 runs those shapes instead (as bench_cpu_ops does).
if os.environ.get("BENCH_SHAPES"):
    SHAPES = [tuple(int(v) for v in s.split("x")) for s in os.environ["BENCH_SHAPES"].split(",")]
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


CLOCK = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def timed(reps, f):
    f()
    t = []
    for _ in range(reps):
        t0 = CLOCK()
        f()
        t.append((CLOCK() - t0) * 1e3)
    t.sort()
    return t[0], t[len(t) // 2]


def grad_of(fn, inputs, dy):
    """A closure that runs only the backward of fn(*inputs) for the output gradient dy."""
    leaves = [i.detach().requires_grad_(True) for i in inputs]
    out = fn(*leaves)
    return lambda: torch.autograd.grad(out, leaves, dy, retain_graph=True)


POOL_SEQ, HEAD_DIM = 64, 128  # bench_cpu_ops's kPoolSeq and kHeadDim


def rotate_half(t):
    t1, t2 = t.chunk(2, dim=-1)
    return torch.cat((-t2, t1), dim=-1)


def rope(t, cos, sin):
    """Hugging Face's apply_rotary_pos_emb (half-split) on [1, S, H, D] with [S, 1, D] tables."""
    return t * cos + rotate_half(t) * sin


def rope_tables(positions, dt):
    """Hugging Face's rotary embedding forward: the tables from positions, base 10000."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
    freqs = positions[:, None].float() * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dt)[:, None, :], emb.sin().to(dt)[:, None, :]


def quantize(x, qmax, qdtype, per_tensor=False):
    """Symmetric quantization as written in PyTorch: amax / qmax scales, RNE, saturation."""
    amax = x.abs().amax() if per_tensor else x.abs().amax(-1, keepdim=True)
    scale = amax.float() / qmax
    v = (x.float() / scale).clamp(-qmax, qmax)
    return (v.round() if qdtype == torch.int8 else v).to(qdtype), scale


def more_ops(rows, cols, dt, x, x2, dy, w, b):
    """The ops of bench_cpu_ops's more_ops, in its order."""
    e = x.element_size()
    n = rows * cols
    logy = torch.log_softmax(x, -1)
    _, keep = torch.ops.aten.native_dropout(x, 0.1, True)
    sentences = rows // POOL_SEQ
    xs = x.view(sentences, POOL_SEQ, cols)
    s = torch.arange(rows)
    mask = (s % POOL_SEQ < POOL_SEQ - 16 + (s // POOL_SEQ) % 17).to(torch.int32)
    mask = mask.view(sentences, POOL_SEQ)
    pool_bytes = sentences * POOL_SEQ * 4 + sentences * cols * e

    def mean_pool():  # sentence-transformers' mean pooling
        m = mask.unsqueeze(-1).to(x.dtype)
        return (xs * m).sum(1) / m.sum(1).clamp(min=1e-9)

    heads = x.view(1, rows, cols // HEAD_DIM, HEAD_DIM)
    cos, sin = rope_tables(torch.arange(rows), dt)
    table_bytes = 2 * rows * (HEAD_DIM // 2) * e
    q8, s8 = quantize(x, 127, torch.int8)
    return [
        ("log_softmax_backward",
         lambda: torch.ops.aten._log_softmax_backward_data(dy, logy, -1, dt), 3 * n * e),
        ("add_layer_norm", lambda: F.layer_norm(x + x2, (cols,), w, b, 1e-5),
         4 * n * e + 8 * rows),
        ("silu_backward", lambda: torch.ops.aten.silu_backward(dy, x), 3 * n * e),
        ("swiglu_backward", grad_of(lambda g, u: F.silu(g) * u, [x, x2], dy), 5 * n * e),
        ("geglu", lambda: F.gelu(x) * x2, 3 * n * e),
        ("geglu_backward", grad_of(lambda g, u: F.gelu(g) * u, [x, x2], dy), 5 * n * e),
        ("dropout_backward",
         lambda: torch.ops.aten.native_dropout_backward(dy, keep, 1 / 0.9), 2 * n * e),
        ("mean_pool", mean_pool, n * e + pool_bytes),
        ("rotary", lambda: rope(heads, cos, sin), 2 * n * e + table_bytes),
        ("rotary_backward", grad_of(lambda t: rope(t, cos, sin), [heads], dy.view_as(heads)),
         2 * n * e + table_bytes),
        ("rotary_positions", lambda: rope(heads, *rope_tables(torch.arange(rows), dt)),
         2 * n * e + 4 * rows),
        ("quantize_int8", lambda: quantize(x, 127, torch.int8), n * e + n + 4 * rows),
        ("quantize_int8_tensor", lambda: quantize(x, 127, torch.int8, per_tensor=True),
         n * e + n + 4),
        ("quantize_fp8", lambda: quantize(x, 448, torch.float8_e4m3fn), n * e + n + 4 * rows),
        ("dequantize_int8", lambda: (q8.float() * s8).to(dt), n * e + n + 4 * rows),
    ]


def ops(rows, cols, dt):
    g = torch.Generator().manual_seed(1)
    r = lambda: (torch.rand(rows, cols, generator=g) * 4 - 2).to(dt)
    x, x2, dy = r(), r(), r()
    w = (torch.rand(cols, generator=g) * 4 - 2).to(dt)
    b = (torch.rand(cols, generator=g) * 4 - 2).to(dt)
    y = torch.softmax(x, -1)
    labels = (torch.arange(rows) * 7919) % cols
    e = x.element_size()
    n = rows * cols
    _, mean, rstd = torch.ops.aten.native_layer_norm(x, (cols,), w, b, 1e-5)
    ce = grad_of(lambda t: F.cross_entropy(t, labels), [x], torch.tensor(1.0))
    return [
        ("softmax", lambda: torch.softmax(x, -1), 2 * n * e),
        ("log_softmax", lambda: torch.log_softmax(x, -1), 2 * n * e),
        ("softmax_backward", lambda: torch.ops.aten._softmax_backward_data(dy, y, -1, dt),
         3 * n * e),
        ("rms_norm", lambda: F.rms_norm(x, (cols,), w, 1e-6), 2 * n * e + 4 * rows),
        ("add_rms_norm", lambda: F.rms_norm(x + x2, (cols,), w, 1e-6), 4 * n * e + 4 * rows),
        ("rms_norm_backward", grad_of(lambda t, v: F.rms_norm(t, (cols,), v, 1e-6), [x, w], dy),
         4 * n * e + 4 * rows),
        ("layer_norm", lambda: F.layer_norm(x, (cols,), w, b, 1e-5), 2 * n * e + 8 * rows),
        ("layer_norm_backward",
         lambda: torch.ops.aten.native_layer_norm_backward(
             dy, x, (cols,), mean, rstd, w, b, [True, True, True]),
         4 * n * e + 8 * rows),
        ("gelu", lambda: F.gelu(x), 2 * n * e),
        ("gelu_tanh", lambda: F.gelu(x, approximate="tanh"), 2 * n * e),
        ("gelu_backward", lambda: torch.ops.aten.gelu_backward(dy, x), 3 * n * e),
        ("silu", lambda: F.silu(x), 2 * n * e),
        ("swiglu", lambda: F.silu(x) * x2, 3 * n * e),
        ("add", lambda: x + x2, 3 * n * e),
        ("mul_row", lambda: x * w, 2 * n * e),
        ("dropout", lambda: F.dropout(x, 0.1, training=True), 2 * n * e),
        ("cross_entropy", lambda: F.cross_entropy(x, labels), n * e + 8 * rows),
        ("cross_entropy_backward", ce, 2 * n * e + 4 * rows),
        ("l2_normalize", lambda: F.normalize(x, dim=-1), 2 * n * e),
        ("argmax", lambda: torch.argmax(x, -1), n * e + 4 * rows),
        ("topk8", lambda: torch.topk(x, 8, -1), n * e + rows * 8 * (e + 4)),
    ] + more_ops(rows, cols, dt, x, x2, dy, w, b)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    only = set(sys.argv[2:])
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    print("impl\top\trows\tcols\tdtype\tmin_ms\tmedian_ms\tbytes")
    for rows, cols in SHAPES:
        for name, dt in DTYPES.items():
            for op, f, nbytes in ops(rows, cols, dt):
                if only and op not in only:
                    continue
                lo, med = timed(reps, f)
                print(f"torch\t{op}\t{rows}\t{cols}\t{name}\t{lo:.3f}\t{med:.3f}\t{nbytes:.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
