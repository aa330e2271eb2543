"""The DLPack stream protocol, with a producer that records what tessel asks for (this machine has
no GPU: the launch itself then fails with the driver's error, which is a tessel.Error too)."""
import numpy as np
import pytest

import tessel
from conftest import FakeDeviceTensor

# The producer's "CUDA" memory is host memory: with a driver, a launch would hand it to the GPU.
pytestmark = pytest.mark.skipif(tessel.cuda_available(),
                                reason="fake CUDA tensors are only safe without a CUDA driver")


def cuda_pair():
    x = np.ones((2, 16), np.float32)
    return FakeDeviceTensor(x, device_type=2), FakeDeviceTensor(np.empty_like(x), device_type=2)


def test_cpu_tensors_are_exported_without_a_stream():
    x = FakeDeviceTensor(np.ones((2, 16), np.float32), device_type=1)
    y = np.empty((2, 16), np.float32)
    tessel.softmax(x, y)
    assert x.streams == [None]
    np.testing.assert_allclose(y, 1 / 16)


def test_cuda_tensors_get_the_legacy_default_stream_by_default():
    x, y = cuda_pair()
    with pytest.raises(tessel.Error, match="CUDA is not available"):
        tessel.softmax(x, y)
    assert x.streams == [1] and y.streams == [1]  # 1: the legacy default stream


def test_cuda_tensors_get_the_stream_passed():
    x, y = cuda_pair()
    with pytest.raises(tessel.Error):
        tessel.softmax(x, y, stream=0x1234)
    assert x.streams == [0x1234] and y.streams == [0x1234]


def test_stream_objects_by_the_cuda_stream_protocol():
    class Stream:
        def __cuda_stream__(self):
            return (0, 0x777)

    x, y = cuda_pair()
    with pytest.raises(tessel.Error):
        tessel.softmax(x, y, stream=Stream())
    assert x.streams == [0x777]
