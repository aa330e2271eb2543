"""tessel: fused ML ops and your own C++ tile kernels on any DLPack tensor, without copies.

    import torch, tessel
    x = torch.randn(8, 1024); y = torch.empty_like(x)
    tessel.softmax(x, y)                       # y is written in place and returned

Every tessel::ops operator is a function here (``tessel.op_names`` lists them); outputs are
allocated by the caller, as in C++. Kernels registered in C++ (TESSEL_REGISTER_KERNEL) launch with
``tessel.kernel("name")[grid](args..., num_warps=4)``. Mistakes raise ``tessel.Error``. See
python/README.md.
"""
from __future__ import annotations

import os as _os

from . import _tessel
from ._tessel import *  # noqa: F401,F403  (the ops, kernel, load_library, cache_stats, Error)
from ._tessel import Error, epilogue, op_names, __version__  # noqa: F401

_here = _os.path.dirname(_os.path.abspath(__file__))


def doctor() -> str:
    """`tessel doctor`'s report, plus where this package and its libtessel are."""
    lines = [_tessel.doctor_text().rstrip("\n")]
    lines.append(f"{'python package':<16} {_here} (tessel {__version__})")
    lines.append(f"{'  libtessel':<16} {_tessel.libtessel_path()}")
    return "\n".join(lines) + "\n"


def include_dir() -> str | None:
    """tessel's C++ headers: the wheel's copy (built from a build tree), else the installed
    prefix's beside its libtessel; None when neither exists. Compile a kernel library with ``-I``
    this and link ``library_path()``."""
    for d in (_os.path.join(_here, "include"),
              _os.path.join(_os.path.dirname(library_path()), _os.pardir, "include")):
        if _os.path.isfile(_os.path.join(d, "tessel", "tessel.h")):
            return _os.path.normpath(d)
    return None


def library_path() -> str:
    """The libtessel this package uses (link a kernel library against it)."""
    return _tessel.libtessel_path()
