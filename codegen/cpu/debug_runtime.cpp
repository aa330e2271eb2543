// The host side of the CPU backend's debugging ops (codegen/cpu.h): device_print formats one
// program's block of lines and writes it in one piece; assert_failed records a false element of a
// device_assert in the launch's BoundsTable, keeping the first ones by (program, coordinates).
#include "tessel/codegen/cpu.h"

#include "support/device_output.h"

#include <algorithm>
#include <span>
#include <string>

namespace tessel::codegen::cpu {
namespace {

bool comes_before(const AssertFailure& a, const AssertFailure& b) {
  if (a.program != b.program)
    return a.program < b.program;
  return a.idx < b.idx;
}

} // namespace

void device_print(const char* prefix, int32_t kind, int32_t rank, const int64_t* dims,
                  int32_t pid_x, int32_t pid_y, int32_t pid_z, const uint64_t* values,
                  const uint8_t* mask) {
  const int32_t pid[3] = {pid_x, pid_y, pid_z};
  std::span<const int64_t> shape(dims, size_t(rank));
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  std::vector<int64_t> idx(shape.size(), 0);
  std::string block;
  for (int64_t e = 0; e < count; ++e) {
    int64_t rest = e; // row-major coordinates of element e
    for (size_t d = shape.size(); d-- > 0;) {
      idx[d] = rest % shape[d];
      rest /= shape[d];
    }
    if (mask && !mask[e])
      continue;
    block +=
        support::print_line(pid, idx, prefix, static_cast<support::PrintKind>(kind), values[e]);
  }
  support::write_device_output(block);
}

void assert_failed(BoundsTable* table, const char* where, const char* message, int64_t program,
                   int32_t pid_x, int32_t pid_y, int32_t pid_z, const int64_t* idx, int32_t rank) {
  AssertFailure f{
      where, message, program, {pid_x, pid_y, pid_z}, std::vector<int64_t>(idx, idx + rank)};
  std::lock_guard lock(table->mutex);
  ++table->assert_count;
  auto& kept = table->asserts;
  kept.insert(std::upper_bound(kept.begin(), kept.end(), f, comes_before), std::move(f));
  if (kept.size() > BoundsTable::kMaxAssertFailures)
    kept.pop_back();
}

} // namespace tessel::codegen::cpu
