"""Every tessel op through DLPack (NumPy arrays) against a plain NumPy reference, f32, with
outputs poisoned before the op writes them and the returned outputs checked to be the very
objects passed (outputs are caller-allocated; nothing is copied)."""
import math

import numpy as np
import pytest

import tessel
from conftest import data_ptr, poisoned

TOL = dict(rtol=1e-4, atol=1e-5)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def same_objects(result, *outputs):
    """The op returned the caller's outputs themselves, at the same addresses."""
    got = result if isinstance(result, tuple) else (result,)
    assert len(got) == len(outputs)
    for g, (o, ptr) in zip(got, outputs):
        assert g is o
        assert data_ptr(g) == ptr


def out(shape, dtype=np.float32):
    a = poisoned(shape, dtype)
    return a, (a, data_ptr(a))


# ---- softmax ----------------------------------------------------------------------------------

def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_softmax_and_log_softmax(rng):
    x = randn(rng, 6, 300)
    y, yo = out(x.shape)
    same_objects(tessel.softmax(x, y), yo)
    np.testing.assert_allclose(y, np_softmax(x), **TOL)
    ly, lyo = out(x.shape)
    same_objects(tessel.log_softmax(x, ly, block_cols=64), lyo)  # the online (looped) path
    np.testing.assert_allclose(ly, np.log(np_softmax(x)), **TOL)


def test_softmax_backwards(rng):
    x, dy = randn(rng, 5, 70), randn(rng, 5, 70)
    y = np_softmax(x)
    dx, dxo = out(x.shape)
    same_objects(tessel.softmax_backward(y, dy, dx), dxo)
    np.testing.assert_allclose(dx, y * (dy - (y * dy).sum(-1, keepdims=True)), **TOL)
    ly = np.log(y).astype(np.float32)
    tessel.log_softmax_backward(ly, dy, dx)
    np.testing.assert_allclose(dx, dy - np.exp(ly) * dy.sum(-1, keepdims=True), **TOL)


# ---- norms ------------------------------------------------------------------------------------

def test_rms_norm_forward_and_fused_residual(rng):
    x, r, w = randn(rng, 7, 96), randn(rng, 7, 96), randn(rng, 96)
    y, yo = out(x.shape)
    rstd, ro = out((7,))
    same_objects(tessel.rms_norm(x, w, y, rstd, eps=1e-5), yo, ro)
    ref_rstd = 1 / np.sqrt((x * x).mean(-1) + 1e-5)
    np.testing.assert_allclose(rstd, ref_rstd, **TOL)
    np.testing.assert_allclose(y, x * ref_rstd[:, None] * w, **TOL)

    h, ho = out(x.shape)
    same_objects(tessel.add_rms_norm(x, r, w, y, h, rstd), yo, ho, ro)
    np.testing.assert_allclose(h, x + r, **TOL)
    hr = 1 / np.sqrt(((x + r) ** 2).mean(-1) + 1e-6)
    np.testing.assert_allclose(y, (x + r) * hr[:, None] * w, **TOL)


def test_rms_norm_backward(rng):
    x, w, dy = randn(rng, 9, 64), randn(rng, 64), randn(rng, 9, 64)
    rstd = (1 / np.sqrt((x * x).mean(-1) + 1e-6)).astype(np.float32)
    dx, dxo = out(x.shape)
    dw, dwo = out((64,))
    same_objects(tessel.rms_norm_backward(dy, x, w, rstd, dx, dw), dxo, dwo)
    xhat = x * rstd[:, None]
    ref_dx = rstd[:, None] * (w * dy - xhat * (w * dy * xhat).mean(-1, keepdims=True))
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, (dy * xhat).sum(0), rtol=1e-4, atol=1e-4)


def np_layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1)
    rstd = 1 / np.sqrt(((x - mean[:, None]) ** 2).mean(-1) + eps)
    return (x - mean[:, None]) * rstd[:, None] * w + b, mean, rstd


def test_layer_norm_forward_and_fused_residual(rng):
    x, r, w, b = randn(rng, 5, 80), randn(rng, 5, 80), randn(rng, 80), randn(rng, 80)
    y, yo = out(x.shape)
    mean, mo = out((5,))
    rstd, ro = out((5,))
    same_objects(tessel.layer_norm(x, w, b, y, mean, rstd), yo, mo, ro)
    ry, rm, rr = np_layer_norm(x, w, b)
    np.testing.assert_allclose(y, ry, **TOL)
    np.testing.assert_allclose(mean, rm, **TOL)
    np.testing.assert_allclose(rstd, rr, **TOL)

    h, ho = out(x.shape)
    same_objects(tessel.add_layer_norm(x, r, w, b, y, h, mean, rstd), yo, ho, mo, ro)
    np.testing.assert_allclose(h, x + r, **TOL)
    np.testing.assert_allclose(y, np_layer_norm(x + r, w, b)[0], **TOL)


def test_layer_norm_backward(rng):
    x, w, dy = randn(rng, 6, 48), randn(rng, 48), randn(rng, 6, 48)
    _, mean, rstd = np_layer_norm(x, w, 0 * w)
    mean, rstd = mean.astype(np.float32), rstd.astype(np.float32)
    dx, dxo = out(x.shape)
    dw, dwo = out((48,))
    db, dbo = out((48,))
    same_objects(tessel.layer_norm_backward(dy, x, w, mean, rstd, dx, dw, db), dxo, dwo, dbo)
    xhat = (x - mean[:, None]) * rstd[:, None]
    g = w * dy
    ref = rstd[:, None] * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
    np.testing.assert_allclose(dx, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, (dy * xhat).sum(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dy.sum(0), rtol=1e-4, atol=1e-4)


# ---- activations ------------------------------------------------------------------------------

def np_gelu(x, approximate="none"):
    x = x.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def np_gelu_grad(x):
    x = x.astype(np.float64)
    return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def sigmoid(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(rng, approximate):
    x = randn(rng, 4, 100)
    y, yo = out(x.shape)
    same_objects(tessel.gelu(x, y, approximate=approximate), yo)
    np.testing.assert_allclose(y, np_gelu(x, approximate), **TOL)


def test_gelu_backward(rng):
    x, dy = randn(rng, 3, 50), randn(rng, 3, 50)
    dx, dxo = out(x.shape)
    same_objects(tessel.gelu_backward(x, dy, dx), dxo)
    np.testing.assert_allclose(dx, dy * np_gelu_grad(x), **TOL)


def test_silu_and_backward(rng):
    x, dy = randn(rng, 3, 70), randn(rng, 3, 70)
    y, yo = out(x.shape)
    same_objects(tessel.silu(x, y), yo)
    s = sigmoid(x)
    np.testing.assert_allclose(y, x * s, **TOL)
    dx, dxo = out(x.shape)
    same_objects(tessel.silu_backward(x, dy, dx), dxo)
    np.testing.assert_allclose(dx, dy * s * (1 + x * (1 - s)), **TOL)


def test_swiglu_geglu_and_backwards(rng):
    gate, up, dy = randn(rng, 4, 40), randn(rng, 4, 40), randn(rng, 4, 40)
    y, yo = out(gate.shape)
    s = sigmoid(gate)
    same_objects(tessel.swiglu(gate, up, y), yo)
    np.testing.assert_allclose(y, gate * s * up, **TOL)
    dg, dgo = out(gate.shape)
    du, duo = out(gate.shape)
    same_objects(tessel.swiglu_backward(gate, up, dy, dg, du), dgo, duo)
    np.testing.assert_allclose(dg, dy * up * s * (1 + gate * (1 - s)), **TOL)
    np.testing.assert_allclose(du, dy * gate * s, **TOL)

    same_objects(tessel.geglu(gate, up, y), yo)
    np.testing.assert_allclose(y, np_gelu(gate) * up, **TOL)
    same_objects(tessel.geglu_backward(gate, up, dy, dg, du), dgo, duo)
    np.testing.assert_allclose(dg, dy * up * np_gelu_grad(gate), **TOL)
    np.testing.assert_allclose(du, dy * np_gelu(gate), **TOL)


def test_gated_halves_of_one_tensor(rng):
    """gate and up as the two halves of one [rows, 2H] array: strided views, no copies."""
    gu = randn(rng, 4, 64)
    gate, up = gu[:, :32], gu[:, 32:]
    y, yo = out((4, 32))
    same_objects(tessel.swiglu(gate, up, y), yo)
    np.testing.assert_allclose(y, gate * sigmoid(gate) * up, **TOL)


# ---- dropout ----------------------------------------------------------------------------------

def test_dropout_masks_scales_and_backward_matches(rng):
    x = randn(rng, 16, 128) + 3  # no zeros in x, so y == 0 marks a dropped element
    y, yo = out(x.shape)
    same_objects(tessel.dropout(x, y, p=0.25, seed=7, offset=3), yo)
    kept = y != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, **TOL)
    y2 = poisoned(x.shape)
    tessel.dropout(x, y2, p=0.25, seed=7, offset=3)
    np.testing.assert_array_equal(y, y2)  # deterministic per (seed, offset)
    tessel.dropout(x, y2, p=0.25, seed=8, offset=3)
    assert not np.array_equal(y, y2)
    dy = randn(rng, *x.shape)
    dx, dxo = out(x.shape)
    same_objects(tessel.dropout_backward(dy, dx, p=0.25, seed=7, offset=3), dxo)
    np.testing.assert_allclose(dx, np.where(kept, dy / 0.75, 0), **TOL)


# ---- cross-entropy ----------------------------------------------------------------------------

def np_cross_entropy(x, labels, ignore=-100, smoothing=0.0):
    x = x.astype(np.float64)
    c = x.shape[1]
    lse = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1)
    safe = np.where(labels == ignore, 0, labels)
    picked = x[np.arange(len(x)), safe]
    loss = lse - (1 - smoothing) * picked - smoothing / c * x.sum(1)
    return np.where(labels == ignore, 0, loss), lse


def test_cross_entropy_forward_backward(rng):
    x = randn(rng, 10, 300)
    labels = rng.integers(0, 300, 10).astype(np.int64)
    labels[3] = -100
    losses, lo = out((10,))
    loss, so = out((1,))
    same_objects(tessel.cross_entropy(x, labels, losses, loss, label_smoothing=0.1, block_cols=64),
                 lo, so)
    ref, lse = np_cross_entropy(x, labels, smoothing=0.1)
    np.testing.assert_allclose(losses, ref, **TOL)
    np.testing.assert_allclose(loss[0], ref.sum() / 9, **TOL)

    tessel.cross_entropy(x, labels, losses, None, reduction="none")
    np.testing.assert_allclose(losses, np_cross_entropy(x, labels)[0], **TOL)

    dloss = np.array([2.0], np.float32)
    dx, dxo = out(x.shape)
    same_objects(tessel.cross_entropy_backward(x, labels, dloss, dx), dxo)
    p = np.exp(x - lse[:, None])
    onehot = np.zeros_like(p)
    onehot[np.arange(10), np.where(labels < 0, 0, labels)] = 1
    ref_dx = 2.0 / 9 * (p - onehot) * (labels != -100)[:, None]
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-6)


# ---- rotary -----------------------------------------------------------------------------------

def np_rotary(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def test_rotary_tables_positions_and_backward(rng):
    b, s, h, d = 2, 8, 3, 32
    x = randn(rng, b, s, h, d)
    pos = np.arange(s, dtype=np.int64)
    inv = 10000.0 ** (-np.arange(0, d, 2) / d)
    theta = pos[:, None] * inv[None, :]
    cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    y, yo = out(x.shape)
    same_objects(tessel.rotary_embedding(x, cos, sin, y), yo)
    np.testing.assert_allclose(y, np_rotary(x, cos, sin), **TOL)
    y2, y2o = out(x.shape)
    same_objects(tessel.rotary_embedding_from_positions(x, pos, y2), y2o)
    np.testing.assert_allclose(y2, np_rotary(x, cos, sin), rtol=1e-4, atol=1e-4)
    dx, dxo = out(x.shape)
    same_objects(tessel.rotary_embedding_backward(y, cos, sin, dx), dxo)
    np.testing.assert_allclose(dx, x, rtol=1e-4, atol=1e-4)  # the inverse rotation


# ---- elementwise, reductions, pooling ---------------------------------------------------------

def test_add_mul_broadcast(rng):
    a, b = randn(rng, 4, 1, 30), randn(rng, 5, 30)
    y, yo = out((4, 5, 30))
    same_objects(tessel.add(a, b, y), yo)
    np.testing.assert_allclose(y, a + b, **TOL)
    same_objects(tessel.mul(a, b, y), yo)
    np.testing.assert_allclose(y, a * b, **TOL)


def test_argmax(rng):
    x = randn(rng, 6, 500)
    idx, io = out((6,), np.int64)
    same_objects(tessel.argmax(x, idx, block_cols=128), io)
    np.testing.assert_array_equal(idx, x.argmax(-1))


def test_mean_pool_and_l2_normalize(rng):
    x = randn(rng, 3, 7, 40)
    mask = (rng.random((3, 7)) > 0.3).astype(np.int32)
    mask[2] = 0
    y, yo = out((3, 40))
    same_objects(tessel.mean_pool(x, mask, y), yo)
    count = np.maximum(mask.sum(1), 1e-9)[:, None]
    np.testing.assert_allclose(y, (x * mask[:, :, None]).sum(1) / count, **TOL)
    z, zo = out((3, 40))
    v = randn(rng, 3, 40)
    same_objects(tessel.l2_normalize(v, z), zo)
    np.testing.assert_allclose(z, v / np.linalg.norm(v, axis=1, keepdims=True), **TOL)


# ---- matmul -----------------------------------------------------------------------------------

def test_matmul_plain_and_batched(rng):
    a, b = randn(rng, 37, 50), randn(rng, 50, 29)
    c, co = out((37, 29))
    same_objects(tessel.matmul(a, b, c), co)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    ab, bb = randn(rng, 3, 20, 16), randn(rng, 3, 16, 24)
    cb, cbo = out((3, 20, 24))
    same_objects(tessel.matmul(ab, bb, cb, config={"block_m": 16, "block_n": 16, "block_k": 16}),
                 cbo)
    np.testing.assert_allclose(cb, ab @ bb, rtol=1e-4, atol=1e-4)


def test_matmul_epilogues(rng):
    a, b = randn(rng, 24, 40), randn(rng, 40, 33)
    bias, rbias, res = randn(rng, 33), randn(rng, 24), randn(rng, 24, 33)
    c, co = out((24, 33))
    ep = tessel.epilogue
    same_objects(tessel.matmul(a, b, c, epilogue=[ep.bias(bias), ep.gelu("tanh")]), co)
    np.testing.assert_allclose(c, np_gelu(a @ b + bias, "tanh"), rtol=1e-4, atol=1e-4)
    tessel.matmul(a, b, c, epilogue=[ep.row_bias(rbias), ep.relu(), ep.residual(res)])
    np.testing.assert_allclose(c, np.maximum(a @ b + rbias[:, None], 0) + res, rtol=1e-4, atol=1e-4)
    c[:] = res
    tessel.matmul(a, b, c, epilogue=[ep.scale(0.5, 2.0), ep.silu()])
    z = 0.5 * (a @ b) + 2.0 * res
    np.testing.assert_allclose(c, z * sigmoid(z), rtol=1e-4, atol=1e-4)


def test_matmul_split_k_with_workspace(rng):
    a, b = randn(rng, 8, 256), randn(rng, 256, 16)
    c, co = out((8, 16))
    ws = np.empty(4 * 8 * 16, np.float32)
    same_objects(tessel.matmul(a, b, c, split_k=4, workspace=ws), co)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


# ---- attention --------------------------------------------------------------------------------

def np_attention(q, k, v, causal):
    """bshd reference: out, lse ([b, h, s]) and the probabilities."""
    scale = 1 / math.sqrt(q.shape[-1])
    s = np.einsum("bihd,bjhd->bhij", q.astype(np.float64), k) * scale
    if causal:
        n = q.shape[1]
        s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    lse = np.log(np.exp(s - s.max(-1, keepdims=True)).sum(-1)) + s.max(-1)
    p = np.exp(s - lse[..., None])
    return np.einsum("bhij,bjhd->bihd", p, v), lse, p, scale


def test_attention_forward_and_backward(rng):
    b, n, h, d = 2, 24, 2, 32
    q, k, v = randn(rng, b, n, h, d), randn(rng, b, n, h, d), randn(rng, b, n, h, d)
    o, oo = out(q.shape)
    lse, lo = out((b, h, n))
    same_objects(tessel.attention(q, k, v, o, causal=True, lse=lse, block_m=16, block_n=16), oo)
    ref, ref_lse, p, scale = np_attention(q, k, v, causal=True)
    np.testing.assert_allclose(o, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-4, atol=1e-4)

    do = randn(rng, *q.shape)
    dq, dqo = out(q.shape)
    dk, dko = out(k.shape)
    dv, dvo = out(v.shape)
    same_objects(tessel.attention_backward(q, k, v, o, do, lse, dq, dk, dv, causal=True,
                                           block_m=16, block_n=16), dqo, dko, dvo)
    dp = np.einsum("bihd,bjhd->bhij", do, v)
    ds = p * (dp - np.einsum("bihd,bihd->bhi", do, ref)[..., None])
    np.testing.assert_allclose(dv, np.einsum("bhij,bihd->bjhd", p, do), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dq, np.einsum("bhij,bjhd->bihd", ds, k) * scale, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dk, np.einsum("bhij,bihd->bjhd", ds, q) * scale, rtol=1e-3, atol=1e-4)


def test_attention_alibi_softcap_and_atomic_dq(rng):
    b, n, h, d = 1, 20, 2, 32
    q, k, v = randn(rng, b, n, h, d), randn(rng, b, n, h, d), randn(rng, b, n, h, d)
    slopes = np.array([0.25, 0.5], np.float32)
    o, _ = out(q.shape)
    lse, _ = out((b, h, n))
    tessel.attention(q, k, v, o, lse=lse, alibi_slopes=slopes, softcap=2.0, block_m=16, block_n=16)
    s = np.einsum("bihd,bjhd->bhij", q.astype(np.float64), k) / math.sqrt(d)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    s = 2.0 * np.tanh(s / 2.0) - slopes[None, :, None, None] * np.abs(i - j)
    ref_lse = np.log(np.exp(s - s.max(-1, keepdims=True)).sum(-1)) + s.max(-1)
    ref = np.einsum("bhij,bjhd->bihd", np.exp(s - ref_lse[..., None]), v)
    np.testing.assert_allclose(o, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(lse, ref_lse, rtol=1e-4, atol=1e-4)
    # dq by atomics agrees with the deterministic pass to a reordering of f32 sums.
    do = randn(rng, *q.shape)
    grads = {}
    for mode in ("deterministic", "atomics"):
        dq, _ = out(q.shape)
        dk, _ = out(k.shape)
        dv, _ = out(v.shape)
        tessel.attention_backward(q, k, v, o, do, lse, dq, dk, dv, alibi_slopes=slopes, softcap=2.0,
                                  dq_mode=mode, block_m=16, block_n=16)
        grads[mode] = dq
    np.testing.assert_allclose(grads["atomics"], grads["deterministic"], rtol=1e-5, atol=1e-6)
    with pytest.raises(tessel.Error, match="softcap is -1"):
        tessel.attention(q, k, v, o, softcap=-1.0)


def test_every_op_is_tested():
    """Each name of the binding table has a test in this file (a new op needs one)."""
    import inspect, sys
    source = inspect.getsource(sys.modules[__name__])
    untested = [n for n in tessel.op_names if f"tessel.{n}(" not in source]
    assert untested == []
