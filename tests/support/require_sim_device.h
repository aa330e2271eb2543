// REQUIRE_SIM_DEVICE(): skips a test that launches on the simulated device when tessel was built
// without the PTX simulator, or when the CUDA toolkit parts a GPU compile needs (libdevice,
// nvJitLink) are missing — the reason is in the skip message.
#pragma once

#include "tessel/codegen/gpu.h"
#include "tessel/runtime/device.h"

#include <gtest/gtest.h>

#include <filesystem>

#define REQUIRE_SIM_DEVICE()                                                                       \
  do {                                                                                             \
    if (!::tessel::runtime::sim_available())                                                       \
      GTEST_SKIP() << "tessel was built without the PTX simulator";                                \
    if (!std::filesystem::exists(::tessel::codegen::gpu::libdevice_path()) ||                      \
        !std::filesystem::exists(::tessel::codegen::gpu::nvjitlink_path()))                        \
      GTEST_SKIP() << "CUDA toolkit (libdevice, nvJitLink) not found";                             \
  } while (0)
