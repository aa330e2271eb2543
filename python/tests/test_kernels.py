"""C++ kernels registered by name (TESSEL_REGISTER_KERNEL in a shared library), launched from
Python with the C++ launch syntax, against NumPy."""
import numpy as np
import pytest

import tessel
from conftest import data_ptr, poisoned


@pytest.fixture(scope="module")
def axpb(kernel_library):
    names = tessel.load_library(kernel_library)
    assert names == ["py_axpb"]
    return tessel.kernel("py_axpb")


def test_kernel_is_registered_with_its_parameters(axpb):
    assert "py_axpb" in tessel.kernels()
    assert axpb.params == ["out", "x", "alpha", "beta", "n", "BLOCK"]
    assert axpb.summary == "out = alpha * x + beta"


def test_launch_with_grid_subscript(axpb, rng):
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    out = poisoned(n)
    ptr = data_ptr(out)
    axpb[(n + 255) // 256](out, x, 2.0, -1.0, n, 256, num_warps=4)
    np.testing.assert_allclose(out, 2 * x - 1, rtol=1e-6)
    assert data_ptr(out) == ptr


def test_numpy_scalars_are_numbers(axpb, rng):
    x = rng.standard_normal(64).astype(np.float32)
    out = poisoned(64)
    axpb[np.int64(1)](out, x, np.float32(2.0), np.float64(0.5), np.int32(64), 256)
    np.testing.assert_allclose(out, 2 * x + 0.5, rtol=1e-6)


def test_launch_method_and_memory_hit(axpb, rng):
    n = 300
    x = rng.standard_normal(n).astype(np.float32)
    out = poisoned(n)
    axpb.launch(((n + 127) // 128,), out, x, 0.5, 3, n, 128)
    np.testing.assert_allclose(out, 0.5 * x + 3, rtol=1e-6)
    before = axpb.stats()
    axpb.launch(((n + 127) // 128,), out, x, 0.5, 3, n, 128)
    after = axpb.stats()
    assert after["launches"] == before["launches"] + 1
    assert after["last_source"] == "memory"  # the second launch compiles nothing
    assert "py_axpb" in tessel.cache_stats()["kernels"]


def test_launch_errors_name_the_parameter_and_line(axpb):
    x = np.ones(16, np.float32)
    with pytest.raises(tessel.Error, match=r"test_kernels\.py:\d+: .*parameter 'n'.*expects an integer"):
        axpb[1](x.copy(), x, 1.0, 0.0, 2.5, 256)
    with pytest.raises(tessel.Error, match=r"test_kernels\.py:\d+: .*"):
        axpb[1](x.copy(), x, 1.0)  # too few arguments
    with pytest.raises(tessel.Error, match="unknown keyword argument 'warps'"):
        axpb[1](x.copy(), x, 1.0, 0.0, 16, 256, warps=4)
    with pytest.raises(tessel.Error, match="the grid"):
        axpb["1"]
    with pytest.raises(tessel.Error, match="argument 'x' is a str"):
        axpb[1](x.copy(), "x", 1.0, 0.0, 16, 256)


def test_unknown_kernel_and_library():
    with pytest.raises(tessel.Error, match="unknown kernel 'no_such_kernel'.*rms_norm"):
        tessel.kernel("no_such_kernel")
    with pytest.raises(tessel.Error, match="tessel.load_library: .*/no/such/lib.so"):
        tessel.load_library("/no/such/lib.so")


def test_stdlib_kernels_are_in_the_registry():
    assert {"rms_norm", "ops.softmax", "ops.matmul"} <= set(tessel.kernels())
