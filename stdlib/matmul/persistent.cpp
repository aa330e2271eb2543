// MatmulOptions::persistent (persistent.h): the choice and the grid of the persistent matmul.
#include "stdlib/matmul/persistent.h"

#include "jit/thread_pool.h"
#include "tessel/error.h"
#include "tessel/runtime/device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace tessel::ops::detail {

bool use_persistent(const OpSite& site, const MatmulOptions& options) {
  if (options.persistent != MatmulPersistent::on)
    return false;
  if (options.split_k != 1)
    site.fail(fmt::format("persistent is on with split_k {}; a persistent kernel computes whole "
                          "tiles (split_k 1): turn one of them off",
                          options.split_k));
  return true;
}

namespace {

// The simulated device has no SMs to count: TESSEL_SIM_SM_COUNT stands for them, small by
// default so that each simulated program loops over several tiles.
int64_t sim_sm_count() {
  const char* v = std::getenv("TESSEL_SIM_SM_COUNT");
  if (!v || !*v)
    return 4;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 1 || n > 1024)
    throw Error(
        fmt::format("TESSEL_SIM_SM_COUNT='{}' is not a multiprocessor count from 1 to 1024", v));
  return n;
}

} // namespace

int64_t multiprocessor_count(DeviceKind device, int device_index) {
  switch (device) {
  case DeviceKind::cpu:
    return jit::ThreadPool::instance().size();
  case DeviceKind::sim:
    return sim_sm_count();
  default:
    return std::max(1, runtime::Device::get(device_index).properties().sm_count);
  }
}

int64_t persistent_programs(DeviceKind device, int device_index, int64_t tiles) {
  return std::max<int64_t>(1, std::min(tiles, multiprocessor_count(device, device_index)));
}

} // namespace tessel::ops::detail
