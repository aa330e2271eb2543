// Run-time control flow. Plain C++ `for`/`if constexpr` unroll and specialise while tracing;
// these record loops and branches that run on the device.
//
// Carried values are found, not declared: a handle created outside a body and reassigned inside
// it becomes a loop-carried value (for_range, while_) or a branch result (if_). To learn which
// handles a loop body assigns, the body is traced twice (once to discover, once with those
// handles bound to the loop's block arguments), so its C++ side effects happen twice.
//
// Capture handles by reference (`[&]`). A `[=]() mutable` (or `[x]() mutable`) body would
// reassign its own copies, and the value after the loop would silently be the one before it; the
// tracer therefore rejects a body that reassigns a handle stored in its own closure object, with
// that advice. (The check sees the closure of a lambda passed directly; a body wrapped in a
// std::function first hides its captures.)
//
//   auto acc = tl::zeros({BLOCK}, tl::f32);
//   tl::for_range(0, n, BLOCK, [&](tl::Int k) { acc = acc + tl::load(p + k + offs, mask); });
//   // acc now holds the loop's result
//
// A carried value keeps its element type and its shape through the body.
#pragma once

#include "tessel/lang/tensor.h"

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>

namespace tessel::lang {

namespace detail {

// The bytes of a body's closure object: a handle that lies inside them was captured by value.
struct Closure {
  const void* begin = nullptr;
  size_t size = 0;
  bool holds(const void* p) const {
    auto b = reinterpret_cast<uintptr_t>(begin), q = reinterpret_cast<uintptr_t>(p);
    return q >= b && q < b + size;
  }
};
template <class F> Closure closure_of(const F& f) { return {std::addressof(f), sizeof(F)}; }

void trace_for(const Tensor& lo, const Tensor& hi, const Tensor& step,
               const std::function<void(Int)>& body, Closure closure, std::source_location loc,
               std::optional<int> num_stages = std::nullopt);
void trace_for(int64_t lo, const Tensor& hi, int64_t step, const std::function<void(Int)>& body,
               Closure closure, std::source_location loc,
               std::optional<int> num_stages = std::nullopt);
void trace_for(int64_t lo, int64_t hi, int64_t step, const std::function<void(Int)>& body,
               Closure closure, std::source_location loc,
               std::optional<int> num_stages = std::nullopt);
void trace_for(const Tensor& lo, const Tensor& hi, int64_t step,
               const std::function<void(Int)>& body, Closure closure, std::source_location loc,
               std::optional<int> num_stages = std::nullopt);
void trace_if(const Tensor& cond, const std::function<void()>& then_body, Closure then_closure,
              const std::function<void()>& else_body, Closure else_closure,
              std::source_location loc);
void trace_while(const std::function<Tensor()>& cond, Closure cond_closure,
                 const std::function<void()>& body, Closure body_closure, std::source_location loc);

} // namespace detail

// The bodies are templates only so that the tracer can see their closures (above); they are
// called through std::ref, never copied.

// for (iv = lo; iv < hi; iv += step) body(iv). Bounds are i32 scalars or C++ integers; step > 0.
template <std::invocable<Int> Body>
void for_range(const Tensor& lo, const Tensor& hi, const Tensor& step, Body&& body,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc);
}
template <std::invocable<Int> Body>
void for_range(int64_t lo, const Tensor& hi, int64_t step, Body&& body,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc);
}
template <std::invocable<Int> Body>
void for_range(int64_t lo, int64_t hi, int64_t step, Body&& body,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc);
}
template <std::invocable<Int> Body>
void for_range(const Tensor& lo, const Tensor& hi, int64_t step, Body&& body,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc);
}

// The same with the loop's own software-pipelining depth (like Triton's
// `tl.range(..., num_stages=)`): on the GPU, the loads that feed a dot in the body are issued
// `stages - 1` iterations ahead through cp.async (codegen/gpu/pipeline.cpp), overriding
// LaunchOptions::num_stages for this loop; Stages{1} turns pipelining off. 1 to 16.
struct Stages {
  int value = 0;
};
template <std::invocable<Int> Body>
void for_range(const Tensor& lo, const Tensor& hi, const Tensor& step, Body&& body, Stages stages,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc, stages.value);
}
template <std::invocable<Int> Body>
void for_range(int64_t lo, const Tensor& hi, int64_t step, Body&& body, Stages stages,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc, stages.value);
}
template <std::invocable<Int> Body>
void for_range(int64_t lo, int64_t hi, int64_t step, Body&& body, Stages stages,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc, stages.value);
}
template <std::invocable<Int> Body>
void for_range(const Tensor& lo, const Tensor& hi, int64_t step, Body&& body, Stages stages,
               std::source_location loc = std::source_location::current()) {
  detail::trace_for(lo, hi, step, std::ref(body), detail::closure_of(body), loc, stages.value);
}

// if (cond) then_body() else else_body(). `cond` is an i1 scalar.
template <std::invocable<> Then>
void if_(const Tensor& cond, Then&& then_body,
         std::source_location loc = std::source_location::current()) {
  detail::trace_if(
      cond, std::ref(then_body), detail::closure_of(then_body), [] {}, {}, loc);
}
template <std::invocable<> Then, std::invocable<> Else>
void if_(const Tensor& cond, Then&& then_body, Else&& else_body,
         std::source_location loc = std::source_location::current()) {
  detail::trace_if(cond, std::ref(then_body), detail::closure_of(then_body), std::ref(else_body),
                   detail::closure_of(else_body), loc);
}

// while (cond()) body(). `cond` returns an i1 scalar and must not reassign outer handles.
template <std::invocable<> Cond, std::invocable<> Body>
void while_(Cond&& cond, Body&& body, std::source_location loc = std::source_location::current()) {
  detail::trace_while(std::ref(cond), detail::closure_of(cond), std::ref(body),
                      detail::closure_of(body), loc);
}

} // namespace tessel::lang
