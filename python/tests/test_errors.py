"""One test per diagnostic of the Python layer: each raises tessel.Error (a RuntimeError) whose
message names this file's line, the op, the argument and what was expected."""
import re

import numpy as np
import pytest

import tessel
from conftest import FakeDeviceTensor


def here_line(offset=0):
    import inspect
    return inspect.currentframe().f_back.f_lineno + offset


def expect_error(fn, *fragments):
    with pytest.raises(tessel.Error) as info:
        fn()
    msg = str(info.value)
    assert re.match(r".*test_errors\.py:\d+: ", msg), msg  # the caller's file:line comes first
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


x = np.ones((4, 32), np.float32)
y = np.empty((4, 32), np.float32)


def test_error_is_a_runtime_error():
    assert issubclass(tessel.Error, RuntimeError)


def test_message_names_the_calling_line():
    line = here_line(2)
    with pytest.raises(tessel.Error) as info:
        tessel.softmax(x, np.empty((3, 3), np.float32))
    assert f"test_errors.py:{line}: softmax: y has shape [3, 3]" in str(info.value)


def test_wrong_type_not_a_tensor():
    expect_error(lambda: tessel.softmax([1.0, 2.0], y), "softmax: argument 'x' is a list",
                 "not a tensor", "__dlpack__")


def test_wrong_dtype_rejected_by_the_op():
    expect_error(lambda: tessel.softmax(x.astype(np.int32), y), "softmax: x has dtype i32",
                 "expected f32, f16 or bf16")


def test_wrong_dtype_unsigned_is_named_by_the_op():
    # uint8 is a tessel dtype (u8) since the unsigned types landed; gelu takes floats only.
    expect_error(lambda: tessel.gelu(x.astype(np.uint8), y), "gelu: x has dtype u8",
                 "expected f32, f16 or bf16")


def test_wrong_shape():
    expect_error(lambda: tessel.rms_norm(x, np.ones(16, np.float32), y, np.empty(4, np.float32)),
                 "rms_norm: weight", "[16]")


def test_unsupported_device_type():
    fake = FakeDeviceTensor(x, device_type=4)  # kDLOpenCL
    expect_error(lambda: tessel.softmax(fake, y), "softmax: argument 'x'", "device type 4",
                 "CPU (1), CUDA (2)")


def test_tensors_on_two_devices():
    fake = FakeDeviceTensor(y, device_type=2)  # announced as CUDA memory
    expect_error(lambda: tessel.softmax(x, fake), "softmax: y is on device cuda:0", "cpu:0")


def test_missing_output_names_the_caller_allocates():
    expect_error(lambda: tessel.softmax(x), "softmax: tensor 'y' is missing",
                 "allocated by the caller")


def test_none_for_a_required_tensor():
    expect_error(lambda: tessel.softmax(x, None), "softmax: tensor 'y' is None")


def test_too_many_tensors():
    expect_error(lambda: tessel.softmax(x, y, y), "softmax: takes 2 tensors, got 3")


def test_tensor_by_position_and_name():
    expect_error(lambda: tessel.softmax(x, y, x=x), "softmax: tensor 'x' given by position and by name")


def test_unknown_keyword_lists_the_valid_ones():
    expect_error(lambda: tessel.rms_norm(x, x[0], y, y[:, 0].copy(), epsilon=1e-5),
                 "rms_norm: unknown keyword argument 'epsilon'", "eps, block_cols")


def test_keyword_of_the_wrong_type():
    expect_error(lambda: tessel.rms_norm(x, x[0], y, y[:, 0].copy(), eps="small"),
                 "rms_norm: keyword eps='small' (a str); expected a float")


def test_enum_keyword_names_the_choices():
    expect_error(lambda: tessel.gelu(x, y, approximate="fast"),
                 "gelu: keyword approximate='fast'", "one of 'none', 'tanh'")


def test_epilogue_list_holds_a_non_step():
    a = np.ones((4, 4), np.float32)
    expect_error(lambda: tessel.matmul(a, a, a.copy(), epilogue=["gelu"]),
                 "matmul: keyword epilogue[0]='gelu'", "tessel.epilogue.bias")


def test_matmul_config_unknown_key():
    a = np.ones((4, 4), np.float32)
    expect_error(lambda: tessel.matmul(a, a, a.copy(), config={"block_q": 16}),
                 "matmul: keyword config['block_q']", "block_m")


def test_bad_stream_argument():
    fake = FakeDeviceTensor(x, device_type=2)
    expect_error(lambda: tessel.softmax(fake, FakeDeviceTensor(y, 2), stream="s0"),
                 "softmax: stream= is a str", "CUstream handle")


def test_failing_dlpack_export_is_reported():
    ro = x.copy()
    ro.flags.writeable = False  # NumPy refuses to export read-only memory through DLPack 0.x
    expect_error(lambda: tessel.softmax(ro, y), "softmax: argument 'x': its __dlpack__() failed")


def test_a_consumed_capsule_cannot_be_reused():
    cap = x.__dlpack__()
    tessel.softmax(cap, y)
    expect_error(lambda: tessel.softmax(cap, y), "softmax: argument 'x' is a PyCapsule",
                 "not a tensor")
