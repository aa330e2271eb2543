"""The Python package's per-call cost: a warm tessel op on a tiny tensor (so the kernel itself is
negligible) through DLPack, for NumPy and torch CPU tensors, against torch's own op on the same
tensor. Figures go to bench/RESULTS.md by hand; nothing here is a test.

    build/release/python/venv/bin/python bench/python_call_overhead.py [--calls 20000]
"""
import argparse
import time

import numpy as np

import tessel


def per_call_us(fn, calls):
    fn()  # compile / warm
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    n = ap.parse_args().calls
    x = np.ones((1, 16), np.float32)
    y = np.empty_like(x)
    print(f"numpy  tessel.softmax [1, 16]      {per_call_us(lambda: tessel.softmax(x, y), n):7.2f} us/call")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        tx, ty = torch.ones(1, 16), torch.empty(1, 16)
        print(f"torch  tessel.softmax [1, 16]      {per_call_us(lambda: tessel.softmax(tx, ty), n):7.2f} us/call")
        print(f"torch  torch.softmax [1, 16]       "
              f"{per_call_us(lambda: torch.softmax(tx, -1), n):7.2f} us/call  (allocates its output)")
        print(f"numpy  x.__dlpack__() alone        {per_call_us(lambda: x.__dlpack__(), n):7.2f} us/call")


if __name__ == "__main__":
    main()
