// Checked CPU launches: bounds of the views, the BoundsTable, and the message of a violation.
//
// The message says where the access is relative to the view the user passed, not as a raw
// address: the element offset from the view's data pointer, the view's element count and shape,
// and for a row-major view of rank > 1 the coordinates of that element (the first coordinate
// may then be past its dimension: that is how far out the access went).
#include "jit/checked_launch.h"

#include <fmt/format.h>

#include <cstdlib>
#include <string>

namespace tessel::jit {
namespace {

using codegen::cpu::BoundsViolation;
using codegen::cpu::ByteRange;
using detail::ArgValue;

std::string dims_text(std::span<const int64_t> dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

bool is_row_major(const TensorView& v) {
  int64_t stride = 1;
  for (int k = v.rank - 1; k >= 0; --k) {
    if (v.shape[size_t(k)] != 1 && v.strides[size_t(k)] != stride)
      return false;
    stride *= v.shape[size_t(k)];
  }
  return true;
}

// The coordinates of linear element `element` of a row-major view (negative offsets unravel
// into a negative first coordinate).
std::vector<int64_t> coordinates(const TensorView& v, int64_t element) {
  std::vector<int64_t> c(size_t(v.rank), 0);
  for (int k = v.rank - 1; k > 0; --k) {
    int64_t n = v.shape[size_t(k)];
    int64_t r = n ? element % n : 0;
    if (r < 0)
      r += n;
    c[size_t(k)] = r;
    element = n ? (element - r) / n : 0;
  }
  if (v.rank > 0)
    c[0] = element;
  return c;
}

// Where the access lies relative to `view`, e.g. "element 1030 of a view with 1024 elements".
std::string place_in_view(const TensorView& view, const BoundsViolation& v) {
  int64_t esize = int64_t(dtype_bytes(view.dtype));
  int64_t offset = int64_t(v.address - reinterpret_cast<uintptr_t>(view.data));
  std::span<const int64_t> shape(view.shape.data(), size_t(view.rank));
  std::string view_text =
      fmt::format("a view with {} elements (shape {}", view.numel(), dims_text(shape));
  if (!is_row_major(view))
    view_text += ", strides " + dims_text(std::span(view.strides.data(), size_t(view.rank))) +
                 "; checked against the bytes it spans";
  view_text += ")";
  if (offset % esize != 0 || v.bytes != esize)
    return fmt::format("{} bytes at byte offset {} of {} of {}-byte {} elements", v.bytes, offset,
                       view_text, esize, dtype_name(view.dtype));
  int64_t element = offset / esize;
  std::string s = fmt::format("element {} of {}", element, view_text);
  if (view.rank > 1 && is_row_major(view))
    s += ", coordinates " + dims_text(coordinates(view, element));
  return s;
}

std::string program_text(int64_t id, const std::array<int32_t, 3>& grid) {
  int64_t gx = grid[0], gy = grid[1];
  return fmt::format("({}, {}, {})", id % gx, (id / gx) % gy, id / gx / gy);
}

} // namespace

bool debug_launch(const LaunchOptions& options) {
  static const bool by_environment = [] {
    const char* v = std::getenv("TESSEL_DEBUG");
    return v && *v && std::string(v) != "0";
  }();
  return options.debug || by_environment;
}

bool checked_launch(const LaunchOptions& options) {
  return options.checked || debug_launch(options);
}

ByteRange view_bytes(const TensorView& view) {
  auto base = reinterpret_cast<uint64_t>(view.data);
  if (view.numel() == 0)
    return {base, base};
  int64_t lowest = 0, highest = 0; // element offsets of the extreme elements
  for (int k = 0; k < view.rank; ++k) {
    int64_t reach = (view.shape[size_t(k)] - 1) * view.strides[size_t(k)];
    (reach < 0 ? lowest : highest) += reach;
  }
  int64_t esize = int64_t(dtype_bytes(view.dtype));
  return {base + uint64_t(lowest * esize), base + uint64_t((highest + 1) * esize)};
}

CheckedLaunch::CheckedLaunch(const lang::KernelDef& def, std::span<const ArgValue> args,
                             const PackedArgs& packed)
    : def_(def), args_(args) {
  size_t n = 0;
  for (size_t i = 0; i < def.params.size(); ++i) {
    if (def.params[i].kind == lang::ParamKind::Const)
      continue; // compiled in, not an argument of the code
    param_of_arg_[n] = i;
    if (args[i].kind == ArgValue::Kind::Pointer && args[i].view)
      ranges_[n] = view_bytes(*args[i].view);
    pointers_[n] = packed.pointers[n];
    ++n;
  }
  table_.ranges = ranges_.data();
  table_.num_ranges = int64_t(n);
  pointers_[n] = &table_;
}

// "FILE:LINE: device_assert failed in kernel 'k': MESSAGE, at program (0, 0, 0) element (3) and
// ..." for the failures a debug launch recorded (the first ones by program and coordinates).
static std::string assert_message(const std::string& kernel, const codegen::cpu::BoundsTable& t) {
  const codegen::cpu::AssertFailure& first = t.asserts.front();
  std::string at;
  for (const codegen::cpu::AssertFailure& f : t.asserts) {
    if (std::string_view(f.where) != first.where)
      continue; // another assert: the report is about the first one's line
    at += fmt::format("{}program ({}, {}, {}) element {}", at.empty() ? "" : ", ", f.pid[0],
                      f.pid[1], f.pid[2], dims_text(f.idx));
  }
  std::string more = t.assert_count > int64_t(t.asserts.size())
                         ? fmt::format(" (and others: {} false elements in all)", t.assert_count)
                         : "";
  return fmt::format("{}: device_assert failed in kernel '{}': {}, at {}{}", first.where, kernel,
                     first.message, at, more);
}

void CheckedLaunch::throw_if_violated(const std::array<int32_t, 3>& grid) const {
  if (!table_.asserts.empty())
    throw Error(assert_message(def_.name, table_));
  if (table_.first_program == INT64_MAX)
    return;
  const BoundsViolation& v = table_.first;
  const char* access = v.is_store ? "store" : "load";
  std::string what;
  if (v.arg < 0) {
    what = fmt::format("its address 0x{:x} is not derived from one pointer parameter and lies "
                       "outside every TensorView passed",
                       v.address);
  } else {
    size_t param = param_of_arg_[size_t(v.arg)];
    const ArgValue& a = args_[param];
    what = fmt::format("{} is accessed at {}", param_desc(def_, param),
                       a.view ? place_in_view(*a.view, v) : "an address outside its view");
  }
  throw Error(fmt::format("{}: checked mode: kernel '{}': out-of-bounds {} in program {}: {}; "
                          "fix the offsets or the mask of this {} (masked-off elements are not "
                          "accessed)",
                          v.where, def_.name, access, program_text(v.program, grid), what, access));
}

} // namespace tessel::jit
