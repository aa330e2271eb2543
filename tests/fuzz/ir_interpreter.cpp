// The reference interpreter's walk over a kernel (ir_interpreter.h): values are whole tiles of
// elements in row-major order, ops run in program order, regions are run by their control op.
// The elementwise rules are in ir_interpreter_elementwise.cpp.
#include "ir_interpreter.h"

#include <cassert>
#include <cmath>
#include <unordered_map>

namespace tessel::fuzz {

namespace {

using ir::Op;
using ir::Opcode;
using ir::Type;
using ir::Value;

// A loop that runs longer than this is not something the generator makes; refuse rather than hang.
constexpr int64_t kMaxIterations = 1 << 16;

struct Tile {
  const Type* type = nullptr;
  std::vector<Elem> e;
};

DType kind_of(const Type* t) {
  const Type* el = t->element();
  return el->is_pointer() ? el->pointee()->dtype() : el->dtype();
}

[[noreturn]] void unsupported(const Op& op, const std::string& why = "") {
  throw Unsupported(std::string("interpreter does not cover op ") + op.name() +
                    (why.empty() ? "" : " (" + why + ")"));
}

// Row-major strides of `dims`.
std::vector<int64_t> strides_of(std::span<const int64_t> dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;)
    s[d - 1] = s[d] * dims[d];
  return s;
}

// The coordinates of flat index `flat` in `dims`.
std::vector<int64_t> coords_of(int64_t flat, std::span<const int64_t> dims) {
  std::vector<int64_t> c(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    c[d] = flat % dims[d];
    flat /= dims[d];
  }
  return c;
}

class Interpreter {
public:
  Interpreter(std::vector<InterpBuffer>& buffers, const ProgramIndex& program)
      : buffers_(buffers), program_(program) {}

  void bind(const Value* v, Tile t) { values_[v] = std::move(t); }

  // Runs the ops of `block`; returns the operands of its terminator.
  std::vector<Tile> run_block(const ir::Block& block) {
    for (const auto& op : block.ops()) {
      if (op->has(ir::TERMINATOR)) {
        std::vector<Tile> out;
        for (const Value* v : op->operands())
          out.push_back(get(v));
        return out;
      }
      run_op(*op);
    }
    return {};
  }

private:
  const Tile& get(const Value* v) const {
    auto it = values_.find(v);
    assert(it != values_.end() && "interpreter: a value used before it is defined");
    return it->second;
  }

  Tile make(const Value* v) const {
    return Tile{v->type(), std::vector<Elem>(size_t(v->type()->num_elements()))};
  }

  void run_op(const Op& op) {
    switch (ir::family_of(op.opcode())) {
    case ir::OpFamily::Source:
      return source(op);
    case ir::OpFamily::Shape:
      return shape(op);
    case ir::OpFamily::Elementwise:
      return elementwise(op);
    case ir::OpFamily::Memory:
      return memory(op);
    case ir::OpFamily::Reduction:
      return reduction(op);
    case ir::OpFamily::Control:
      return control(op);
    case ir::OpFamily::Scan:
      return scan(op);
    case ir::OpFamily::Contraction:
      return dot(op);
    }
  }

  // ---- values out of nothing ----------------------------------------------------------------

  void source(const Op& op) {
    Tile r = make(op.result());
    switch (op.opcode()) {
    case Opcode::Constant: {
      const ir::Attr& a = op.attrs()[0];
      DType k = kind_of(r.type);
      Elem e;
      if (is_float(k))
        e.f = a.kind == ir::Attr::Kind::Float ? a.f : double(a.i);
      else
        e.i = wrap(k, a.kind == ir::Attr::Kind::Float ? uint64_t(int64_t(a.f)) : uint64_t(a.i));
      std::fill(r.e.begin(), r.e.end(), e);
      break;
    }
    case Opcode::ProgramId:
      r.e[0].i = program_.id[size_t(op.int_attr("axis"))];
      break;
    case Opcode::NumPrograms:
      r.e[0].i = program_.count[size_t(op.int_attr("axis"))];
      break;
    case Opcode::Arange:
      for (size_t i = 0; i < r.e.size(); ++i)
        r.e[i].i = op.int_attr("start") + int64_t(i);
      break;
    default:
      unsupported(op);
    }
    bind(op.result(), std::move(r));
  }

  // ---- shapes: elements move, none is computed ----------------------------------------------

  void shape(const Op& op) {
    const Tile& in = get(op.operand(0));
    Tile r = make(op.result());
    switch (op.opcode()) {
    case Opcode::Splat:
      std::fill(r.e.begin(), r.e.end(), in.e[0]);
      break;
    case Opcode::Reshape: // row-major order is kept
    case Opcode::ExpandDims:
      r.e = in.e;
      break;
    case Opcode::Broadcast:
      broadcast(in, r);
      break;
    case Opcode::Permute:
      permute(in, op.attr("order").ints, r);
      break;
    default:
      unsupported(op);
    }
    bind(op.result(), std::move(r));
  }

  static void broadcast(const Tile& in, Tile& r) {
    std::span<const int64_t> from = in.type->dims(), to = r.type->dims();
    std::vector<int64_t> stride = strides_of(from);
    for (int64_t i = 0; i < int64_t(r.e.size()); ++i) {
      std::vector<int64_t> c = coords_of(i, to);
      int64_t src = 0;
      for (size_t d = 0; d < c.size(); ++d)
        src += (from[d] == 1 ? 0 : c[d]) * stride[d];
      r.e[size_t(i)] = in.e[size_t(src)];
    }
  }

  // Result dim d is the operand's dim order[d].
  static void permute(const Tile& in, const std::vector<int64_t>& order, Tile& r) {
    std::vector<int64_t> stride = strides_of(in.type->dims());
    for (int64_t i = 0; i < int64_t(r.e.size()); ++i) {
      std::vector<int64_t> c = coords_of(i, r.type->dims());
      int64_t src = 0;
      for (size_t d = 0; d < c.size(); ++d)
        src += c[d] * stride[size_t(order[d])];
      r.e[size_t(i)] = in.e[size_t(src)];
    }
  }

  // ---- elementwise --------------------------------------------------------------------------

  void elementwise(const Op& op) {
    Tile r = make(op.result());
    std::vector<const Tile*> in;
    for (const Value* v : op.operands())
      in.push_back(&get(v));
    if (op.opcode() == Opcode::AddPtr)
      return addptr(op, *in[0], *in[1], std::move(r));
    const bool select = op.opcode() == Opcode::Select;
    const Type* operand_type = op.operand(select ? 1 : 0)->type();
    if (operand_type->is_pointer_like() && !select)
      unsupported(op, "on pointers");
    DType in_kind = kind_of(operand_type), out_kind = kind_of(r.type);
    std::vector<Elem> x(in.size());
    for (size_t i = 0; i < r.e.size(); ++i) {
      for (size_t k = 0; k < in.size(); ++k)
        x[k] = in[k]->e[i];
      r.e[i] = eval_elementwise(op.opcode(), in_kind, out_kind, x);
    }
    bind(op.result(), std::move(r));
  }

  void addptr(const Op& op, const Tile& ptr, const Tile& off, Tile r) {
    for (size_t i = 0; i < r.e.size(); ++i) {
      if (off.e[i].err > 0)
        throw Unsupported("an address computed from a value the interpreter can only bound");
      r.e[i] = ptr.e[i];
      r.e[i].i += off.e[i].i;
    }
    bind(op.result(), std::move(r));
  }

  // ---- memory -------------------------------------------------------------------------------

  // The byte address of pointer element `p` with pointee `k`; an address outside its buffer is the
  // kernel's mistake (only masked-off elements may point anywhere).
  uint8_t* address(const Op& op, const Elem& p, DType k, double** err) {
    if (p.buf < 0 || size_t(p.buf) >= buffers_.size())
      throw InvalidKernel(std::string(op.name()) + " through a pointer that is no argument");
    InterpBuffer& b = buffers_[size_t(p.buf)];
    const size_t bytes = k == DType::i1 ? 1 : width_of(k) / 8;
    if (p.i < 0 || size_t(p.i + 1) * bytes > b.bytes.size())
      throw InvalidKernel(std::string(op.name()) + " of element " + std::to_string(p.i) +
                          " outside its buffer of " + std::to_string(b.bytes.size() / bytes));
    *err = &b.err[size_t(p.i) * bytes / b.element_bytes()];
    return b.bytes.data() + size_t(p.i) * bytes;
  }

  void memory(const Op& op) {
    if (op.opcode() == Opcode::Load)
      return load(op);
    if (op.opcode() == Opcode::Store)
      return store(op);
    unsupported(op);
  }

  void load(const Op& op) {
    const Tile& ptr = get(op.operand(0));
    const Tile* mask = op.num_operands() > 1 ? &get(op.operand(1)) : nullptr;
    const Tile* other = op.num_operands() > 2 ? &get(op.operand(2)) : nullptr;
    Tile r = make(op.result());
    const DType k = kind_of(r.type);
    for (size_t i = 0; i < r.e.size(); ++i) {
      if (mask && !mask->e[i].i) {
        r.e[i] = other ? other->e[i] : Elem{};
      } else {
        double* err = nullptr;
        const uint8_t* p = address(op, ptr.e[i], k, &err);
        r.e[i] = load_elem(k, p);
        r.e[i].err = *err;
      }
      if (mask && mask->e[i].err > 0)
        r.e[i].err = kOpaque;
    }
    bind(op.result(), std::move(r));
  }

  void store(const Op& op) {
    const Tile& ptr = get(op.operand(0));
    const Tile& value = get(op.operand(1));
    const Tile* mask = op.num_operands() > 2 ? &get(op.operand(2)) : nullptr;
    const DType k = kind_of(value.type);
    for (size_t i = 0; i < value.e.size(); ++i) {
      bool unsure = mask && mask->e[i].err > 0;
      if (mask && !mask->e[i].i && !unsure)
        continue;
      double* err = nullptr;
      uint8_t* p = address(op, ptr.e[i], k, &err);
      store_elem(k, value.e[i], p);
      *err = unsure ? kOpaque : value.e[i].err;
    }
  }

  // ---- reductions ---------------------------------------------------------------------------

  void reduction(const Op& op) {
    const Tile& in = get(op.operand(0));
    Tile r = make(op.result());
    const int64_t axis = op.int_attr("axis");
    std::span<const int64_t> dims = in.type->dims();
    const int64_t n = dims[size_t(axis)], stride = strides_of(dims)[size_t(axis)];
    std::vector<Elem> lane(static_cast<size_t>(n));
    for (int64_t o = 0; o < int64_t(r.e.size()); ++o) {
      // Output element o is input coordinates with `axis` removed: outer * n * stride + inner.
      int64_t outer = o / stride, inner = o % stride;
      for (int64_t j = 0; j < n; ++j)
        lane[size_t(j)] = in.e[size_t(outer * n * stride + j * stride + inner)];
      r.e[size_t(o)] = reduce(op, kind_of(in.type), lane);
    }
    bind(op.result(), std::move(r));
  }

  static Elem reduce(const Op& op, DType k, const std::vector<Elem>& lane) {
    const bool sum = op.opcode() == Opcode::ReduceSum;
    if (op.opcode() == Opcode::ReduceArgmax || op.opcode() == Opcode::ReduceArgmin)
      return arg_reduce(op.opcode() == Opcode::ReduceArgmax, k, lane);
    if (op.opcode() != Opcode::ReduceSum && op.opcode() != Opcode::ReduceMax &&
        op.opcode() != Opcode::ReduceMin)
      unsupported(op);
    if (sum && is_float(k))
      return float_sum(k, lane);
    Opcode combine = sum                                ? Opcode::Add
                     : op.opcode() == Opcode::ReduceMax ? Opcode::Max
                                                        : Opcode::Min;
    Elem acc = lane[0];
    for (size_t j = 1; j < lane.size(); ++j) {
      Elem pair[2] = {acc, lane[j]};
      acc = eval_elementwise(combine, k, k, pair);
    }
    return acc;
  }

  // "The i32 index of the first maximum/minimum, ignoring NaN elements": the extreme by the min/max
  // rule, then the first element equal to it (-0 == +0). All NaN, or a bounded input: no answer.
  static Elem arg_reduce(bool is_max, DType k, const std::vector<Elem>& lane) {
    Elem best = lane[0], r;
    for (const Elem& e : lane) {
      Elem pair[2] = {best, e};
      best = eval_elementwise(is_max ? Opcode::Max : Opcode::Min, k, k, pair);
      if (e.err > 0)
        r.err = kOpaque;
    }
    if (is_float(k) && std::isnan(best.f)) {
      r.err = kOpaque;
      return r;
    }
    for (size_t j = 0; j < lane.size(); ++j)
      if (is_float(k) ? lane[j].f == best.f : lane[j].i == best.i) {
        r.i = int64_t(j);
        break;
      }
    return r;
  }

  // "scan_sum {axis} is the inclusive prefix sum along axis": element j is the sum of elements
  // 0..j, a float one bounded as a sum of j + 1 values in an unspecified order.
  void scan(const Op& op) {
    if (op.opcode() != Opcode::ScanSum)
      unsupported(op);
    const Tile& in = get(op.operand(0));
    Tile r = make(op.result());
    const int64_t axis = op.int_attr("axis");
    std::span<const int64_t> dims = in.type->dims();
    const int64_t n = dims[size_t(axis)], stride = strides_of(dims)[size_t(axis)];
    const DType k = kind_of(in.type);
    for (int64_t o = 0; o < int64_t(in.e.size()) / n; ++o) {
      const int64_t base = (o / stride) * n * stride + o % stride;
      std::vector<Elem> prefix;
      for (int64_t j = 0; j < n; ++j) {
        const Elem& x = in.e[size_t(base + j * stride)];
        prefix.push_back(x);
        Elem& out = r.e[size_t(base + j * stride)];
        if (is_float(k)) {
          out = float_sum(k, prefix);
        } else if (j == 0) {
          out = x;
        } else {
          Elem pair[2] = {r.e[size_t(base + (j - 1) * stride)], x};
          out = eval_elementwise(Opcode::Add, k, k, pair);
        }
      }
    }
    bind(op.result(), std::move(r));
  }

  // "dot a, b, acc: products accumulate into acc's element type": integers exactly (wrapping),
  // floats as a sum of acc and the K exact products in an unspecified order. f32 operands are
  // left out: without a precision attribute the GPU rounds them to tf32.
  void dot(const Op& op) {
    if (op.opcode() == ir::Opcode::DotSparse)
      unsupported(op);
    const Tile &a = get(op.operand(0)), &b = get(op.operand(1)), &acc = get(op.operand(2));
    const DType in = kind_of(a.type), out = kind_of(acc.type);
    const ir::Attr& precision = op.attr("precision");
    if (in == DType::f32 && !(precision.kind == ir::Attr::Kind::Int && precision.i == 0))
      unsupported(op, "f32 operands without precision = ieee");
    if (out != DType::f32 && out != DType::i32)
      unsupported(op, std::string("accumulating in ") + dtype_name(out));
    const int64_t m = a.type->dims()[0], kk = a.type->dims()[1], n = b.type->dims()[1];
    Tile r = make(op.result());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        r.e[size_t(i * n + j)] = dot_element(in, out, a, b, acc.e[size_t(i * n + j)], i, j, kk, n);
    bind(op.result(), std::move(r));
  }

  static Elem dot_element(DType in, DType out, const Tile& a, const Tile& b, const Elem& acc,
                          int64_t i, int64_t j, int64_t kk, int64_t n) {
    std::vector<Elem> terms = {acc};
    for (int64_t k = 0; k < kk; ++k) {
      const Elem &x = a.e[size_t(i * kk + k)], &y = b.e[size_t(k * n + j)];
      Elem p;
      p.err = x.err > 0 || y.err > 0 ? kOpaque : 0;
      // The product in the accumulator's type: exact for f16 and bf16 operands (at most 22
      // significant bits) unless it leaves f32's range (bf16's range is f32's). Whether such a
      // product overflows is not specified (the CPU backend multiplies in f32, the simulator sums
      // exact products in double, as tensor cores may): no answer then.
      if (is_float(in)) {
        const long double exact = (long double)(x.f) * y.f;
        p.f = round_to(DType::f32, exact);
        if (std::isfinite(exact) && std::isinf(p.f))
          p.err = kOpaque;
      } else
        p.i = wrap(out, uint64_t(x.i) * uint64_t(y.i));
      terms.push_back(p);
    }
    if (is_float(out))
      return float_sum(out, terms);
    Elem total = terms[0];
    for (size_t t = 1; t < terms.size(); ++t) {
      Elem pair[2] = {total, terms[t]};
      total = eval_elementwise(Opcode::Add, out, out, pair);
    }
    return total;
  }

  // A float sum in an unspecified order, f16/bf16 accumulated in f32 and rounded once: the value
  // in long double, bounded by (n - 1) f32 roundings of at most sum|x| each, plus the rounding to
  // the type. Infinities and NaNs give the same value in any order. Each rounding is allowed a
  // whole f32 ulp (2^-23 relative), so that an accumulator that truncates (as tensor cores may) is
  // within the bound too.
  static Elem float_sum(DType k, const std::vector<Elem>& lane) {
    long double total = 0, magnitude = 0; // of the finite terms
    double err = 0;
    bool nan = false, pos_inf = false, neg_inf = false;
    for (const Elem& e : lane) {
      nan = nan || std::isnan(e.f);
      pos_inf = pos_inf || e.f == INFINITY;
      neg_inf = neg_inf || e.f == -INFINITY;
      if (std::isfinite(e.f)) {
        total += e.f;
        magnitude += std::fabs(e.f);
      }
      err += e.err;
    }
    // Past this, a partial sum may overflow f32 in one order and not in another (and an infinity
    // meet the opposite one made by the overflow).
    const bool may_overflow = magnitude > 1e38L;
    Elem r;
    if (nan || (pos_inf && neg_inf)) {
      r.f = NAN;
      r.err = std::isinf(err) ? kOpaque : 0;
      return r;
    }
    if (pos_inf || neg_inf) {
      r.f = pos_inf ? INFINITY : -INFINITY;
      r.err = std::isinf(err) || may_overflow ? kOpaque : 0;
      return r;
    }
    r.f = round_to(k, total);
    if (may_overflow)
      r.err = kOpaque;
    else
      r.err = err + double(lane.size() - 1) * std::ldexp(double(magnitude), -23) +
              ulp(DType::f32, r.f) + ulp(k, r.f);
    return r;
  }

  // ---- control flow -------------------------------------------------------------------------

  void control(const Op& op) {
    if (op.opcode() == Opcode::For)
      return for_loop(op);
    if (op.opcode() == Opcode::If)
      return if_op(op);
    unsupported(op);
  }

  static int64_t exact_int(const Tile& t, const char* what) {
    if (t.e[0].err > 0)
      throw Unsupported(std::string("a loop ") + what + " the interpreter can only bound");
    return t.e[0].i;
  }

  void for_loop(const Op& op) {
    const DType k = kind_of(op.operand(0)->type());
    const int64_t lo = exact_int(get(op.operand(0)), "bound"),
                  hi = exact_int(get(op.operand(1)), "bound"),
                  step = exact_int(get(op.operand(2)), "step");
    std::vector<Tile> carried;
    for (size_t i = 3; i < op.num_operands(); ++i)
      carried.push_back(get(op.operand(i)));
    const ir::Block& body = op.region(0);
    int64_t iterations = 0;
    // iv < hi in the bounds' signedness, computed without overflow (__int128); step <= 0 runs none.
    auto below = [&](__int128 iv) {
      return is_unsigned(k) ? uint64_t(iv) < uint64_t(hi) && iv <= __int128(UINT64_MAX)
                            : iv < __int128(hi);
    };
    for (__int128 iv = is_unsigned(k) ? __int128(uint64_t(lo)) : __int128(lo);
         step > 0 && below(iv); iv += step) {
      if (++iterations > kMaxIterations)
        throw Unsupported("a loop of more than 65536 iterations");
      Tile ivt{body.arg(0)->type(), {Elem{}}};
      ivt.e[0].i = wrap(k, uint64_t(iv));
      bind(body.arg(0), std::move(ivt));
      for (size_t i = 0; i < carried.size(); ++i)
        bind(body.arg(i + 1), carried[i]);
      carried = run_block(body);
    }
    for (size_t i = 0; i < carried.size(); ++i)
      bind(op.result(i), carried[i]);
  }

  void if_op(const Op& op) {
    const Tile& c = get(op.operand(0));
    if (c.e[0].err > 0)
      throw Unsupported("a branch on a value the interpreter can only bound");
    std::vector<Tile> results = run_block(op.region(c.e[0].i ? 0 : 1));
    for (size_t i = 0; i < results.size(); ++i)
      bind(op.result(i), results[i]);
  }

  std::vector<InterpBuffer>& buffers_;
  const ProgramIndex& program_;
  // Looked up only, never iterated (so its order does not matter).
  std::unordered_map<const Value*, Tile> values_;
};

} // namespace

void interpret(const ir::Function& fn, std::span<const InterpArg> args,
               std::vector<InterpBuffer>& buffers, const ProgramIndex& program) {
  assert(args.size() == fn.body.num_args() && "interpret: one argument per kernel parameter");
  Interpreter interp(buffers, program);
  for (size_t i = 0; i < args.size(); ++i) {
    const Value* param = fn.body.arg(i);
    Tile t{param->type(), {Elem{}}};
    if (param->type()->is_pointer()) {
      t.e[0].buf = args[i].buffer;
    } else if (param->type()->is_integer()) {
      t.e[0].i = wrap(param->type()->dtype(), uint64_t(args[i].integer));
    } else {
      throw Unsupported("interpreter does not cover a float kernel parameter");
    }
    interp.bind(param, std::move(t));
  }
  interp.run_block(fn.body);
}

} // namespace tessel::fuzz
