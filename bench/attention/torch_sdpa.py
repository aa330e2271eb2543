"""PyTorch CPU scaled_dot_product_attention at the shapes of `bench_attention cpu`: f32, batch 4,
12 heads, seqlen 128/512, head_dim 32/64, causal and not, on contiguous [batch, heads, seqlen,
head_dim] (SDPA's layout), 2 threads; min and median of RUNS after 3 warm-ups, one TSV row each.

usage: python torch_sdpa.py [RUNS] [SEQ]   (any Python with torch; run.sh passes PYTHON)

SEQ runs that seqlen alone; BENCH_THREADS=N sets the threads (2 unless given); BENCH_CLOCK=cpu
times the process's CPU time instead of the wall clock (bench_attention's BENCH_CLOCK).
"""
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


CLOCK = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    only_seq = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.manual_seed(1)
    print("impl\tseqlen\thead_dim\tcausal\tmin_ms\tmedian_ms")
    seqs = (128, 512) if only_seq in (0, 128, 512) else (only_seq,)
    for seq in seqs:
        if only_seq and seq != only_seq:
            continue
        for dim in (32, 64):
            for causal in (False, True):
                q, k, v = (torch.rand(4, 12, seq, dim) * 2 - 1 for _ in range(3))
                times = []
                with torch.no_grad():
                    for r in range(runs + 3):
                        t0 = CLOCK()
                        F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        if r >= 3:
                            times.append((CLOCK() - t0) * 1e3)
                print(f"torch\t{seq}\t{dim}\t{int(causal)}\t{min(times):.3f}\t{statistics.median(times):.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
