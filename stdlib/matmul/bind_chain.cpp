// Binding an epilogue list to a call (bind_chain.h): the checks of each step's operands and
// scalars, their broadcast strides, and the chain's kernel key.
#include "stdlib/matmul/bind_chain.h"

#include "stdlib/matmul/matmul_kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <tuple>

namespace tessel::ops::detail {
namespace {

constexpr int64_t kMaxI32 = INT32_MAX;

bool is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

// The operand strides (batch, row, column) that broadcast `v` to c's [batch, M, N].
std::array<int64_t, 3> broadcast_strides(const OpSite& s, const std::string& what,
                                         const TensorView& v, const ChainTarget& t) {
  std::array<int64_t, 3> extents{t.batch, t.m, t.n}, strides{0, 0, 0};
  if (v.rank > 3)
    s.fail(fmt::format("{} has shape {}; it does not broadcast to c's shape {}", what, shape_str(v),
                       shape_str(t.c)));
  for (int i = 0; i < v.rank; ++i) {
    int d = 3 - v.rank + i;
    if (v.shape[i] == 1)
      continue;
    if (v.shape[i] != extents[size_t(d)])
      s.fail(fmt::format("{} has shape {}; it does not broadcast to c's shape {}", what,
                         shape_str(v), shape_str(t.c)));
    if (v.strides[i] < 0 || v.strides[i] > kMaxI32)
      s.fail(fmt::format("{} has stride {} in dimension {}; expected a stride from 0 to 2^31 - 1",
                         what, v.strides[i], i));
    strides[size_t(d)] = v.strides[i];
  }
  if (std::max<int64_t>(t.m - 1, 0) * strides[1] + std::max<int64_t>(t.n - 1, 0) * strides[2] >
      kMaxI32)
    s.fail(fmt::format("{} spans more than 2^31 elements per matrix", what));
  return strides;
}

// A user step's identity: the IR it traces to on this tile, traced once per Epilogue object.
const std::string& user_step_ir(const OpSite& s, const Epilogue::Impl& impl, const ChainStep& step,
                                const ChainTarget& t) {
  std::lock_guard<std::mutex> lock(impl.probe_mutex);
  auto key = std::tuple{t.acc, t.block_m, t.block_n};
  auto it = impl.probe_ir.find(key);
  if (it == impl.probe_ir.end())
    it = impl.probe_ir.emplace(key, step_ir(s, step, t.acc, t.block_m, t.block_n)).first;
  return it->second;
}

} // namespace

BoundChain bind_chain(const OpSite& s, const std::vector<Epilogue>& epilogue,
                      const ChainTarget& t) {
  BoundChain bc;
  int next_operand = 0, next_scalar = 0;
  for (const Epilogue& e : epilogue) {
    const Epilogue::Impl& impl = e.impl();
    if (!impl.fn)
      s.fail(fmt::format("epilogue '{}' has no function", impl.name));
    ChainStep step = chain_step(e, next_operand, next_scalar);
    if (next_operand > kEpilogueOperandSlots || next_scalar > kEpilogueScalarSlots)
      s.fail(fmt::format("the epilogues read {} tensors and {} scalars up to '{}'; a matmul "
                         "epilogue list reads at most {} tensors (c itself not counted) and {} "
                         "scalars: fuse the rest into a separate op",
                         next_operand, next_scalar, impl.name, kEpilogueOperandSlots,
                         kEpilogueScalarSlots));
    for (size_t i = 0; i < impl.operands.size(); ++i) {
      const TensorView& v = impl.operands[i];
      std::string what = fmt::format("epilogue '{}' operand {}", impl.name, i);
      check_device(s, what.c_str(), v, "c", t.c);
      if (!is_float(v.dtype) && v.dtype != DType::i32 && v.dtype != DType::i8)
        s.fail(fmt::format("{} has dtype {}; expected f32, f16, bf16, i32 or i8", what,
                           dtype_name(v.dtype)));
      if (v.numel() > 0 && v.data == nullptr)
        s.fail(fmt::format("{} has a null data pointer", what));
      bc.operand_strides.push_back(broadcast_strides(s, what, v, t));
      bc.operands.push_back(v);
    }
    bc.scalars.insert(bc.scalars.end(), impl.scalars.begin(), impl.scalars.end());
    bc.key +=
        impl.builtin ? impl.name : "user:" + impl.name + "\n" + user_step_ir(s, impl, step, t);
    bc.key += "\n|\n";
    bc.chain.push_back(std::move(step));
  }
  return bc;
}

SlotArgs slot_args(const BoundChain& bc, const TensorView& c) {
  SlotArgs sa;
  sa.views.fill(c);
  for (size_t i = 0; i < bc.operands.size(); ++i) {
    sa.views[i] = bc.operands[i];
    for (size_t d = 0; d < 3; ++d)
      sa.strides[i][d] = int(bc.operand_strides[i][d]);
  }
  for (size_t i = 0; i < bc.scalars.size(); ++i)
    sa.scalars[i] = bc.scalars[i];
  return sa;
}

std::string chain_kernel_name(const char* base, const Chain& chain) {
  std::string name = base;
  for (const ChainStep& s : chain) {
    name += "__";
    for (char ch : s.name)
      name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  }
  return name;
}

} // namespace tessel::ops::detail
