// The debugging ops on NVPTX (ops.def's last block), through the CUDA device-side printf ABI:
// `vprintf(format, args)` with the arguments packed in a local buffer, each at its own alignment.
//
// device_print: each element is printed once, by the thread that owns it (owner_predicate skips
// copies in other lanes and warps; a register holding an element an earlier register holds is
// skipped too), as one vprintf of support::print_line_format: program ids and coordinates as i32,
// the value as 64 bits. After the lines, a barrier, an empty vprintf from thread 0 (prints nothing:
// it marks the end of this print in the simulator's record, so the host can regroup the lines of
// one print into one block in coordinate order) and another barrier (tessel's control flow is
// uniform across a program, so every thread reaches them). On a CUDA GPU the lines come out in the
// order the threads print them.
//
// device_assert: each thread vprintf's the failed-assert line (support::assert_line_format) of
// every false element it owns, then, if it had one, calls __assertfail (CUDA's assert: the
// simulator fails the launch with the message; a GPU with CUDA_ERROR_ASSERT).
#include "codegen/gpu/lowering.h"

#include "codegen/print_kind.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IntrinsicsNVPTX.h>

#include <fmt/format.h>

#include <set>

namespace tessel::codegen::gpu::detail {
namespace {

using ir::Opcode;
using support::PrintKind;

} // namespace

llvm::Value* Lowering::global_string(const std::string& text, const char* name) {
  auto* init = llvm::ConstantDataArray::getString(ctx, text, /*AddNull=*/true);
  auto* g = new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::PrivateLinkage, init, name, nullptr,
                                     llvm::GlobalValue::NotThreadLocal, /*AddressSpace=*/1);
  g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return b.CreateAddrSpaceCast(g, b.getPtrTy());
}

void Lowering::vprintf(llvm::Value* format, std::span<llvm::Value* const> args) {
  llvm::FunctionCallee f = module.getOrInsertFunction(
      "vprintf", llvm::FunctionType::get(b.getInt32Ty(), {b.getPtrTy(), b.getPtrTy()}, false));
  llvm::Value* buffer = llvm::ConstantPointerNull::get(b.getPtrTy());
  if (!args.empty()) {
    std::vector<llvm::Type*> fields;
    for (llvm::Value* a : args)
      fields.push_back(a->getType());
    auto* packed = llvm::StructType::get(ctx, fields); // natural alignment: vprintf's packing
    llvm::Value*& slot = printf_buffers_[packed];      // a thread's calls run one after another
    if (!slot) {
      llvm::BasicBlock& entry = llfn->getEntryBlock();
      llvm::IRBuilder<> eb(&entry, entry.begin());
      slot = eb.CreateAlloca(packed, nullptr, "printf.args");
    }
    buffer = slot;
    for (size_t i = 0; i < args.size(); ++i)
      b.CreateStore(args[i], b.CreateStructGEP(packed, buffer, unsigned(i)));
  }
  b.CreateCall(f, {format, buffer});
}

std::vector<llvm::Value*> Lowering::program_ids() {
  static constexpr llvm::Intrinsic::ID kCtaid[3] = {llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x,
                                                    llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_y,
                                                    llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_z};
  std::vector<llvm::Value*> ids;
  for (llvm::Intrinsic::ID id : kCtaid)
    ids.push_back(b.CreateCall(llvm::Intrinsic::getDeclaration(&module, id)));
  return ids;
}

std::vector<Lowering::OwnedElement> Lowering::owned_elements(const ir::Value* v) {
  std::vector<OwnedElement> out;
  if (v->type()->rank() == 0) { // the same value in every thread: thread 0 owns it
    llvm::Value* first = b.CreateICmpEQ(b.CreateOr(lane_id(), warp_id()), b.getInt32(0));
    out.push_back({0, first, {}});
    return out;
  }
  const LinearLayout& l = layout(v);
  llvm::Value* owner = owner_predicate(l);
  std::set<std::vector<int32_t>> seen; // register parts of coordinates already taken
  const int32_t regs = int32_t(vals(v).size());
  for (int32_t r = 0; r < regs; ++r) {
    if (!seen.insert(reg_coord(l, r)).second)
      continue;
    OwnedElement e{r, owner, {}};
    for (int d = 0; d < l.rank(); ++d)
      e.coords.push_back(coordinate(l, r, d));
    out.push_back(std::move(e));
  }
  return out;
}

void Lowering::lower_debug(const ir::Op& op) {
  switch (op.opcode()) {
  case Opcode::DevicePrint:
    return lower_device_print(op);
  case Opcode::DeviceAssert:
    return lower_device_assert(op);
  case Opcode::DebugBarrier: // bar.sync 0: every thread's accesses before, for every thread after
    return barrier();
  case Opcode::Assume: // read by the axis analysis; nothing to run
    return;
  default:
    TESSEL_UNREACHABLE("not a debugging op"); // ops.def's DEBUG_OP rows are the four above
  }
}

void Lowering::lower_device_print(const ir::Op& op) {
  const ir::Value* v = op.operand(0);
  const ir::Value* mask = op.num_operands() > 1 ? op.operand(1) : nullptr;
  const ir::Type* elem = v->type()->element();
  const PrintKind kind = print_kind(elem);
  ir::Context types; // the widened element type; cast_value only reads its kind
  const ir::Type* wide = print_wide_type(types, kind);
  llvm::Value* format = global_string(
      support::print_line_format(v->type()->rank(), op.attr("prefix").s, kind), "print.format");
  std::vector<llvm::Value*> pid = program_ids();
  const Vals& xs = vals(v);
  for (const OwnedElement& e : owned_elements(v)) {
    llvm::Value* pred = e.owner;
    if (mask) {
      llvm::Value* m = vals(mask)[size_t(e.reg)];
      pred = pred ? b.CreateAnd(pred, m) : m;
    }
    only_if(pred, [&] {
      llvm::Value* x = xs[size_t(e.reg)];
      llvm::Value* bits = kind == PrintKind::Pointer
                              ? b.CreatePtrToInt(x, b.getInt64Ty())
                              : b.CreateBitCast(cast_value(x, elem, wide), b.getInt64Ty());
      std::vector<llvm::Value*> args = pid;
      args.insert(args.end(), e.coords.begin(), e.coords.end());
      args.push_back(bits);
      vprintf(format, args);
    });
  }
  // The end of this print in the simulator's record (see the file comment).
  barrier();
  only_if(b.CreateICmpEQ(b.CreateOr(lane_id(), warp_id()), b.getInt32(0)),
          [&] { vprintf(global_string("", "print.end"), {}); });
  barrier();
}

void Lowering::lower_device_assert(const ir::Op& op) {
  const ir::Value* cond = op.operand(0);
  const ir::Value* mask = op.num_operands() > 1 ? op.operand(1) : nullptr;
  const std::string where = fmt::format("{}:{}", op.loc.file ? op.loc.file : "", op.loc.line);
  const std::string& message = op.attr("message").s;
  llvm::Value* format = global_string(
      support::assert_line_format(cond->type()->rank(), where, message), "assert.format");
  std::vector<llvm::Value*> pid = program_ids();
  llvm::Value* any_failed = b.getFalse();
  for (const OwnedElement& e : owned_elements(cond)) {
    llvm::Value* failed = b.CreateNot(vals(cond)[size_t(e.reg)]);
    if (mask)
      failed = b.CreateAnd(failed, vals(mask)[size_t(e.reg)]);
    if (e.owner)
      failed = b.CreateAnd(failed, e.owner);
    any_failed = b.CreateOr(any_failed, failed);
    only_if(failed, [&] {
      std::vector<llvm::Value*> args = pid;
      args.insert(args.end(), e.coords.begin(), e.coords.end());
      vprintf(format, args);
    });
  }
  only_if(any_failed, [&] {
    llvm::FunctionCallee fail = module.getOrInsertFunction(
        "__assertfail",
        llvm::FunctionType::get(
            b.getVoidTy(),
            {b.getPtrTy(), b.getPtrTy(), b.getInt32Ty(), b.getPtrTy(), b.getInt64Ty()}, false));
    b.CreateCall(fail,
                 {global_string(message, "assert.msg"),
                  global_string(op.loc.file ? op.loc.file : "", "assert.file"),
                  b.getInt32(op.loc.line), global_string(fn.name, "assert.func"), b.getInt64(1)});
  });
}

} // namespace tessel::codegen::gpu::detail
