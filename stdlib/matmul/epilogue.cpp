// The provided matmul epilogues (bias, activations, residual, scaling) as small tile-language
// functions, and how a chain of epilogues is applied to an accumulator tile (epilogue.h).
#include "stdlib/matmul/epilogue.h"

#include "tessel/lang/ops.h"

#include <fmt/format.h>

#include <cmath>

namespace tessel::ops {

namespace tl = tessel::lang;

Epilogue::Epilogue(std::string name, EpilogueFn fn, std::vector<TensorView> operands,
                   std::vector<float> scalars, std::source_location where) {
  auto impl = std::make_shared<Impl>();
  impl->name = std::move(name);
  impl->fn = std::move(fn);
  impl->operands = std::move(operands);
  impl->scalars = std::move(scalars);
  impl->where = SourceLoc::from(where);
  impl_ = std::move(impl);
}

const std::string& Epilogue::name() const { return impl_->name; }

Epilogue epilogue(std::string name, EpilogueFn fn, std::vector<TensorView> operands,
                  std::vector<float> scalars, std::source_location where) {
  return Epilogue(std::move(name), std::move(fn), std::move(operands), std::move(scalars), where);
}

namespace {

Epilogue builtin(std::string name, EpilogueFn fn, std::vector<TensorView> operands = {},
                 std::vector<float> scalars = {}, bool reads_output = false) {
  auto impl = std::make_shared<Epilogue::Impl>();
  impl->name = std::move(name);
  impl->fn = std::move(fn);
  impl->operands = std::move(operands);
  impl->scalars = std::move(scalars);
  impl->reads_output = reads_output;
  impl->builtin = true;
  return Epilogue(std::shared_ptr<const Epilogue::Impl>(std::move(impl)));
}

tl::Tensor add_operand(const EpilogueTile& t) { return t.acc + t.operands[0]; }

// A rank-1 [M] vector seen as [M, 1], so that it broadcasts along the columns.
TensorView as_column(const TensorView& v) {
  if (v.rank != 1)
    return v; // the op reports the shape that does not broadcast
  TensorView col = v;
  col.rank = 2;
  col.shape[1] = 1;
  col.strides[1] = 0;
  return col;
}

} // namespace

Epilogue bias(const TensorView& bias) { return builtin("bias", add_operand, {bias}); }
Epilogue row_bias(const TensorView& bias) {
  return builtin("row_bias", add_operand, {as_column(bias)});
}
Epilogue residual(const TensorView& residual) {
  return builtin("residual", add_operand, {residual});
}

Epilogue relu() {
  return builtin("relu", [](const EpilogueTile& t) { return tl::maximum(t.acc, 0.0); });
}

Epilogue gelu(GeluApprox approx) {
  switch (approx) {
  case GeluApprox::erf:
    return builtin("gelu", [](const EpilogueTile& t) {
      auto x = t.acc.to(DType::f32);
      return 0.5f * x * (1.0f + tl::erf(x * float(M_SQRT1_2)));
    });
  case GeluApprox::tanh:
    return builtin("gelu_tanh", [](const EpilogueTile& t) {
      auto x = t.acc.to(DType::f32);
      auto inner = float(std::sqrt(2.0 / M_PI)) * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tl::tanh(inner));
    });
  }
  TESSEL_UNREACHABLE("unknown GeluApprox");
}

Epilogue silu() {
  return builtin("silu", [](const EpilogueTile& t) {
    auto x = t.acc.to(DType::f32);
    return x * tl::sigmoid(x);
  });
}

// beta == 0 does not read c: c may hold anything (NaN) before a matmul that overwrites it.
Epilogue scale(float alpha, float beta) {
  if (beta == 0.0f)
    return builtin("scale",
                   [](const EpilogueTile& t) { return t.acc.to(DType::f32) * t.scalars[0]; }, {},
                   {alpha});
  return builtin(
      "scale_c",
      [](const EpilogueTile& t) {
        return t.acc.to(DType::f32) * t.scalars[0] + t.operands[0] * t.scalars[1];
      },
      {}, {alpha, beta}, /*reads_output=*/true);
}

} // namespace tessel::ops

namespace tessel::ops::detail {

namespace tl = tessel::lang;

static std::string tile_str(const tl::Tensor& v) {
  std::string s = "[";
  tl::Shape shape = v.shape();
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "] " + dtype_name(v.dtype());
}

std::string bad_step_result(const tl::Tensor& result, DType acc, int64_t bm, int64_t bn) {
  if (!result.valid())
    return "returned an empty handle";
  bool shape_ok = result.shape() == tl::Shape{bm, bn} && !result.is_pointer();
  bool dtype_ok = result.dtype() == DType::f32 || (acc == DType::i32 && result.dtype() == acc);
  if (shape_ok && dtype_ok)
    return "";
  return fmt::format("returned a tile of {} but the accumulator tile is [{}, {}] {}; an epilogue "
                     "returns a tile of the accumulator's shape in f32 (convert with "
                     ".to(tl::f32); c's dtype decides the stored type)",
                     tile_str(result), bm, bn, dtype_name(acc));
}

std::string step_label(const ChainStep& s, bool builtin) {
  if (builtin || !s.where.known())
    return fmt::format("epilogue '{}'", s.name);
  return fmt::format("epilogue '{}' (made at {})", s.name, s.where.str());
}

ChainStep chain_step(const Epilogue& e, int& next_operand, int& next_scalar) {
  const Epilogue::Impl& impl = e.impl();
  ChainStep s{impl.name, impl.fn, impl.where, impl.reads_output, {}, {}};
  for (size_t i = 0; i < impl.operands.size(); ++i)
    s.operand_slots.push_back(next_operand++);
  for (size_t i = 0; i < impl.scalars.size(); ++i)
    s.scalar_slots.push_back(next_scalar++);
  return s;
}

static EpilogueTile tile_for(const ChainStep& s, const tl::Tensor& acc, const TileContext& t) {
  EpilogueTile tile{acc, t.rows, t.cols, t.mask, {}, {}};
  if (s.reads_output)
    tile.operands.push_back(tl::load(t.c_old_ptrs, t.mask, 0.0).to(DType::f32));
  for (int slot : s.operand_slots)
    tile.operands.push_back(tl::load(t.operand_ptrs[size_t(slot)], t.mask, 0.0).to(DType::f32));
  for (int slot : s.scalar_slots)
    tile.scalars.push_back(t.scalars[size_t(slot)]);
  return tile;
}

tl::Tensor apply_step(const ChainStep& step, const tl::Tensor& acc, const TileContext& t) {
  return step.fn(tile_for(step, acc, t));
}

tl::Tensor apply_chain(const Chain& chain, tl::Tensor acc, const TileContext& t) {
  tl::Shape shape = acc.shape();
  for (const ChainStep& s : chain) {
    tl::Tensor next = apply_step(s, acc, t);
    std::string why = bad_step_result(next, acc.dtype(), shape[0], shape[1]);
    if (!why.empty())
      throw Error(s.where, fmt::format("matmul: {} {}", step_label(s, false), why));
    acc = next;
  }
  return acc;
}

} // namespace tessel::ops::detail
