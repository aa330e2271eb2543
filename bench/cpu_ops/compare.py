"""The table of bench/RESULTS.md from the TSVs of bench_cpu_ops, bench_cpu_ops_halide and peers.py:
per (op, shape, dtype) tessel's min / median, PyTorch's and Halide's, the faster peer's time over
tessel's (by the minima: > 1 means tessel is faster), and the fraction of the memcpy bandwidth
tessel reaches (its bytes over its min time, against the faster memcpy of that shape and dtype).

    python bench/cpu_ops/compare.py DIR/*.tsv
"""
import collections
import sys


def read(paths):
    rows = collections.defaultdict(dict)
    for p in paths:
        with open(p) as f:
            for line in f:
                c = line.rstrip("\n").split("\t")
                if c[0] == "impl" or len(c) < 8:
                    continue
                impl, op, r, k, dt, lo, med, nbytes = c[:8]
                rows[(op, int(r), int(k), dt)][impl] = (float(lo), float(med), float(nbytes))
    return rows


def main():
    rows = read(sys.argv[1:])
    copy = {}
    for (op, r, k, dt), impls in rows.items():
        if op == "copy":
            best = min(impls.values(), key=lambda t: t[0])
            copy[(r, k, dt)] = best[2] / best[0]  # bytes per ms
    print("| op | shape | dtype | tessel min / median (ms) | PyTorch min / median | Halide min / median "
          "| faster peer / tessel | tessel / memcpy bandwidth |")
    print("|---|---|---|---|---|---|---|---|")
    fmt = lambda t: f"{t[0]:.1f} / {t[1]:.1f}" if t else "—"
    for (op, r, k, dt), impls in sorted(rows.items(), key=lambda kv: (kv[0][0], -kv[0][2], kv[0][3])):
        if op == "copy" or "tessel" not in impls:
            continue
        t = impls["tessel"]
        peers = [impls[p] for p in ("torch", "halide") if p in impls]
        ratio = f"{min(p[0] for p in peers) / t[0]:.2f}" if peers else "—"
        bw = f"{t[2] / t[0] / copy[(r, k, dt)]:.2f}" if (r, k, dt) in copy else "—"
        print(f"| {op} | {r}×{k} | {dt} | {fmt(t)} | {fmt(impls.get('torch'))} | "
              f"{fmt(impls.get('halide'))} | {ratio} | {bw} |")


if __name__ == "__main__":
    main()
