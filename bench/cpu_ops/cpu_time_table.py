"""The table of bench/cpu_ops/cpu_time_ab.sh's TSVs: per (op, shape, dtype) the minimum over all
rounds of each implementation's min and median (ms of CPU time), and the ratios base / tessel and
faster peer (Halide or PyTorch) / tessel, by the minima (> 1: tessel takes less CPU time).

    python bench/cpu_ops/cpu_time_table.py OUT
"""
import collections
import glob
import sys


def read(directory):
    best = collections.defaultdict(dict)
    for path in sorted(glob.glob(f"{directory}/*.tsv")):
        with open(path) as f:
            for line in f:
                c = line.rstrip("\n").split("\t")
                if c[0] in ("impl",) or c[0].startswith("memcpy") or len(c) < 8:
                    continue
                impl, op, rows, cols, dtype, lo, med = c[:7]
                key = (op, int(rows), int(cols), dtype)
                old = best[key].get(impl)
                lo, med = float(lo), float(med)
                best[key][impl] = (min(lo, old[0]), min(med, old[1])) if old else (lo, med)
    return best


def cell(t):
    return f"{t[0]:.1f} / {t[1]:.1f}" if t else "—"


def main():
    best = read(sys.argv[1])
    print("| op | shape | dtype | tessel (this) | base | Halide | PyTorch | base / this | peer / this |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(best):
        op, rows, cols, dtype = key
        i = best[key]
        t = i.get("tessel")
        if not t:
            continue
        base = f"{i['base'][0] / t[0]:.2f}" if "base" in i else "—"
        peers = [i[p][0] for p in ("halide", "torch") if p in i]
        peer = f"{min(peers) / t[0]:.2f}" if peers else "—"
        print(f"| {op} | {rows}×{cols} | {dtype} | {cell(t)} | {cell(i.get('base'))} | "
              f"{cell(i.get('halide'))} | {cell(i.get('torch'))} | {base} | {peer} |")


if __name__ == "__main__":
    main()
