// Run-time control flow. Plain C++ `for`/`if constexpr` unroll and specialise while tracing;
// these record loops and branches that run on the device.
//
// Carried values are found, not declared: a handle created outside a body and reassigned inside
// it becomes a loop-carried value (for_range, while_) or a branch result (if_). To learn which
// handles a loop body assigns, the body is traced twice (once to discover, once with those
// handles bound to the loop's block arguments), so its C++ side effects happen twice. Capture
// handles by reference (`[&]`): a `[=]() mutable` body reassigns its own copies, and the loop
// result is lost.
//
//   auto acc = tl::zeros({BLOCK}, tl::f32);
//   tl::for_range(0, n, BLOCK, [&](tl::Int k) { acc = acc + tl::load(p + k + offs, mask); });
//   // acc now holds the loop's result
#pragma once

#include "tessel/lang/tensor.h"

#include <functional>
#include <source_location>

namespace tessel::lang {

// for (iv = lo; iv < hi; iv += step) body(iv). Bounds are i32 scalars or C++ integers; step > 0.
void for_range(const Tensor& lo, const Tensor& hi, const Tensor& step,
               const std::function<void(Int)>& body,
               std::source_location loc = std::source_location::current());
void for_range(int64_t lo, const Tensor& hi, int64_t step, const std::function<void(Int)>& body,
               std::source_location loc = std::source_location::current());
void for_range(int64_t lo, int64_t hi, int64_t step, const std::function<void(Int)>& body,
               std::source_location loc = std::source_location::current());
void for_range(const Tensor& lo, const Tensor& hi, int64_t step,
               const std::function<void(Int)>& body,
               std::source_location loc = std::source_location::current());

// if (cond) then_body() else else_body(). `cond` is an i1 scalar.
void if_(const Tensor& cond, const std::function<void()>& then_body,
         std::source_location loc = std::source_location::current());
void if_(const Tensor& cond, const std::function<void()>& then_body,
         const std::function<void()>& else_body,
         std::source_location loc = std::source_location::current());

// while (cond()) body(). `cond` returns an i1 scalar and must not reassign outer handles.
void while_(const std::function<Tensor()>& cond, const std::function<void()>& body,
            std::source_location loc = std::source_location::current());

} // namespace tessel::lang
