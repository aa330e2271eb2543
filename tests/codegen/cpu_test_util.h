// Helpers for the CPU backend's tests: a terse kernel builder over ir::Builder, typed host
// buffers (f16/bf16 encoded bit-exactly, poisoned before a kernel writes them), reference
// rounding, and a launcher that runs a kernel's program range on a thread with a 64 MiB stack
// (tensors live on the stack, see codegen/cpu.h).
#pragma once

#include "tessel/codegen/cpu.h"
#include "tessel/dtype.h"
#include "tessel/ir/builder.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

namespace tessel::test {

using ir::Opcode;

inline uint16_t f32_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f))
    return uint16_t((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}
inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

// Rounds `v` to what a value of `kind` can hold (f16/bf16/f32: RNE; ints: unchanged).
inline double round_to(DType kind, double v) {
  switch (kind) {
  case DType::f16:
    return double(float(_Float16(float(v))));
  case DType::bf16:
    return bf16_to_f32(f32_to_bf16(float(v)));
  case DType::f32:
    return double(float(v));
  default:
    return v;
  }
}

inline size_t size_of(DType k) { return dtype_bytes(k); }

inline bool is_float(DType k) {
  return k == DType::f16 || k == DType::bf16 || k == DType::f32 || k == DType::f64;
}

// A host array of `kind`, accessed as doubles.
struct Buffer {
  DType kind;
  size_t n;
  std::vector<unsigned char> bytes;

  // Poisoned: NaN for floats, 0xCD bytes for integers.
  Buffer(DType k, size_t count) : kind(k), n(count), bytes(count * size_of(k) + 64, 0xCD) {
    if (is_float(k))
      for (size_t i = 0; i < n; ++i)
        set(i, std::numeric_limits<double>::quiet_NaN());
  }
  void* data() { return bytes.data(); }
  double get(size_t i) const {
    const unsigned char* p = bytes.data() + i * size_of(kind);
    switch (kind) {
    case DType::i1:
      return *p != 0;
    case DType::i8:
      return double(int8_t(*p));
    case DType::i16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case DType::i32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::i64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return double(v);
    }
    case DType::f16: {
      _Float16 v;
      std::memcpy(&v, p, 2);
      return double(float(v));
    }
    case DType::bf16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return bf16_to_f32(v);
    }
    case DType::f32: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::f64: {
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
    case DType::u8:
      return double(*p);
    case DType::u16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case DType::u32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::u64: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return double(v);
    }
    case DType::f8e4m3:
      return tessel::f8e4m3_to_float(*p);
    case DType::f8e5m2:
      return tessel::f8e5m2_to_float(*p);
    }
    return 0;
  }
  void set(size_t i, double v) {
    unsigned char* p = bytes.data() + i * size_of(kind);
    switch (kind) {
    case DType::i1:
      *p = v != 0;
      return;
    case DType::i8:
      *p = uint8_t(int8_t(v));
      return;
    case DType::i16: {
      int16_t x = int16_t(v);
      std::memcpy(p, &x, 2);
      return;
    }
    case DType::i32: {
      int32_t x = int32_t(v);
      std::memcpy(p, &x, 4);
      return;
    }
    case DType::i64: {
      int64_t x = int64_t(v);
      std::memcpy(p, &x, 8);
      return;
    }
    case DType::f16: {
      _Float16 x = _Float16(float(v));
      std::memcpy(p, &x, 2);
      return;
    }
    case DType::bf16: {
      uint16_t x = f32_to_bf16(float(v));
      std::memcpy(p, &x, 2);
      return;
    }
    case DType::f32: {
      float x = float(v);
      std::memcpy(p, &x, 4);
      return;
    }
    case DType::f64:
      std::memcpy(p, &v, 8);
      return;
    case DType::u8:
      *p = uint8_t(v);
      return;
    case DType::u16: {
      uint16_t x = uint16_t(v);
      std::memcpy(p, &x, 2);
      return;
    }
    case DType::u32: {
      uint32_t x = uint32_t(v);
      std::memcpy(p, &x, 4);
      return;
    }
    case DType::u64: {
      uint64_t x = uint64_t(v);
      std::memcpy(p, &x, 8);
      return;
    }
    case DType::f8e4m3:
      *p = tessel::float_to_f8e4m3(float(v));
      return;
    case DType::f8e5m2:
      *p = tessel::float_to_f8e5m2(float(v));
      return;
    }
  }
  // Uniform random values in [lo, hi] (integers: whole numbers), fixed seed.
  void fill_random(uint32_t seed, double lo, double hi) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    for (size_t i = 0; i < n; ++i)
      set(i, is_float(kind) ? d(rng) : std::floor(d(rng)));
  }
};

// Tolerance for comparing a kernel's result with a reference computed in double.
inline double tolerance(DType k) {
  switch (k) {
  case DType::f16:
    return 2e-3;
  case DType::bf16:
    return 1.6e-2;
  case DType::f32:
    return 2e-6;
  case DType::f64:
    return 1e-12;
  default:
    return 0;
  }
}

inline void expect_near_rel(double got, double want, double rel, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": got " << got << ", want NaN";
    return;
  }
  EXPECT_NEAR(got, want, rel * std::max(1.0, std::fabs(want))) << what;
}

// A kernel under construction: terse wrappers over ir::Builder.
struct KernelBuilder {
  ir::Module module;
  ir::Function& fn;
  ir::Builder b;

  explicit KernelBuilder(std::string name)
      : fn(module.add_function(std::move(name))), b(module.ctx) {
    b.set_insertion_point_to_end(fn.body);
  }
  ir::Context& ctx() { return module.ctx; }
  const ir::Type* s(DType k) { return ctx().scalar(k); }
  const ir::Type* i32() { return ctx().i32(); }
  const ir::Type* i1() { return ctx().i1(); }
  const ir::Type* ptr(DType k) { return ctx().pointer(s(k)); }
  const ir::Type* t(std::vector<int64_t> shape, const ir::Type* elem) {
    return ctx().tensor(std::span<const int64_t>(shape), elem);
  }
  const ir::Type* like(const ir::Value* v, const ir::Type* elem) {
    return ctx().with_element(v->type(), elem);
  }
  std::vector<int64_t> shape(const ir::Value* v) {
    auto d = v->type()->dims();
    return {d.begin(), d.end()};
  }

  ir::Value* arg(const ir::Type* type) { return fn.add_arg(type); }
  ir::Value* op(Opcode o, std::vector<ir::Value*> operands, const ir::Type* type,
                std::vector<ir::Attr> attrs = {}) {
    return b.value(o, std::move(operands), type, std::move(attrs));
  }
  void effect(Opcode o, std::vector<ir::Value*> operands) {
    b.create(o, std::move(operands), std::span<const ir::Type* const>{});
  }
  // Same-typed binary op / comparison.
  ir::Value* bin(Opcode o, ir::Value* x, ir::Value* y) { return op(o, {x, y}, x->type()); }
  ir::Value* cmp(Opcode o, ir::Value* x, ir::Value* y) { return op(o, {x, y}, like(x, i1())); }
  ir::Value* un(Opcode o, ir::Value* x) { return op(o, {x}, x->type()); }
  ir::Value* cint(int64_t v, const ir::Type* type = nullptr) {
    return b.constant_int(type ? type : i32(), v);
  }
  ir::Value* cfloat(double v, const ir::Type* type) { return b.constant_float(type, v); }
  ir::Value* pid(int axis = 0) {
    return op(Opcode::ProgramId, {}, i32(), {ir::Attr::of_int(axis)});
  }
  ir::Value* arange(int64_t n, int64_t start = 0) {
    return op(Opcode::Arange, {}, t({n}, i32()),
              {ir::Attr::of_int(start), ir::Attr::of_int(start + n)});
  }
  ir::Value* splat(ir::Value* scalar, std::vector<int64_t> shape) {
    return op(Opcode::Splat, {scalar}, t(shape, scalar->type()));
  }
  ir::Value* broadcast(ir::Value* v, std::vector<int64_t> shape) {
    return op(Opcode::Broadcast, {v}, t(shape, v->type()->element()));
  }
  ir::Value* expand(ir::Value* v, int64_t axis) {
    auto sh = shape(v);
    sh.insert(sh.begin() + axis, 1);
    return op(Opcode::ExpandDims, {v}, t(sh, v->type()->element()), {ir::Attr::of_int(axis)});
  }
  ir::Value* cast(ir::Value* v, const ir::Type* elem) {
    return op(Opcode::Cast, {v}, like(v, elem));
  }
  ir::Value* addptr(ir::Value* base, ir::Value* offs) {
    ir::Value* p = offs->type()->rank() == 0 ? base : splat(base, shape(offs));
    return op(Opcode::AddPtr, {p, offs}, like(offs, base->type()));
  }
  ir::Value* load(ir::Value* ptrs, ir::Value* mask = nullptr, ir::Value* other = nullptr) {
    std::vector<ir::Value*> ops{ptrs};
    if (mask)
      ops.push_back(mask);
    if (other)
      ops.push_back(other);
    return op(Opcode::Load, ops, like(ptrs, ptrs->type()->element()->pointee()));
  }
  void store(ir::Value* ptrs, ir::Value* value, ir::Value* mask = nullptr) {
    std::vector<ir::Value*> ops{ptrs, value};
    if (mask)
      ops.push_back(mask);
    effect(Opcode::Store, ops);
  }
  // Row-major offsets of an R x C tile: row * row_stride + col (row_stride a scalar i32).
  ir::Value* offsets_2d(int64_t r, int64_t c, ir::Value* row_stride) {
    ir::Value* rows = broadcast(expand(arange(r), 1), {r, c});
    ir::Value* cols = broadcast(expand(arange(c), 0), {r, c});
    return bin(Opcode::Add, bin(Opcode::Mul, rows, splat(row_stride, {r, c})), cols);
  }
  void ret() { effect(Opcode::Return, {}); }
};

// Runs `body` on a thread with a 64 MiB stack and waits for it.
inline void run_on_big_stack(const std::function<void()>& body) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t(64) << 20);
  pthread_t thread;
  auto trampoline = [](void* p) -> void* {
    (*static_cast<const std::function<void()>*>(p))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, trampoline, const_cast<std::function<void()>*>(&body)),
            0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

// Launches every program of `grid` (one thread, in order). `args` point at the argument values.
inline void launch(const codegen::cpu::CompiledKernel& kernel, std::vector<void*> args,
                   std::array<int32_t, 3> grid) {
  int64_t total = int64_t(grid[0]) * grid[1] * grid[2];
  run_on_big_stack([&] { kernel.entry()(args.data(), grid.data(), 0, total); });
}

} // namespace tessel::test
