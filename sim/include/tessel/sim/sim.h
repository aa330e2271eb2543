// Umbrella header of the PTX simulator library (tessel_sim).
#pragma once

#include <tessel/sim/device.h>
#include <tessel/sim/error.h>
#include <tessel/sim/module.h>
#include <tessel/sim/profile.h>
#include <tessel/sim/tensor_map.h>
