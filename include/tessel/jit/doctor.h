// What this machine offers tessel and what it lacks, as `tessel doctor` prints it and Python's
// `tessel.doctor()` returns it: tessel's and LLVM's versions, the CUDA toolkit (nvcc, libdevice)
// and nvJitLink, the driver and its GPUs, the GPU device selection and the kernel cache — each
// line with where a thing was found, or what to do when it was not.
//
//   for (const tessel::DoctorLine& l : tessel::doctor_report())
//     std::printf("%-16s %s\n", l.what.c_str(), l.text.c_str());
#pragma once

#include <string>
#include <vector>

namespace tessel {

struct DoctorLine {
  std::string what; // "CUDA driver", "  device 0" (indented: a detail of the line above)
  std::string text;
};

// Never throws: what cannot be found or queried is a line saying so.
std::vector<DoctorLine> doctor_report();
// The report as text, one "what  text" line each, as `tessel doctor` prints it.
std::string doctor_text();

} // namespace tessel
