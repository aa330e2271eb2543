// Private: wall-clock timing of compile stages (the StageTimes / CompileTimes figures).
#pragma once

#include <chrono>

namespace tessel::support {

// Milliseconds since `start`.
inline double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Times consecutive stages: each lap_ms() returns the time since the previous lap (or creation).
class Stopwatch {
public:
  double lap_ms() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

} // namespace tessel::support
