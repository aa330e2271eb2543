// Type uniquing and type queries.
#include "tessel/ir/types.h"

#include "tessel/error.h"

namespace tessel::ir {

bool is_power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

DType Type::dtype() const {
  TESSEL_ASSERT(is_scalar(), "dtype() of a non-scalar type");
  return dtype_;
}
const Type* Type::pointee() const {
  TESSEL_ASSERT(is_pointer(), "pointee() of a non-pointer type");
  return element_;
}
unsigned Type::address_space() const {
  TESSEL_ASSERT(is_pointer(), "address_space() of a non-pointer type");
  return address_space_;
}
const std::vector<int64_t>& Type::shape() const {
  TESSEL_ASSERT(is_tensor(), "shape() of a non-tensor type");
  return shape_;
}
std::span<const int64_t> Type::dims() const {
  if (!is_tensor())
    return {};
  return shape_;
}
int64_t Type::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims())
    n *= d;
  return n;
}
bool Type::is_float() const {
  const Type* e = element();
  return e->is_scalar() && dtype_is_float(e->dtype_);
}
bool Type::is_integer() const {
  const Type* e = element();
  return e->is_scalar() && !dtype_is_float(e->dtype_);
}
bool Type::is_unsigned() const {
  const Type* e = element();
  return e->is_scalar() && dtype_is_unsigned(e->dtype_);
}
bool Type::is_fp8() const {
  const Type* e = element();
  return e->is_scalar() && dtype_is_fp8(e->dtype_);
}
bool Type::is_bool() const {
  const Type* e = element();
  return e->is_scalar() && e->dtype_ == DType::i1;
}
unsigned Type::element_bits() const {
  const Type* e = element();
  return e->is_pointer() ? 64 : dtype_bits(e->dtype_);
}

std::string Type::str() const {
  switch (kind_) {
  case Kind::Scalar:
    return dtype_name(dtype_);
  case Kind::Pointer:
    if (address_space_ == 1)
      return "ptr<" + element_->str() + ">";
    return "ptr<" + element_->str() + ", " + std::to_string(address_space_) + ">";
  case Kind::Tensor: {
    std::string s = "tensor<";
    for (int64_t d : shape_)
      s += std::to_string(d) + "x";
    s += element_->str();
    if (layout_)
      s += ", " + layout_->str();
    return s + ">";
  }
  }
  TESSEL_UNREACHABLE("bad type kind");
}

Type& Context::new_type() {
  storage_.push_back(std::unique_ptr<Type>(new Type()));
  return *storage_.back();
}

Context::Context() {
  for (size_t k = 0; k <= size_t(kLastDType); ++k) {
    Type& t = new_type();
    t.kind_ = Type::Kind::Scalar;
    t.dtype_ = static_cast<DType>(k);
    scalars_.push_back(&t);
  }
}

const Type* Context::pointer(const Type* pointee, unsigned address_space) {
  TESSEL_ASSERT(pointee->is_scalar(), "pointers point at scalars");
  auto [it, inserted] = pointers_.try_emplace({pointee, address_space}, nullptr);
  if (inserted) {
    Type& t = new_type();
    t.kind_ = Type::Kind::Pointer;
    t.element_ = pointee;
    t.address_space_ = address_space;
    it->second = &t;
  }
  return it->second;
}

const Type* Context::tensor(std::span<const int64_t> shape, const Type* element,
                            const LayoutAttr* layout) {
  TESSEL_ASSERT(!element->is_tensor(), "tensor elements are scalars or pointers");
  if (shape.empty())
    return element;
  std::vector<int64_t> dims(shape.begin(), shape.end());
  for (int64_t d : dims)
    TESSEL_ASSERT(is_power_of_two(d), "tensor dims must be powers of two (the DSL checks this)");
  auto [it, inserted] = tensors_.try_emplace({dims, element, layout}, nullptr);
  if (inserted) {
    Type& t = new_type();
    t.kind_ = Type::Kind::Tensor;
    t.element_ = element;
    t.layout_ = layout;
    t.shape_ = std::move(dims);
    it->second = &t;
  }
  return it->second;
}

const Type* Context::with_element(const Type* like, const Type* element) {
  return tensor(like->dims(), element, like->layout());
}

const Type* Context::with_layout(const Type* like, const LayoutAttr* layout) {
  if (!like->is_tensor())
    return like;
  return tensor(like->dims(), like->element(), layout);
}

const LayoutAttr* Context::layout(LayoutKind kind, LayoutAttr::Bases bases) {
  auto [it, inserted] = layouts_.try_emplace({kind, bases}, nullptr);
  if (inserted) {
    it->second.reset(new LayoutAttr());
    it->second->kind_ = kind;
    it->second->bases_ = std::move(bases);
  }
  return it->second.get();
}

const char* layout_kind_name(LayoutKind k) {
  switch (k) {
  case LayoutKind::Blocked:
    return "blocked";
  case LayoutKind::Slice:
    return "slice";
  case LayoutKind::Shared:
    return "shared";
  case LayoutKind::Linear:
    return "linear";
  case LayoutKind::Mma:
    return "mma";
  case LayoutKind::DotOperand:
    return "dot_op";
  }
  TESSEL_UNREACHABLE("bad layout kind");
}

const char* LayoutAttr::in_dim_name(int d) {
  static constexpr const char* kNames[kNumInDims] = {"register", "lane", "warp", "block"};
  TESSEL_ASSERT(d >= 0 && d < kNumInDims, "bad layout input dim");
  return kNames[d];
}

std::optional<std::string> LayoutAttr::mismatch(std::span<const int64_t> shape) const {
  for (int d = 0; d < kNumInDims; ++d) {
    for (const Basis& b : bases_[d]) {
      if (b.size() != shape.size())
        return std::string("a ") + in_dim_name(d) + " basis has " + std::to_string(b.size()) +
               " coordinates for a rank-" + std::to_string(shape.size()) + " tensor";
      for (size_t i = 0; i < b.size(); ++i)
        if (b[i] < 0 || b[i] >= shape[i])
          return std::string("a ") + in_dim_name(d) + " basis has coordinate " +
                 std::to_string(b[i]) + " outside dim " + std::to_string(i) + " of size " +
                 std::to_string(shape[i]);
    }
  }
  return std::nullopt;
}

// A basis is written as a plain integer when it has one coordinate (rank 1), else as a list.
std::string LayoutAttr::str() const {
  std::string s = std::string("#") + layout_kind_name(kind_) + "<";
  bool first_dim = true;
  for (int d = 0; d < kNumInDims; ++d) {
    if (bases_[d].empty())
      continue;
    s += (first_dim ? "" : ", ") + std::string(in_dim_name(d)) + "=[";
    first_dim = false;
    for (size_t j = 0; j < bases_[d].size(); ++j) {
      const Basis& b = bases_[d][j];
      s += j ? "," : "";
      if (b.size() == 1) {
        s += std::to_string(b[0]);
        continue;
      }
      s += "[";
      for (size_t i = 0; i < b.size(); ++i)
        s += (i ? "," : "") + std::to_string(b[i]);
      s += "]";
    }
    s += "]";
  }
  return s + ">";
}

const char* Context::intern(std::string_view s) { return strings_.emplace(s).first->c_str(); }

} // namespace tessel::ir
