// The `assign-layouts` pass: LayoutPlan's decisions (layout_assignment.h) written into the IR.
//
// Every tensor value (op results and region arguments) gets its layout in its type; then, for
// every use of a tensor by an op that needs its operand in another layout than the operand's own,
// an explicit `convert_layout` to that layout is inserted just before the op (one per use). What
// each use needs (`wanted`) is what the lowering reads:
//   elementwise ops, scans, a dot's accumulator: the result's layout;
//   loads and stores: the anchor (coalesced) layout of the pointer, for pointer, mask and value;
//   device_print / device_assert: none for the value, whose layout they read; the value's for the
//     mask;
//   reductions: the default layout of the operand's shape (whose slice their result has);
//   broadcast / expand_dims / permute / reshape: the result's layout un-broadcast / sliced /
//     permuted back / reshaped back, so that the op itself moves no data between threads;
//   for inits and yields, while inits, conditions: the layout of the region argument or result
//     they flow into.
// The priority of anchors over other users is LayoutPlan's rule (its header). A dot's a and b
// operands have no wanted layout here: prepare-dot-operands gives them theirs.
//
// Two more decisions are written into the IR, so that the emission only reads them:
//   - each tensor load and store gets `vec`, the elements per global access (LayoutPlan::vector_of:
//     the run of contiguous registers, capped at 16 bytes, by contiguity, alignment and the mask's
//     constancy);
//   - a scan whose result layout is not one its algorithm runs in (scan_ready) runs in
//     scan_layout: a convert_layout of its operand before it, its result in that layout, and a
//     convert_layout back after it for its users.
//
// Layout kinds: a reduction's result is `slice`; any other layout is `blocked` when every basis
// moves along one dimension (LinearLayout::is_dim_separable), else `linear`.
#include "codegen/gpu/k_slices.h"
#include "codegen/gpu/layout_assignment.h"
#include "codegen/gpu/mma_select.h"
#include "codegen/gpu/pipeline.h"
#include "codegen/gpu/scratch.h"
#include "codegen/gpu/warp_specialize.h"

#include "codegen/analysis/axis_info.h"
#include "tessel/codegen/gpu.h"
#include "tessel/error.h"

#include <optional>

namespace tessel::codegen::gpu {

using ir::Opcode;

const ir::LayoutAttr* to_attr(ir::Context& ctx, const LinearLayout& layout, ir::LayoutKind kind) {
  ir::LayoutAttr::Bases bases;
  for (int d = 0; d < kNumInDims; ++d)
    bases[d] = layout.bases(static_cast<InDim>(d));
  return ctx.layout(kind, std::move(bases));
}

LinearLayout from_attr(const ir::LayoutAttr& attr, std::span<const int64_t> shape) {
  std::array<std::vector<LinearLayout::Basis>, kNumInDims> bases;
  for (int d = 0; d < kNumInDims; ++d)
    bases[d] = attr.bases()[d];
  return LinearLayout(std::move(bases), std::vector<int32_t>(shape.begin(), shape.end()));
}

namespace {

class AssignLayouts {
public:
  AssignLayouts(ir::Module& module, ir::Function& function, int num_warps, ir::PassStats& stats)
      : ctx_(module.ctx), function_(function), num_warps_(num_warps), axis_(function),
        plan_(function, axis_, num_warps), stats_(stats) {
    // The wanted layouts are read from the plan, which is keyed by value: compute them all
    // before any type changes or conversion is inserted.
    ir::walk(function.body, [&](ir::Op& op) { collect(op); });
    ir::walk(function.body, [&](ir::Op& op) { annotate(op); });
    for (const Use& use : uses_)
      convert(use);
    for (const auto& [op, width] : widths_)
      op->set_attr("vec", ir::Attr::of_int(width));
    for (ir::Op* scan : scans_)
      run_in_scan_layout(*scan);
  }

private:
  struct Use {
    ir::Op* op;
    size_t operand;
    LinearLayout layout;
  };

  ir::LayoutKind kind_of(const ir::Op* producer, const LinearLayout& l) const {
    if (producer && producer->has(ir::REDUCTION))
      return ir::LayoutKind::Slice;
    return l.is_dim_separable() ? ir::LayoutKind::Blocked : ir::LayoutKind::Linear;
  }

  void set_layout(ir::Value* v, const ir::Op* producer) {
    if (v->type()->rank() == 0)
      return;
    const LinearLayout* l = plan_.of(v);
    TESSEL_ASSERT(l, "layout assignment left a tensor value without a layout");
    v->set_type(ctx_.with_layout(v->type(), to_attr(ctx_, *l, kind_of(producer, *l))));
    ++stats_["annotated"];
  }

  void annotate(ir::Op& op) {
    for (ir::Value* r : op.results())
      set_layout(r, &op);
    for (size_t i = 0; i < op.num_regions(); ++i)
      for (ir::Value* a : op.region(i).args())
        set_layout(a, nullptr);
  }

  void collect(ir::Op& op) {
    if ((op.opcode() == Opcode::Load || op.opcode() == Opcode::Store) &&
        op.operand(0)->type()->rank() != 0)
      widths_.emplace_back(&op, plan_.vector_of(op, plan_.anchor(op)).width);
    if (op.has(ir::SCAN))
      scans_.push_back(&op);
    for (size_t i = 0; i < op.num_operands(); ++i) {
      const ir::Value* v = op.operand(i);
      if (v->type()->rank() == 0)
        continue;
      std::optional<LinearLayout> want = wanted(op, i);
      const LinearLayout* have = plan_.of(v);
      TESSEL_ASSERT(have, "layout assignment left a tensor operand without a layout");
      if (want && !(*want == *have))
        uses_.push_back(Use{&op, i, *want});
    }
  }

  LinearLayout result_layout(const ir::Value* r) const {
    const LinearLayout* l = plan_.of(r);
    TESSEL_ASSERT(l, "a tensor result without a layout");
    return *l;
  }

  std::optional<LinearLayout> wanted(const ir::Op& op, size_t i) const {
    switch (op.info().family()) {
    case ir::OpFamily::Source:
      return std::nullopt;
    case ir::OpFamily::Elementwise:
    case ir::OpFamily::Scan:
      return result_layout(op.result());
    case ir::OpFamily::Memory:
      if (op.has(ir::DEBUG_OP)) // the value as it is; the mask in the value's layout
        return i == 0 ? std::nullopt : std::optional(*plan_.of(op.operand(0)));
      if (op.opcode() == Opcode::DescStore) // its tile is written to shared memory as it is
        return std::nullopt;
      return plan_.anchor(op);
    case ir::OpFamily::Reduction:
      return plan_.default_for(shape_of(op.operand(0)));
    case ir::OpFamily::Contraction:
      if (i == 2)
        return result_layout(op.result());
      return std::nullopt;
    case ir::OpFamily::Shape:
      return wanted_by_shape_op(op);
    case ir::OpFamily::Control:
      return wanted_by_control(op, i);
    }
    TESSEL_UNREACHABLE("bad op family");
  }

  std::optional<LinearLayout> wanted_by_shape_op(const ir::Op& op) const {
    if (op.result()->type()->rank() == 0)
      return std::nullopt;
    LinearLayout r = result_layout(op.result());
    switch (op.opcode()) {
    case Opcode::Broadcast:
      return r.unbroadcast(shape_of(op.operand(0)));
    case Opcode::ExpandDims:
      return r.slice(static_cast<int>(op.int_attr("axis")));
    case Opcode::Permute: {
      const auto& order = op.attr("order").ints;
      std::vector<int> inverse(order.size());
      for (size_t k = 0; k < order.size(); ++k)
        inverse[order[k]] = static_cast<int>(k);
      return r.permute(inverse);
    }
    case Opcode::Reshape:
      return r.reshape(shape_of(op.operand(0)));
    case Opcode::Hint:
      return r;
    default:
      return std::nullopt; // splat: a scalar operand; convert_layout: is the conversion
    }
  }

  // The layout of the region argument or op result operand `i` of a control op flows into.
  std::optional<LinearLayout> wanted_by_control(const ir::Op& op, size_t i) const {
    const ir::Op* parent = op.parent_op();
    switch (op.opcode()) {
    case Opcode::For:
      return i >= 3 ? std::optional(result_layout(op.result(i - 3))) : std::nullopt;
    case Opcode::While:
      return result_layout(op.region(0).arg(i));
    case Opcode::Yield:
      if (parent->opcode() == Opcode::While && op.parent_block() == &parent->region(1))
        return result_layout(parent->region(0).arg(i));
      return result_layout(parent->result(i));
    case Opcode::Condition:
      return i >= 1 ? std::optional(result_layout(parent->result(i - 1))) : std::nullopt;
    default:
      return std::nullopt; // if: a scalar condition; return: no operands
    }
  }

  // A scan whose layout its algorithm cannot run in: converted in and back out, as the emission
  // did before it only read layouts (the same two conversions; cse may share the first).
  void run_in_scan_layout(ir::Op& scan) {
    ir::Value* r = scan.result();
    const LinearLayout have = from_attr(*r->type()->layout(), r->type()->dims());
    const int axis = static_cast<int>(scan.int_attr("axis"));
    if (scan_ready(have, axis))
      return;
    const LinearLayout l = scan_layout(shape_of(r), axis, num_warps_);
    convert(Use{&scan, 0, l});
    const ir::Type* old_type = r->type();
    r->set_type(ctx_.with_layout(old_type, to_attr(ctx_, l, kind_of(nullptr, l))));
    ir::Block* block = scan.parent_block();
    auto op = std::make_unique<ir::Op>(Opcode::ConvertLayout, std::vector<ir::Value*>{r},
                                       std::span<const ir::Type* const>(&old_type, 1),
                                       std::vector<ir::Attr>{}, scan.loc);
    ir::Op* back = block->insert(std::next(block->find(&scan)), std::move(op))->get();
    ir::replace_all_uses(function_.body, r, back->result());
    back->set_operand(0, r);
    ++stats_["scan layouts"];
  }

  // Inserts the conversion of `use`'s operand just before its op: one per use, as the emission
  // converted implicitly before, so that the generated code is unchanged. Conversions of one
  // value to one layout are pure and equal, so `cse` after this pass shares them (matmul: 12
  // fewer PTX instructions).
  void convert(const Use& use) {
    ir::Value* v = use.op->operand(use.operand);
    const ir::LayoutAttr* attr = to_attr(ctx_, use.layout, kind_of(nullptr, use.layout));
    ir::Block* block = use.op->parent_block();
    const ir::Type* type = ctx_.with_layout(v->type(), attr);
    auto op = std::make_unique<ir::Op>(Opcode::ConvertLayout, std::vector<ir::Value*>{v},
                                       std::span<const ir::Type* const>(&type, 1),
                                       std::vector<ir::Attr>{}, use.op->loc);
    ir::Value* converted = (*block->insert(block->find(use.op), std::move(op)))->result();
    use.op->set_operand(use.operand, converted);
    ++stats_["converts"];
  }

  ir::Context& ctx_;
  ir::Function& function_;
  int num_warps_;
  analysis::AxisAnalysis axis_;
  LayoutPlan plan_;
  ir::PassStats& stats_;
  std::vector<Use> uses_;
  std::vector<std::pair<ir::Op*, int>> widths_; // tensor loads and stores: their `vec`
  std::vector<ir::Op*> scans_;
};

} // namespace

ir::PassInfo assign_layouts_pass(const Target& target, int num_warps) {
  if (!target.is_nvptx())
    throw Error("pass 'assign-layouts' needs an NVPTX target (e.g. --target sm_90a), found '" +
                target.name() + "'");
  auto run = [num_warps](ir::Module& module, ir::PassStats& stats) {
    for (auto& f : module.functions)
      AssignLayouts(module, *f, num_warps, stats);
  };
  return {"assign-layouts",
          "Writes each tensor's layout into its type and inserts convert_layout where a producer's "
          "and a consumer's layouts differ.",
          run};
}

void add_gpu_pass(ir::PassManager& pm, std::string_view name, const Target& target, int num_warps,
                  int num_stages) {
  if (name == "assign-layouts")
    return pm.add(assign_layouts_pass(target, num_warps));
  if (name == "pipeline")
    return pm.add(pipeline_pass(target, num_warps, num_stages));
  if (name == "allocate-shared")
    return pm.add(allocate_shared_pass(target));
  if (name == "prepare-dot-operands")
    return pm.add(prepare_dot_operands_pass(target, num_warps));
  if (name == "assign-tensor-maps")
    return pm.add(assign_tensor_maps_pass(target));
  if (name == "k-slices")
    return pm.add(k_slices_pass(target, num_warps));
  if (name == "warp-specialize") // num_warps consumers and one producer warpgroup on top
    return pm.add(warp_specialize_pass(target, num_warps, WarpRoles{4, num_warps}));
  throw Error("unknown GPU pass '" + std::string(name) +
              "'; valid GPU passes: assign-layouts, pipeline, prepare-dot-operands, "
              "allocate-shared, assign-tensor-maps, k-slices, warp-specialize");
}

bool is_gpu_pass(std::string_view name) {
  return name == "assign-layouts" || name == "pipeline" || name == "prepare-dot-operands" ||
         name == "allocate-shared" || name == "assign-tensor-maps" || name == "k-slices" ||
         name == "warp-specialize";
}

} // namespace tessel::codegen::gpu
