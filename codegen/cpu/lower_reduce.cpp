// Reductions and scans of the CPU lowering. Along the last (contiguous) axis, each output
// element is a running accumulator in a stack slot that SROA turns into a loop phi, or, for a
// float sum, max or min over rows longer than 16 and a multiple of 16, 16 lanes of them
// (reduce_in_lanes); float sums carry the `reassoc` flag (ir.h leaves the order unspecified) and
// min/max use llvm.minnum/maxnum with NaN as the identity, so LLVM vectorizes them. Along any
// other axis the whole input is walked in row-major order and accumulated into the output array,
// so the inner loop runs over the contiguous axis and vectorizes as plain elementwise code.
// f16/bf16 accumulate in f32 and round once at the end. argmax/argmin keep the first index on ties
// and ignore NaNs like max/min.
#include "codegen/cpu/lowering.h"

#include <fmt/format.h>

#include <algorithm>
#include <span>
#include <vector>

namespace tessel::codegen::cpu::detail {

namespace {

enum class Kind { Sum, Max, Min, Argmax, Argmin, Custom };

// Only the reduction family reaches here; a reduction added to ops.def without a kind here stops
// at the assertion instead of being lowered as a custom combine.
Kind kind_of(ir::Opcode op) {
  TESSEL_ASSERT(ir::family_of(op) == ir::OpFamily::Reduction, "reduce lowering of a non-reduction");
  switch (op) {
  case ir::Opcode::ReduceSum:
    return Kind::Sum;
  case ir::Opcode::ReduceMax:
    return Kind::Max;
  case ir::Opcode::ReduceMin:
    return Kind::Min;
  case ir::Opcode::ReduceArgmax:
    return Kind::Argmax;
  case ir::Opcode::ReduceArgmin:
    return Kind::Argmin;
  case ir::Opcode::Reduce:
    return Kind::Custom;
  default:
    break; // the other families never reach here
  }
  TESSEL_UNREACHABLE("a reduction without a reduce kind");
}

// An accumulator: the running value, and for argmax/argmin the running index.
struct Acc {
  llvm::Value* value = nullptr;
  llvm::Value* index = nullptr;
};

class Reducer {
public:
  Reducer(Lowering& l, const ir::Op& op)
      : l_(l), b_(l.b), op_(op), kind_(kind_of(op.opcode())), x_(op.operand(0)),
        elem_(x_->type()->element()), acc_type_(l.compute_type(elem_)) {}

  // The start value, or null for a custom combine (which starts from the first element).
  llvm::Value* identity() {
    bool fl = elem_->is_float();
    switch (kind_) {
    case Kind::Sum:
      return fl ? llvm::ConstantFP::getNegativeZero(acc_type_)
                : llvm::ConstantInt::get(acc_type_, 0);
    case Kind::Max:
    case Kind::Argmax:
      // NaN is neutral for maxnum: maxnum(NaN, x) = x; 0 for an unsigned max.
      return fl ? llvm::ConstantFP::getNaN(acc_type_)
                : llvm::ConstantInt::get(acc_type_,
                                         uns() ? llvm::APInt::getMinValue(int_bits())
                                               : llvm::APInt::getSignedMinValue(int_bits()));
    case Kind::Min:
    case Kind::Argmin:
      return fl ? llvm::ConstantFP::getNaN(acc_type_)
                : llvm::ConstantInt::get(acc_type_,
                                         uns() ? llvm::APInt::getMaxValue(int_bits())
                                               : llvm::APInt::getSignedMaxValue(int_bits()));
    case Kind::Custom:
      return nullptr;
    }
    TESSEL_UNREACHABLE("unknown reduction kind");
  }

  Acc combine(Acc acc, llvm::Value* x, llvm::Value* i) {
    bool fl = elem_->is_float();
    switch (kind_) {
    case Kind::Sum: {
      if (!fl)
        return {b_.CreateAdd(acc.value, x), nullptr};
      auto* add = llvm::cast<llvm::Instruction>(b_.CreateFAdd(acc.value, x));
      add->setHasAllowReassoc(true);
      return {add, nullptr};
    }
    case Kind::Max:
      return {fl ? b_.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, acc.value, x)
                 : b_.CreateBinaryIntrinsic(uns() ? llvm::Intrinsic::umax : llvm::Intrinsic::smax,
                                            acc.value, x),
              nullptr};
    case Kind::Min:
      return {fl ? b_.CreateBinaryIntrinsic(llvm::Intrinsic::minnum, acc.value, x)
                 : b_.CreateBinaryIntrinsic(uns() ? llvm::Intrinsic::umin : llvm::Intrinsic::smin,
                                            acc.value, x),
              nullptr};
    case Kind::Argmax:
    case Kind::Argmin: {
      bool mx = kind_ == Kind::Argmax;
      llvm::Value* better =
          fl ? (mx ? b_.CreateFCmpOGT(x, acc.value) : b_.CreateFCmpOLT(x, acc.value))
             : (mx ? (uns() ? b_.CreateICmpUGT(x, acc.value) : b_.CreateICmpSGT(x, acc.value))
                   : (uns() ? b_.CreateICmpULT(x, acc.value) : b_.CreateICmpSLT(x, acc.value)));
      if (fl) // A number beats the NaN start value (and NaN inputs never win).
        better = b_.CreateOr(
            better, b_.CreateAnd(b_.CreateFCmpUNO(acc.value, acc.value), b_.CreateFCmpORD(x, x)));
      return {b_.CreateSelect(better, x, acc.value), b_.CreateSelect(better, i, acc.index)};
    }
    case Kind::Custom: {
      const ir::Block& region = op_.region(0);
      if (region.num_args() != 2 || !region.terminator() ||
          region.terminator()->num_operands() != 1)
        l_.unsupported(op_, "the combine region must take two scalars and yield one");
      l_.set_scalar(region.arg(0), acc.value);
      l_.set_scalar(region.arg(1), x);
      for (const auto& inner : region.ops())
        if (inner.get() != region.terminator())
          l_.lower_op(*inner);
      return {l_.scalar(region.terminator()->operand(0)), nullptr};
    }
    }
    TESSEL_UNREACHABLE("unknown reduction kind");
  }

  bool has_index() const { return kind_ == Kind::Argmax || kind_ == Kind::Argmin; }
  // u8..u64 order as unsigned numbers (their compute type is as wide, so no sign bit intrudes).
  bool uns() const { return elem_->is_unsigned(); }
  unsigned int_bits() const { return acc_type_->getIntegerBitWidth(); }
  // The op's result element from an accumulator.
  llvm::Value* finish(const Acc& acc) {
    if (has_index())
      return acc.index;
    return kind_ == Kind::Custom ? acc.value : l_.round_to(acc.value, elem_);
  }

  void run() {
    auto shape = x_->type()->dims();
    int64_t axis = op_.int_attr("axis");
    if (axis < 0 || axis >= int64_t(shape.size()))
      l_.unsupported(op_, fmt::format("axis {} is out of range for {}", axis, x_->type()->str()));
    const ir::Type* rt = op_.result()->type();
    if (axis == int64_t(shape.size()) - 1)
      along_last(shape, rt);
    else
      along_outer(shape, axis, rt);
  }

private:
  llvm::Value* slot(llvm::Type* t) {
    llvm::IRBuilder<> eb(l_.entry_block, l_.entry_block->begin());
    return eb.CreateAlloca(t);
  }

  // A float max/min has no fast-math flags (NaN is its identity and inputs may be NaN), and
  // LLVM's loop vectoriser only turns a maxnum/minnum chain into a vector reduction under nnan
  // and nsz: a single accumulator stays a serial scalar chain of n steps (softmax's row max at
  // 128 columns was most of its time). kLanes accumulators, lane j taking the columns congruent
  // to j, make the inner loop elementwise (vector maxnum/minnum); llvm.vector.reduce.fmax/fmin,
  // which have maxnum/minnum's NaN semantics, then combine the lanes. max and min are exact, so
  // only the sign of a zero result when +0 and -0 tie may differ from the serial order.
  //
  // A float sum takes the same lanes: with one reassoc accumulator LLVM fully unrolled a short
  // constant row (64 columns: attention's row sum of p) and then vectorised the loop over rows,
  // as gathers of one column of 8 rows (512 vgatherqps per 64 x 64 tile, a gather per 8 adds);
  // the lanes keep each row's columns contiguous. The order of a float sum is unspecified (ir.h).
  static constexpr int64_t kLanes = 16;
  bool splits_into_lanes(int64_t n) const {
    return elem_->is_float() && (kind_ == Kind::Max || kind_ == Kind::Min || kind_ == Kind::Sum) &&
           n > kLanes && n % kLanes == 0;
  }

  // Each of kLanes' lanes is itself split in kChains: a chain of dependent vector maxnums or adds
  // one 16-column chunk after another is bound by their latency (4-5 cycles a chunk for maxnum's
  // compare and blend), not by throughput; kChains independent chains over interleaved chunks
  // keep the vector units busy (softmax's and layer norm's row reductions at 1024-4096 columns).
  static constexpr int64_t kChains = 4;
  static int64_t chains_for(int64_t n) { return std::min(kChains, n / kLanes); }

  // The sum/max/min of x's row at `idx` (its last index is overwritten) through chains_for(n)
  // accumulators of kLanes lanes each, one after another in `lanes` (kChains * kLanes elements).
  llvm::Value* reduce_in_lanes(Index& idx, int64_t n, llvm::Value* lanes) {
    auto* vec_type = llvm::FixedVectorType::get(acc_type_, unsigned(kLanes));
    const int64_t chains = chains_for(n);
    for (int64_t c = 0; c < chains; ++c)
      b_.CreateStore(llvm::ConstantVector::getSplat(vec_type->getElementCount(),
                                                    llvm::cast<llvm::Constant>(identity())),
                     b_.CreateConstInBoundsGEP1_64(acc_type_, lanes, c * kLanes));
    // One inner loop over the group's chains * kLanes columns, column j into accumulator j of
    // the chains' contiguous lanes: after unrolling every column's index is the group's base plus
    // a constant, which the SLP vectoriser sees as consecutive. With a loop per chain, the chains
    // after the first indexed `base | 16c + j`, which it vectorised as a vector of indices and
    // then loaded element by element (vpinsrw: 48 of softmax's bf16 row max and sum at 1024
    // columns; f32 rows took vgatherqps).
    const int64_t width = kLanes * chains;
    l_.with_lazy_masks_fast_path({x_}, [&] {
      l_.counted_loop(
          l_.i64(0), l_.i64(n / width),
          [&](llvm::Value* group) {
            llvm::Value* base = b_.CreateMul(group, l_.i64(width), "", true, true);
            l_.counted_loop(
                l_.i64(0), l_.i64(width),
                [&](llvm::Value* j) {
                  idx.back() = b_.CreateAdd(base, j, "", true, true);
                  llvm::Value* at = b_.CreateInBoundsGEP(acc_type_, lanes, j);
                  Acc next = combine({b_.CreateLoad(acc_type_, at), nullptr}, l_.element(x_, idx),
                                     nullptr);
                  b_.CreateStore(next.value, at);
                },
                "lane");
          },
          "red");
    });
    auto chain = [&](int64_t c) {
      return b_.CreateLoad(vec_type, b_.CreateConstInBoundsGEP1_64(acc_type_, lanes, c * kLanes));
    };
    llvm::Value* all = chain(0);
    for (int64_t c = 1; c < chains; ++c)
      all = combine_vectors(all, chain(c));
    if (kind_ == Kind::Sum) { // reassoc: a tree of vector adds, not 16 serial ones
      auto* sum = llvm::cast<llvm::Instruction>(b_.CreateFAddReduce(identity(), all));
      sum->setHasAllowReassoc(true);
      return sum;
    }
    return halving_tree(all);
  }

  // Two vectors of lanes combined lane by lane (a float sum, max or min).
  llvm::Value* combine_vectors(llvm::Value* a, llvm::Value* c) {
    if (kind_ == Kind::Sum) {
      auto* add = llvm::cast<llvm::Instruction>(b_.CreateFAdd(a, c));
      add->setHasAllowReassoc(true);
      return add;
    }
    return b_.CreateBinaryIntrinsic(
        kind_ == Kind::Max ? llvm::Intrinsic::maxnum : llvm::Intrinsic::minnum, a, c);
  }

  // The max/min of a vector's lanes by halving it log2(lanes) times. llvm.vector.reduce.fmax
  // without nnan is expanded into a serial chain of lanes - 1 scalar maxnums (each a compare and
  // a blend: ~60 cycles of latency at 16 lanes, per row); maxnum and minnum are associative and
  // commutative, so the tree gives the same value (up to the sign of a zero result when +0 and -0
  // tie, as with the lanes themselves).
  llvm::Value* halving_tree(llvm::Value* v) {
    auto lanes = llvm::cast<llvm::FixedVectorType>(v->getType())->getNumElements();
    for (unsigned w = lanes; w > 1; w /= 2) {
      std::vector<int> lo(w / 2), hi(w / 2);
      for (unsigned i = 0; i < w / 2; ++i) {
        lo[i] = int(i);
        hi[i] = int(i + w / 2);
      }
      v = combine_vectors(b_.CreateShuffleVector(v, lo), b_.CreateShuffleVector(v, hi));
    }
    return b_.CreateExtractElement(v, uint64_t(0));
  }

  // A max/min over rows of 2 to kLanes elements: each row's elements go into one vector that
  // llvm.vector.reduce.* combine in a log2(n) tree. A float row otherwise stays a serial chain of n
  // maxnum; an integer one the loop vectorizer turned into gathers across 16 rows (topk's maxima
  // over groups of 16 columns were most of its time).
  bool reduces_as_one_vector(int64_t n) const {
    bool narrow_int = !elem_->is_float() && int_bits() < 8; // i1: no signed order to reduce by
    return (kind_ == Kind::Max || kind_ == Kind::Min) && !narrow_int && n > 1 && n <= kLanes;
  }

  llvm::Value* reduce_vector(llvm::Value* row) {
    bool mx = kind_ == Kind::Max;
    if (elem_->is_float())
      return halving_tree(row);
    return mx ? b_.CreateIntMaxReduce(row, !uns()) : b_.CreateIntMinReduce(row, !uns());
  }

  // One accumulator per output element, running over the contiguous axis.
  void along_last(std::span<const int64_t> shape, const ir::Type* rt) {
    std::vector<int64_t> outer(shape.begin(), shape.end() - 1);
    int64_t n = shape.back();
    if (splits_into_lanes(n))
      return along_last_in_lanes(outer, n, rt);
    if (reduces_as_one_vector(n))
      return along_last_as_vector(outer, n, rt);
    llvm::Value* storage = rt->rank() == 0 ? nullptr : l_.new_array(rt);
    llvm::Value* value_slot = slot(acc_type_);
    llvm::Value* index_slot = has_index() ? slot(b_.getInt32Ty()) : nullptr;
    l_.loop_nest(outer, [&](const Index& oidx) {
      Index idx = oidx;
      idx.push_back(l_.i64(0));
      llvm::Value* start = identity();
      int64_t first = 0;
      if (!start) {
        start = l_.element(x_, idx);
        first = 1;
      }
      b_.CreateStore(start, value_slot);
      if (index_slot)
        b_.CreateStore(b_.getInt32(0), index_slot);
      l_.with_lazy_masks_fast_path({x_}, [&] {
        l_.counted_loop(
            l_.i64(first), l_.i64(n),
            [&](llvm::Value* k) {
              idx.back() = k;
              Acc acc{b_.CreateLoad(acc_type_, value_slot),
                      index_slot ? b_.CreateLoad(b_.getInt32Ty(), index_slot) : nullptr};
              Acc next = combine(acc, l_.element(x_, idx), b_.CreateTrunc(k, b_.getInt32Ty()));
              b_.CreateStore(next.value, value_slot);
              if (index_slot)
                b_.CreateStore(next.index, index_slot);
            },
            "red");
      });
      Acc acc{b_.CreateLoad(acc_type_, value_slot),
              index_slot ? b_.CreateLoad(b_.getInt32Ty(), index_slot) : nullptr};
      llvm::Value* out = finish(acc);
      if (storage)
        l_.store_element(out, l_.element_address(storage, rt, oidx), rt->element());
      else
        l_.set_scalar(op_.result(), out);
    });
    if (storage)
      l_.set_stored(op_.result(), storage);
  }

  // along_last for a max/min over short rows (reduces_as_one_vector).
  void along_last_as_vector(std::span<const int64_t> outer, int64_t n, const ir::Type* rt) {
    llvm::Value* storage = rt->rank() == 0 ? nullptr : l_.new_array(rt);
    auto* vec_type = llvm::FixedVectorType::get(acc_type_, unsigned(n));
    l_.loop_nest(outer, [&](const Index& oidx) {
      Index idx = oidx;
      idx.push_back(nullptr);
      llvm::Value* row = llvm::PoisonValue::get(vec_type);
      for (int64_t j = 0; j < n; ++j) {
        idx.back() = l_.i64(j);
        row = b_.CreateInsertElement(row, l_.element(x_, idx), uint64_t(j));
      }
      llvm::Value* out = finish({reduce_vector(row), nullptr});
      if (storage)
        l_.store_element(out, l_.element_address(storage, rt, oidx), rt->element());
      else
        l_.set_scalar(op_.result(), out);
    });
    if (storage)
      l_.set_stored(op_.result(), storage);
  }

  // along_last for a float sum/max/min whose rows split into kLanes lanes.
  void along_last_in_lanes(std::span<const int64_t> outer, int64_t n, const ir::Type* rt) {
    llvm::Value* storage = rt->rank() == 0 ? nullptr : l_.new_array(rt);
    auto* lanes = llvm::cast<llvm::AllocaInst>(
        slot(llvm::ArrayType::get(acc_type_, uint64_t(kLanes * kChains))));
    lanes->setAlignment(llvm::Align(64)); // loaded and stored as vectors of kLanes

    l_.loop_nest(outer, [&](const Index& oidx) {
      Index idx = oidx;
      idx.push_back(l_.i64(0));
      llvm::Value* out = finish({reduce_in_lanes(idx, n, lanes), nullptr});
      if (storage)
        l_.store_element(out, l_.element_address(storage, rt, oidx), rt->element());
      else
        l_.set_scalar(op_.result(), out);
    });
    if (storage)
      l_.set_stored(op_.result(), storage);
  }

  // Accumulates the input in row-major order into an array shaped like the output.
  void along_outer(std::span<const int64_t> shape, int64_t axis, const ir::Type* rt) {
    TESSEL_ASSERT(rt->rank() > 0, "a reduction along a non-last axis keeps a dimension");
    // Accumulators in the compute type (f32 for f16/bf16); indices in the result when arg*.
    llvm::Value* values = l_.new_array(rt, acc_type_);
    llvm::Value* indices = has_index() ? l_.new_array(rt) : nullptr;
    auto value_at = [&](const Index& o) {
      return b_.CreateInBoundsGEP(acc_type_, values, linear(rt, o));
    };
    auto index_at = [&](const Index& o) {
      return b_.CreateInBoundsGEP(b_.getInt32Ty(), indices, linear(rt, o));
    };
    auto drop_axis = [&](const Index& idx) {
      Index o = idx;
      o.erase(o.begin() + axis);
      return o;
    };
    // Start: the identity, or the slice at axis index 0 for a custom combine.
    std::vector<int64_t> rest(shape.begin(), shape.end());
    int64_t first = 0;
    llvm::Value* start = identity();
    if (start) {
      l_.loop_nest(rt->dims(), [&](const Index& o) {
        b_.CreateStore(start, value_at(o));
        if (indices)
          b_.CreateStore(b_.getInt32(0), index_at(o));
      });
    } else {
      first = 1;
      l_.loop_nest(rt->dims(), [&](const Index& o) {
        Index idx = o;
        idx.insert(idx.begin() + axis, l_.i64(0));
        b_.CreateStore(l_.element(x_, idx), value_at(o));
      });
    }
    // Walk the input (skipping the first slice when it was the start) in row-major order.
    rest[axis] = shape[axis] - first;
    l_.loop_nest(rest, [&](const Index& ridx) {
      Index idx = ridx;
      if (first)
        idx[axis] = b_.CreateAdd(idx[axis], l_.i64(first));
      Index o = drop_axis(idx);
      Acc acc{b_.CreateLoad(acc_type_, value_at(o)),
              indices ? b_.CreateLoad(b_.getInt32Ty(), index_at(o)) : nullptr};
      Acc next = combine(acc, l_.element(x_, idx), b_.CreateTrunc(idx[axis], b_.getInt32Ty()));
      b_.CreateStore(next.value, value_at(o));
      if (indices)
        b_.CreateStore(next.index, index_at(o));
    });
    if (indices) {
      l_.set_stored(op_.result(), indices);
      return;
    }
    if (acc_type_ == l_.storage_type(rt->element())) {
      l_.set_stored(op_.result(), values);
      return;
    }
    // Round (f16/bf16) or convert to the storage type.
    llvm::Value* storage = l_.new_array(rt);
    l_.loop_nest(rt->dims(), [&](const Index& o) {
      llvm::Value* v = b_.CreateLoad(acc_type_, value_at(o));
      l_.store_element(finish({v, nullptr}), l_.element_address(storage, rt, o), rt->element());
    });
    l_.set_stored(op_.result(), storage);
  }

  llvm::Value* linear(const ir::Type* t, const Index& idx) {
    auto shape = t->dims();
    llvm::Value* lin = l_.i64(0);
    int64_t shift = 0;
    for (size_t d = shape.size(); d-- > 0;) {
      lin = b_.CreateAdd(lin, b_.CreateShl(idx[d], shift));
      shift += log2_exact(shape[d]);
    }
    return lin;
  }

  Lowering& l_;
  llvm::IRBuilder<>& b_;
  const ir::Op& op_;
  Kind kind_;
  const ir::Value* x_;
  const ir::Type* elem_;
  llvm::Type* acc_type_;
};

} // namespace

void Lowering::lower_reduce(const ir::Op& op) { Reducer(*this, op).run(); }

void Lowering::lower_scan(const ir::Op& op) {
  const ir::Value* x = op.operand(0);
  const ir::Type* t = x->type();
  auto shape = t->dims();
  int64_t axis = op.int_attr("axis");
  if (axis < 0 || axis >= int64_t(shape.size()))
    unsupported(op, fmt::format("axis {} is out of range for {}", axis, t->str()));
  const ir::Type* elem = t->element();
  llvm::Type* acc_type = compute_type(elem);
  bool fl = elem->is_float();
  auto add = [&](llvm::Value* a, llvm::Value* c) {
    return fl ? b.CreateFAdd(a, c) : b.CreateAdd(a, c);
  };
  llvm::Value* zero =
      fl ? llvm::ConstantFP::getNegativeZero(acc_type) : llvm::ConstantInt::get(acc_type, 0);
  // Running sums in the compute type, rounded (f16/bf16) only where written out.
  llvm::Value* sums = new_array(t, acc_type);
  auto sum_at = [&](const Index& idx) {
    llvm::Value* lin = i64(0);
    int64_t shift = 0;
    for (size_t d = shape.size(); d-- > 0;) {
      lin = b.CreateAdd(lin, b.CreateShl(idx[d], shift));
      shift += log2_exact(shape[d]);
    }
    return b.CreateInBoundsGEP(acc_type, sums, lin);
  };
  // Row-major walk: sums[idx] = x[idx] + sums[idx - e_axis]. For the last axis the previous
  // element was just written; otherwise the previous slice was, and the inner loop vectorizes.
  loop_nest(shape, [&](const Index& idx) {
    llvm::Value* v = element(x, idx);
    Index prev = idx;
    llvm::Value* has_prev = b.CreateICmpSGT(idx[axis], i64(0));
    prev[axis] = b.CreateSelect(has_prev, b.CreateSub(idx[axis], i64(1)), i64(0));
    llvm::Value* before = b.CreateSelect(has_prev, b.CreateLoad(acc_type, sum_at(prev)), zero);
    b.CreateStore(add(before, v), sum_at(idx));
  });
  if (acc_type == storage_type(elem)) {
    set_stored(op.result(), sums);
    return;
  }
  llvm::Value* storage = new_array(t);
  loop_nest(shape, [&](const Index& idx) {
    store_element(round_to(b.CreateLoad(acc_type, sum_at(idx)), elem),
                  element_address(storage, t, idx), elem);
  });
  set_stored(op.result(), storage);
}

} // namespace tessel::codegen::cpu::detail
