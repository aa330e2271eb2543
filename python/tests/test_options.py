"""Every keyword the generated signatures list (ext/option_tables.h) is accepted with its default
value by its op: the call then fails in the op's own argument checks (int8 dummy tensors, which
every op rejects before it compiles anything), never as an unknown or mistyped keyword."""
import ast
import re

import numpy as np
import pytest

import tessel


def keywords(op):
    """(name, default) of each keyword in op's generated signature."""
    sig = getattr(tessel, op).__doc__.splitlines()[0]
    kw = sig[sig.index("*, ") + 3:sig.rindex(")")]
    out = []
    for m in re.finditer(r"(\w+): [^=]+ = ('[^']*'|\[\]|[^,]+)", kw):
        if m.group(1) != "stream":
            out.append((m.group(1), ast.literal_eval(m.group(2))))
    return out


def tensor_count(op):
    sig = getattr(tessel, op).__doc__.splitlines()[0]
    return len(sig[sig.index("(") + 1:sig.index("*, ")].split(",")) - 1


CASES = [(op, name, default) for op in tessel.op_names for name, default in keywords(op)]


def test_the_table_has_keywords():
    assert len(CASES) > 30
    assert ("attention", "layout", "bshd") in CASES
    assert ("matmul", "epilogue", []) in CASES


@pytest.mark.parametrize("op,name,default", CASES)
def test_keyword_is_accepted(op, name, default):
    # int8 tensors: the ops reject them before compiling anything, after the keywords are read
    dummies = [np.zeros(1, np.int8) for _ in range(tensor_count(op))]
    try:
        getattr(tessel, op)(*dummies, **{name: default})
    except tessel.Error as e:
        assert "keyword" not in str(e), str(e)
    else:
        pytest.fail(f"{op} ran on int8 dummies")
