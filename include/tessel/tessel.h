// tessel: C++ tile kernels, JIT-compiled through LLVM. The one header an application includes.
//
//   #include <tessel/tessel.h>
//   namespace tl = tessel::lang;
#pragma once

#include "tessel/dtype.h"
#include "tessel/error.h"
#include "tessel/jit/autotune.h"
#include "tessel/jit/compile.h"
#include "tessel/jit/kernel.h"
#include "tessel/jit/registry.h"
#include "tessel/lang/block_ptr.h"
#include "tessel/lang/control.h"
#include "tessel/lang/debug.h"
#include "tessel/lang/escape_hatch.h"
#include "tessel/lang/hints.h"
#include "tessel/lang/ops.h"
#include "tessel/lang/tensor.h"
#include "tessel/lang/tensor_descriptor.h"
#include "tessel/ops.h"
#include "tessel/runtime/tensor_view.h"
#include "tessel/version.h"
