"""The table of bench/RESULTS.md from the TSVs of bench_cpu_ops, bench_cpu_ops_halide and peers.py:
per (op, shape, dtype) tessel's min / median, PyTorch's and Halide's, the faster peer's time over
tessel's (by the minima: > 1 means tessel is faster), and the fraction of the memcpy bandwidth
tessel reaches (its bytes over its min time, against the faster memcpy of that shape and dtype).

    python bench/cpu_ops/compare.py DIR/*.tsv
    python bench/cpu_ops/compare.py --summary DIR/*.tsv   # docs/stdlib.md's speed column

The summary prints one line per op: the ratios at 4096x4096 / 8192x1024 / 32768x128 for f32, then
for bf16, and tessel's min at 4096x4096 f32 (several TSVs of one impl: the minimum of each).
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
                key, t = (op, int(r), int(k), dt), (float(lo), float(med), float(nbytes))
                old = rows[key].get(impl)
                rows[key][impl] = t if old is None or t[0] < old[0] else old
    return rows


def ratio(impls):
    peers = [impls[p][0] for p in ("torch", "halide") if p in impls]
    return min(peers) / impls["tessel"][0] if peers and "tessel" in impls else None


def summary(rows):
    shapes = [(4096, 4096), (8192, 1024), (32768, 128)]
    for op in sorted({k[0] for k in rows if k[0] != "copy"}):
        parts = []
        for dt in ("f32", "bf16"):
            rs = [ratio(rows.get((op, r, k, dt), {})) for r, k in shapes]
            parts.append(dt + " " + " / ".join("—" if x is None else f"{x:.2f}" for x in rs))
        t = rows.get((op, 4096, 4096, "f32"), {}).get("tessel")
        ms = f" ({t[0]:.0f} ms at 4096² f32)" if t else ""
        print(f"{op}: {'; '.join(parts)}{ms}")


def main():
    if sys.argv[1] == "--summary":
        summary(read(sys.argv[2:]))
        return
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
