// What every tessel::ops operator shares: the optional stream argument and the source location
// that argument errors name. See docs/stdlib.md for the conventions.
#pragma once

#include "tessel/runtime/tensor_view.h"

namespace tessel::runtime {
class Stream;
}

namespace tessel::ops {

using runtime::Stream;

} // namespace tessel::ops
