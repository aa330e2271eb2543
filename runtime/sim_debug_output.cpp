// What a simulated launch printed (runtime/sim_device.h, take_debug_output): the simulator records
// each thread's vprintf in execution order; here the lines of one device_print in one program are
// regrouped into one block in row-major order of their coordinates (codegen/gpu/lower_debug.cpp
// ends each print with an empty vprintf, which marks where its lines end), failed-assert lines are
// kept for the error, and the rest is written to the device output as it came.
#include "runtime/sim_device.h"

#ifdef TESSEL_HAVE_SIM

#include "support/device_output.h"
#include "tessel/sim/sim.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <vector>

namespace tessel::runtime::simdev {
namespace {

// The integers of the parenthesised list after `key` in `line` ("idx (" -> {3, 4}).
std::vector<int64_t> list_after(std::string_view line, std::string_view key) {
  std::vector<int64_t> out;
  size_t at = line.find(key);
  if (at == std::string_view::npos)
    return out;
  const char* p = line.data() + at + key.size();
  const char* end = line.data() + line.size();
  while (p < end && *p != ')') {
    int64_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc())
      break;
    out.push_back(v);
    p = next;
    while (p < end && (*p == ',' || *p == ' '))
      ++p;
  }
  return out;
}

std::string list_text(const std::vector<int64_t>& v, const char* open, const char* close) {
  std::string s = open;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + close;
}

struct Line {
  std::vector<int64_t> idx;
  const std::string* text;
};

// Appends one print's lines in coordinate order (stable: equal coordinates keep their order).
void flush(std::vector<Line>& lines, std::string& out) {
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Line& a, const Line& b) { return a.idx < b.idx; });
  for (const Line& l : lines)
    out += *l.text;
  lines.clear();
}

// "program (0, 0, 0) element [3]" of a failed-assert line, and the "file:line: message" after it.
std::pair<std::string, std::string> assert_place(std::string_view line) {
  std::string place = "program " + list_text(list_after(line, "pid ("), "(", ")") + " element " +
                      list_text(list_after(line, "idx ("), "[", "]");
  size_t after = line.find("): ", line.find("idx ("));
  std::string_view rest = after == std::string_view::npos ? "" : line.substr(after + 3);
  while (!rest.empty() && rest.back() == '\n')
    rest.remove_suffix(1);
  return {place, std::string(rest)};
}

std::string assert_report(const std::string& kernel, std::vector<std::string_view> lines) {
  std::sort(lines.begin(), lines.end(), [](std::string_view a, std::string_view b) {
    return std::pair(list_after(a, "pid ("), list_after(a, "idx (")) <
           std::pair(list_after(b, "pid ("), list_after(b, "idx ("));
  });
  const std::string what = assert_place(lines.front()).second;
  std::string at;
  for (std::string_view l : lines) {
    auto [place, w] = assert_place(l);
    if (w == what)
      at += (at.empty() ? "" : ", ") + place;
  }
  size_t colon = what.find(": "); // what is "file:line: message"
  std::string where = colon == std::string::npos ? "" : what.substr(0, colon);
  std::string message = colon == std::string::npos ? what : what.substr(colon + 2);
  return where + ": device_assert failed in kernel '" + kernel +
         "' on the simulated device: " + message + ", at " + at;
}

} // namespace

std::string take_debug_output(const std::string& kernel, const sim::LaunchReport& report) {
  std::string out;
  std::vector<Line> lines;
  std::vector<std::string_view> asserts;
  const sim::Dim3* cta = nullptr;
  for (const sim::PrintfRecord& r : report.printf_output) {
    if (cta && !(*cta == r.block))
      flush(lines, out); // a program's lines never continue into the next program's
    cta = &r.block;
    if (r.format.empty()) { // the end of one device_print
      flush(lines, out);
    } else if (std::string_view(r.text).starts_with(support::kAssertLineStart)) {
      asserts.push_back(r.text);
    } else if (r.format.starts_with("pid (")) {
      lines.push_back({list_after(r.text, "idx ("), &r.text});
    } else {
      flush(lines, out);
      out += r.text; // another printf: as it came
    }
  }
  flush(lines, out);
  support::write_device_output(out);
  return asserts.empty() ? "" : assert_report(kernel, std::move(asserts));
}

} // namespace tessel::runtime::simdev

#endif // TESSEL_HAVE_SIM
