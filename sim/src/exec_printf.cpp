// The CUDA device runtime's system calls a kernel reaches through `call` to an undefined function:
//   vprintf(format, args)  device-side printf. `format` is a generic address of a NUL-terminated
//                          string, `args` of the packed arguments, each at its own alignment (4
//                          bytes for %d/%u/%x/%c without `l`, 8 for `ll`/`l` integers, doubles, %s
//                          and %p). The formatted text is recorded per thread in
//                          LaunchReport::printf_output, in execution order; the return value is the
//                          number of characters.
//   __assertfail(message, file, line, function, char_size)  CUDA's assert: an `assertion` error
//                          with the message and the file:line, and the launch stops.
// Both read memory through the checked accesses, so a bad pointer is a memcheck error, not a crash.
#include "exec_printf.h"

#include "memory_access.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tessel::sim {
namespace {

constexpr size_t kMaxString = 4096;

// The value (`size` bytes, little-endian) of argument `i` of the call for `lane`: the caller's
// call-site parameter symbol in the thread's local window.
uint64_t call_argument(Exec& x, const Operand& args, uint32_t i, uint32_t lane) {
  const Symbol& s = x.launch.module->symbols[x.frame.fn->vec_pool[args.index + i]];
  const uint8_t* base = x.cta.local.data() +
                        size_t(x.tid_linear(lane)) * x.launch.module->local_bytes + s.local_offset;
  uint64_t v = 0;
  std::memcpy(&v, base, std::min<uint32_t>(s.size, 8));
  return v;
}

// Writes a 32-bit return value into the call's return parameter, when it has one.
void set_return(Exec& x, const Inst& in, uint32_t lane, int32_t value) {
  if (in.ops[0].kind != OperandKind::vec || in.ops[0].count == 0)
    return;
  const Symbol& s = x.launch.module->symbols[x.frame.fn->vec_pool[in.ops[0].index]];
  size_t at = size_t(x.tid_linear(lane)) * x.launch.module->local_bytes + s.local_offset;
  std::memcpy(x.cta.local.data() + at, &value, std::min<uint32_t>(s.size, 4));
  std::memset(x.cta.local_init.data() + at, 1, std::min<uint32_t>(s.size, 4));
}

// `size` bytes at a generic address (false when the access failed: it was reported).
bool read_bytes(Exec& x, const Inst& in, uint64_t addr, uint32_t size, uint32_t lane, void* out) {
  Resolved r = access_memory(x, in, Space::generic, addr, size, size, lane, AccessKind::read);
  if (!r.ptr)
    return false;
  std::memcpy(out, r.ptr, size);
  return true;
}

bool read_string(Exec& x, const Inst& in, uint64_t addr, uint32_t lane, std::string& out) {
  for (size_t n = 0; n < kMaxString; ++n) {
    char c;
    if (!read_bytes(x, in, addr + n, 1, lane, &c))
      return false;
    if (c == '\0')
      return true;
    out += c;
  }
  return true; // longer strings are cut
}

// One conversion of a format: its text rebuilt for the host's snprintf and its argument size.
struct Conversion {
  std::string spec; // "%" flags width precision length conversion
  char conv = 0;
  uint32_t size = 0; // bytes of its argument, 0 for %%
};

// Parses the conversion starting at format[i] == '%'; i ends after it.
Conversion parse_conversion(std::string_view format, size_t& i) {
  Conversion c;
  c.spec = "%";
  ++i;
  auto take_while = [&](const char* set) {
    while (i < format.size() && std::strchr(set, format[i]) && format[i] != '\0')
      c.spec += format[i++];
  };
  take_while("-+ #0");
  take_while("0123456789");
  if (i < format.size() && format[i] == '.') {
    c.spec += format[i++];
    take_while("0123456789");
  }
  int longs = 0;
  while (i < format.size() && std::strchr("hlLjzt", format[i]) && format[i] != '\0') {
    char m = format[i++];
    longs += m == 'l' || m == 'j' || m == 'z' || m == 't' ? 1 : 0;
  }
  c.conv = i < format.size() ? format[i++] : '%';
  if (c.conv == '%')
    return {"%%", '%', 0};
  if (std::strchr("diouxXc", c.conv)) {
    c.size = longs ? 8 : 4;
    if (longs)
      c.spec += "ll";
  } else {
    c.size = 8; // doubles, %s, %p
  }
  c.spec += c.conv;
  return c;
}

// Formats one conversion of argument bits `v`.
std::string format_one(Exec& x, const Inst& in, const Conversion& c, uint64_t v, uint32_t lane) {
  char buf[512];
  if (std::strchr("diouxXc", c.conv)) {
    if (c.size == 8)
      std::snprintf(buf, sizeof buf, c.spec.c_str(), static_cast<long long>(v));
    else
      std::snprintf(buf, sizeof buf, c.spec.c_str(), static_cast<int>(static_cast<uint32_t>(v)));
    return buf;
  }
  if (c.conv == 's') {
    std::string s;
    if (!read_string(x, in, v, lane, s))
      return "(bad string)";
    return s;
  }
  if (c.conv == 'p') {
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
  }
  double d;
  std::memcpy(&d, &v, sizeof d);
  std::snprintf(buf, sizeof buf, c.spec.c_str(), d);
  return buf;
}

// The text vprintf writes for `lane`; false when memory could not be read.
bool format_printf(Exec& x, const Inst& in, uint64_t fmt_addr, uint64_t args_addr, uint32_t lane,
                   std::string& format, std::string& out) {
  if (!read_string(x, in, fmt_addr, lane, format))
    return false;
  uint64_t offset = 0;
  for (size_t i = 0; i < format.size();) {
    if (format[i] != '%') {
      out += format[i++];
      continue;
    }
    Conversion c = parse_conversion(format, i);
    if (c.size == 0) {
      out += '%';
      continue;
    }
    offset = (offset + c.size - 1) / c.size * c.size;
    uint64_t v = 0;
    if (!read_bytes(x, in, args_addr + offset, c.size, lane, &v))
      return false;
    offset += c.size;
    out += format_one(x, in, c, v, lane);
  }
  return true;
}

Dim3 thread_of(const Exec& x, uint32_t lane) {
  uint32_t t = x.tid_linear(lane);
  const Dim3& b = x.launch.block;
  return {t % b.x, t / b.x % b.y, t / (b.x * b.y)};
}

void run_vprintf(Exec& x, const Inst& in, uint32_t mask, const Operand& args) {
  for_lanes(mask, [&](uint32_t lane) {
    PrintfRecord r;
    r.block = x.cta.id;
    r.thread = thread_of(x, lane);
    uint64_t fmt_addr = call_argument(x, args, 0, lane);
    uint64_t args_addr = args.count > 1 ? call_argument(x, args, 1, lane) : 0;
    if (!format_printf(x, in, fmt_addr, args_addr, lane, r.format, r.text))
      return;
    set_return(x, in, lane, static_cast<int32_t>(r.text.size()));
    x.launch.report->printf_output.push_back(std::move(r));
  });
}

void run_assertfail(Exec& x, const Inst& in, uint32_t mask, const Operand& args) {
  uint32_t lane = static_cast<uint32_t>(__builtin_ctz(mask));
  std::string message, file;
  if (!read_string(x, in, call_argument(x, args, 0, lane), lane, message) ||
      !read_string(x, in, call_argument(x, args, 1, lane), lane, file))
    return;
  uint32_t line = static_cast<uint32_t>(call_argument(x, args, 2, lane));
  x.report(ErrorKind::assertion, in, static_cast<int>(lane), false, 0,
           fmt::format("__assertfail: {}:{}: {}", file, line, message));
  x.launch.aborted = true;
}

} // namespace

bool call_builtin(Exec& x, const Inst& in, uint32_t mask, const Function& callee) {
  int ti = in.ops[0].kind == OperandKind::label ? 0 : 1;
  const Operand* args = ti + 1 < in.nops ? &in.ops[ti + 1] : nullptr;
  bool has_args = args && args->kind == OperandKind::vec;
  if (callee.name == "vprintf" && has_args && args->count >= 1) {
    run_vprintf(x, in, mask, *args);
    return true;
  }
  if (callee.name == "__assertfail" && has_args && args->count >= 3) {
    run_assertfail(x, in, mask, *args);
    return true;
  }
  return false;
}

} // namespace tessel::sim
