// Verifier tests (filled in below).
#include "tessel/ir/verifier.h"

#include <gtest/gtest.h>
