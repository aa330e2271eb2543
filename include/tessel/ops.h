// tessel::ops: the standard library of fused ML operators (docs/stdlib.md), one header per family.
#pragma once

#include "tessel/ops/activations.h"
#include "tessel/ops/attention.h"
#include "tessel/ops/dropout.h"
#include "tessel/ops/elementwise.h"
#include "tessel/ops/fp8_blockwise.h"
#include "tessel/ops/loss.h"
#include "tessel/ops/matmul.h"
#include "tessel/ops/norms.h"
#include "tessel/ops/pooling.h"
#include "tessel/ops/quant.h"
#include "tessel/ops/quantize.h"
#include "tessel/ops/reduce.h"
#include "tessel/ops/rotary.h"
#include "tessel/ops/softmax.h"
#include "tessel/ops/sparse.h"
#include "tessel/ops/topk.h"
