"""Shared fixtures of the tessel Python tests: seeded inputs, output poisoning, a kernel library
built the way a user builds one, and a tiny DLPack producer for devices this machine lacks."""
import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

import tessel

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def poisoned(shape, dtype=np.float32):
    """An output buffer full of NaN (or -7 for integers), so an op that skips an element fails."""
    if np.issubdtype(np.dtype(dtype), np.integer):
        return np.full(shape, -7, dtype=dtype)
    return np.full(shape, np.nan, dtype=dtype)


def data_ptr(a):
    return a.__array_interface__["data"][0]


@pytest.fixture(scope="session")
def kernel_library(tmp_path_factory):
    """libpy_kernels.so: kernels/py_kernels.cpp compiled against the package's headers and
    libtessel (TESSEL_PYTEST_KERNEL_LIB names a prebuilt one instead)."""
    prebuilt = os.environ.get("TESSEL_PYTEST_KERNEL_LIB")
    if prebuilt:
        return prebuilt
    include = tessel.include_dir()
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if include is None or cxx is None:
        pytest.skip("no C++ compiler or tessel headers to build the test kernel library "
                    f"(compiler {cxx}, headers {include}); set TESSEL_PYTEST_KERNEL_LIB")
    lib = tessel.library_path()
    out = str(tmp_path_factory.mktemp("kernels") / "libpy_kernels.so")
    cmd = [cxx, "-std=c++20", "-O1", "-shared", "-fPIC", "-I", include,
           os.path.join(HERE, "kernels", "py_kernels.cpp"), lib,
           "-Wl,-rpath," + os.path.dirname(lib), "-o", out]
    if shutil.which("ccache"):
        cmd.insert(0, "ccache")
    subprocess.run(cmd, check=True)
    return out


# ---- a minimal DLPack producer (ctypes), for devices and streams this machine does not have ----

class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class FakeDeviceTensor:
    """A float32 array's memory announced as living on `device_type` (2: CUDA, 4: OpenCL...). It
    records the stream= each __dlpack__ call passed. Keeps its ctypes structures alive."""

    def __init__(self, array, device_type, device_id=0):
        self.array = np.ascontiguousarray(array, dtype=np.float32)
        self.device = (device_type, device_id)
        self.streams = []
        self._keep = []

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        shape = (ctypes.c_int64 * self.array.ndim)(*self.array.shape)
        managed = DLManagedTensor()
        t = managed.dl_tensor
        t.data = self.array.ctypes.data
        t.device = DLDevice(*self.device)
        t.ndim = self.array.ndim
        t.dtype = DLDataType(2, 32, 1)  # kDLFloat, 32 bits
        t.shape = shape
        t.strides = None
        managed.deleter = None
        self._keep += [shape, managed]
        return _capsule_new(ctypes.addressof(managed), b"dltensor", None)
