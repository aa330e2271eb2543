"""JAX arrays as inputs through DLPack (JAX arrays are immutable: outputs are NumPy buffers).
Skipped where jax is not installed (the ctest venv has no jax)."""
import numpy as np
import pytest

import tessel
from conftest import poisoned

jax = pytest.importorskip("jax", reason="jax is not installed in this venv")
jnp = pytest.importorskip("jax.numpy")


def test_softmax_and_matmul_on_jax_inputs(rng):
    x = jnp.asarray(rng.standard_normal((4, 50)).astype(np.float32))
    y = poisoned((4, 50))
    assert tessel.softmax(x, y) is y
    np.testing.assert_allclose(y, np.asarray(jax.nn.softmax(x, axis=-1)), rtol=1e-5, atol=1e-7)
    a = jnp.asarray(rng.standard_normal((8, 16)).astype(np.float32))
    b = jnp.asarray(rng.standard_normal((16, 12)).astype(np.float32))
    c = poisoned((8, 12))
    tessel.matmul(a, b, c)
    np.testing.assert_allclose(c, np.asarray(a @ b), rtol=1e-4, atol=1e-4)
