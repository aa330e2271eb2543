// `tessel doctor`: what this machine offers tessel and what is missing (tessel/jit/doctor.h holds
// the checks, so that the Python package's tessel.doctor() reports the same lines).
#include "tessel/jit/doctor.h"

#include <cstdio>

// Dispatched from main.cpp. Exit status 0: everything needed for the CPU backend is there (the
// GPU parts are reported, not required).
int run_doctor_command() {
  std::fputs(tessel::doctor_text().c_str(), stdout);
  return 0;
}
