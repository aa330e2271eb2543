"""tessel.doctor() and tessel.cache_stats()."""
import numpy as np

import tessel


def test_doctor_reports_the_library_and_the_package():
    text = tessel.doctor()
    assert text.startswith("tessel           tessel 0.1")
    for what in ("LLVM", "CUDA driver", "kernel cache", "python package", "  libtessel"):
        assert what in text
    assert tessel.library_path() in text


def test_cache_stats_counts_the_disk_cache_and_the_kernels_used():
    x = np.ones((2, 64), np.float32)
    tessel.softmax(x, np.empty_like(x))
    s = tessel.cache_stats()
    for key in ("directory", "enabled", "writable", "entries", "bytes", "max_bytes",
                "read_only_dirs"):
        assert key in s
    assert s["entries"] >= 0 and s["max_bytes"] > 0
    # A 2 x 64 softmax runs the short-row kernel on the CPU (2 rows per program), the one-row
    # kernel on a device.
    kernels = s["kernels"]
    k = kernels["softmax_rows"] if "softmax_rows" in kernels else kernels["ops.softmax"]
    assert k["launches"] >= 1 and k["last_source"] in ("memory", "disk", "compiled")
