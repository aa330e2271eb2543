"""PyTorch CPU tensors through DLPack: results against torch's own ops, no copies (the same
data_ptr in and out), strided views, half precision, and torch's dtype errors as tessel.Error."""
import math

import pytest

import tessel

torch = pytest.importorskip("torch", reason="torch is not importable in this venv (the ctest "
                                           "adds one through TESSEL_PYTHON_TORCH_VENV)")


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def test_softmax_in_place_on_torch_tensors(gen):
    x = torch.randn(8, 1000, generator=gen)
    y = torch.full_like(x, float("nan"))
    ptr = y.data_ptr()
    assert tessel.softmax(x, y) is y
    assert y.data_ptr() == ptr
    torch.testing.assert_close(y, torch.softmax(x, -1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_rms_norm_half_precision(gen, dtype):
    x = torch.randn(4, 256, generator=gen).to(dtype)
    w = torch.randn(256, generator=gen).to(dtype)
    y = torch.empty_like(x)
    rstd = torch.empty(4)
    tessel.rms_norm(x, w, y, rstd)
    xf = x.float()
    ref = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()
    tol = 1e-2 if dtype == torch.float16 else 3e-2
    torch.testing.assert_close(y.float(), ref, rtol=tol, atol=tol)


def test_matmul_on_a_transposed_view_with_epilogue(gen):
    a = torch.randn(40, 24, generator=gen)
    bt = torch.randn(32, 40, generator=gen)  # b = bt.T: a column-major view, no copy
    bias = torch.randn(32, generator=gen)
    c = torch.full((24, 32), float("nan"))
    tessel.matmul(a.T, bt.T, c, epilogue=[tessel.epilogue.bias(bias), tessel.epilogue.gelu()])
    ref = torch.nn.functional.gelu(a.T @ bt.T + bias)
    torch.testing.assert_close(c, ref, rtol=1e-4, atol=1e-4)


def test_attention_matches_scaled_dot_product_attention(gen):
    q, k, v = (torch.randn(2, 2, 32, 32, generator=gen) for _ in range(3))  # [b, h, s, d]
    out = torch.full_like(q, float("nan"))
    tessel.attention(q, k, v, out, causal=True, layout="bhsd", block_m=16, block_n=16)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_cross_entropy_matches_torch(gen):
    logits = torch.randn(6, 500, generator=gen)
    labels = torch.randint(0, 500, (6,), generator=gen)
    losses, loss = torch.empty(6), torch.empty(1)
    tessel.cross_entropy(logits, labels, losses, loss, label_smoothing=0.1)
    ref = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    torch.testing.assert_close(loss[0], ref, rtol=1e-5, atol=1e-5)


def test_layer_norm_and_gelu_tanh_match_torch(gen):
    x = torch.randn(5, 384, generator=gen)
    w, b = torch.randn(384, generator=gen), torch.randn(384, generator=gen)
    y, mean, rstd = torch.empty_like(x), torch.empty(5), torch.empty(5)
    tessel.layer_norm(x, w, b, y, mean, rstd, eps=1e-12)
    torch.testing.assert_close(y, torch.nn.functional.layer_norm(x, (384,), w, b, 1e-12),
                               rtol=1e-4, atol=1e-4)
    g = torch.empty_like(x)
    tessel.gelu(x, g, approximate="tanh")
    torch.testing.assert_close(g, torch.nn.functional.gelu(x, approximate="tanh"),
                               rtol=1e-5, atol=1e-5)


def test_legacy_capsule_from_torch_utils_dlpack(gen):
    x = torch.randn(3, 64, generator=gen)
    y = torch.empty_like(x)
    tessel.silu(torch.utils.dlpack.to_dlpack(x), y)
    torch.testing.assert_close(y, torch.nn.functional.silu(x), rtol=1e-5, atol=1e-6)


def test_registered_kernel_on_torch_tensors(kernel_library):
    tessel.load_library(kernel_library) if "py_axpb" not in tessel.kernels() else None
    x = torch.arange(1000, dtype=torch.float32)
    out = torch.full_like(x, float("nan"))
    tessel.kernel("py_axpb")[math.ceil(1000 / 256)](out, x, 3.0, 1.0, 1000, 256)
    torch.testing.assert_close(out, 3 * x + 1)


def test_torch_dtype_errors_name_the_argument():
    x = torch.ones(2, 8, dtype=torch.float64)
    with pytest.raises(tessel.Error, match=r"test_torch\.py:\d+: softmax: x has dtype f64"):
        tessel.softmax(x, torch.empty(2, 8))
    with pytest.raises(tessel.Error, match=r"softmax: x has dtype u8; expected f32, f16 or bf16"):
        tessel.softmax(torch.ones(2, 8, dtype=torch.uint8), torch.empty(2, 8))
    with pytest.raises(tessel.Error, match="indices has dtype f32"):
        tessel.argmax(torch.ones(2, 8), torch.empty(2))
