// The quantized matmuls' epilogue chain (fused_epilogue.h).
#include "stdlib/quant/fused_epilogue.h"

#include "stdlib/matmul/bind_chain.h"
#include "tessel/lang/ops.h"

#include <map>
#include <memory>
#include <mutex>

namespace tessel::ops::detail {

namespace tl = tessel::lang;

void store_with_chain(const Chain& chain, const tl::Tensor& acc, const tl::Tensor& rows,
                      const tl::Tensor& cols, const tl::Tensor& mask, const tl::Ptr& out,
                      const tl::Int& out_stride, const EpilogueSlots& slots) {
  TileContext ctx;
  ctx.rows = rows;
  ctx.cols = cols;
  ctx.mask = mask;
  ctx.batch = tl::scalar(0, DType::i64); // rank-2 outputs: the only batch
  ctx.c_old_ptrs = out + (rows * out_stride + cols);
  ctx.operand_ptrs = {slots.e0 + (rows * slots.e0_m + cols * slots.e0_n),
                      slots.e1 + (rows * slots.e1_m + cols * slots.e1_n)};
  ctx.scalars = {slots.s0, slots.s1, slots.s2, slots.s3};
  tl::store(ctx.c_old_ptrs, apply_chain(chain, acc, ctx).to(out.dtype()), mask);
}

const Kernel& kernel_for_chain(const char* base, const std::string& key, const Chain& chain,
                               const std::function<Kernel(const std::string&, Chain)>& make) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<Kernel>> kernels;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = kernels[std::string(base) + "\n" + key];
  if (!slot)
    slot = std::make_unique<Kernel>(make(chain_kernel_name(base, chain), chain));
  return *slot;
}

} // namespace tessel::ops::detail
