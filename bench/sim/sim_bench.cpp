// Simulator throughput: runs the nvcc-compiled validation kernels (a 256x256x256 f16 GEMM with
// ldmatrix + mma.sync, a block reduction with shuffles over 2^20 floats, and a memory-bound
// vector add of 2^20 floats) and prints simulated thread-instructions per second, with
// racecheck on (the default) and off.
// With --matmul-ptx FILE SHARED_BYTES it also runs tessel's own samples/matmul PTX (as written
// by `tessel compile matmul --target sm_80 -D DTYPE=f16 -D BLOCK_K=32 --num-stages 3 --emit ptx`,
// 64 x 64 tiles, 4 warps, a cp.async ring of SHARED_BYTES) on a 256x256x256 f16 product.
// Usage: tessel_sim_bench [repetitions] [--matmul-ptx FILE SHARED_BYTES]
//   (the minimum and median wall time of the repetitions, and the minimum thread CPU time,
//   are reported)
#include <tessel/sim/sim.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace tessel::sim;

namespace {

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The CPU time of the calling thread: on a loaded machine it counts what the launch itself
// computed, where the wall time also counts the time other processes held the core.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Wall (and thread CPU) times of the repetitions of one launch and its instruction counts.
struct Measurement {
  std::vector<double> seconds, cpu_seconds;
  uint64_t thread_instructions = 0;
  uint64_t warp_instructions = 0;
  double min() const { return *std::min_element(seconds.begin(), seconds.end()); }
  double median() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    return s.size() % 2 ? s[s.size() / 2] : (s[s.size() / 2 - 1] + s[s.size() / 2]) / 2;
  }
};

// Times `reps` launches, each on a fresh device that `setup` fills.
template <typename Setup>
Measurement measure(const std::shared_ptr<const Module>& m, const char* entry, Dim3 grid,
                    Dim3 block, uint32_t shared, int reps, bool racecheck, Setup setup) {
  Measurement out;
  for (int i = 0; i < reps; ++i) {
    Device dev;
    std::vector<KernelArg> args = setup(dev);
    LaunchOptions o;
    o.racecheck = racecheck;
    double c0 = thread_cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    auto r = dev.launch(m, entry, grid, block, shared, args, o);
    auto t1 = std::chrono::steady_clock::now();
    double c1 = thread_cpu_seconds();
    if (!r.ok() || !r->ok()) {
      std::fprintf(stderr, "%s failed: %s\n", entry,
                   r.ok() ? r->errors[0].to_string().c_str() : r.error().to_string().c_str());
      std::exit(1);
    }
    out.seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    out.cpu_seconds.push_back(c1 - c0);
    out.thread_instructions = r->profile.thread_instructions;
    out.warp_instructions = r->profile.warp_instructions;
  }
  return out;
}

void print(const char* name, bool racecheck, const Measurement& m) {
  double cpu = *std::min_element(m.cpu_seconds.begin(), m.cpu_seconds.end());
  std::printf("%-26s racecheck=%-3s wall min %.3f s median %.3f s, cpu min %.3f s  %10llu "
              "thread-instr  M thread-instr/s: %6.1f (wall min) %6.1f (wall median) %6.1f (cpu "
              "min)\n",
              name, racecheck ? "on" : "off", m.min(), m.median(), cpu,
              static_cast<unsigned long long>(m.thread_instructions),
              m.thread_instructions / m.min() / 1e6, m.thread_instructions / m.median() / 1e6,
              m.thread_instructions / cpu / 1e6);
}

} // namespace

// samples/matmul's parameters: c, a, b, M, N, K and the six strides (row-major, unit inner).
std::vector<KernelArg> tessel_matmul_args(Device& dev, int m, int n, int k) {
  std::mt19937 rng(2);
  std::vector<uint16_t> a(size_t(m) * k), b(size_t(k) * n);
  for (auto& v : a)
    v = 0x3c00 | (rng() & 0x3ff); // halves in [1, 2)
  for (auto& v : b)
    v = 0x3c00 | (rng() & 0x3ff);
  uint64_t pa = *dev.malloc(a.size() * 2), pb = *dev.malloc(b.size() * 2),
           pc = *dev.malloc(size_t(m) * n * 4);
  (void)dev.memcpy_to_device(pa, a.data(), a.size() * 2);
  (void)dev.memcpy_to_device(pb, b.data(), b.size() * 2);
  return {KernelArg::ptr(pc), KernelArg::ptr(pa), KernelArg::ptr(pb), KernelArg::i32(m),
          KernelArg::i32(n),  KernelArg::i32(k),  KernelArg::i32(k),  KernelArg::i32(1),
          KernelArg::i32(n),  KernelArg::i32(1),  KernelArg::i32(n),  KernelArg::i32(1)};
}

int run_tessel_matmul(const std::string& path, uint32_t shared, int reps) {
  auto m = parse_module(read(path));
  if (!m.ok()) {
    std::fprintf(stderr, "%s: parse failed\n", path.c_str());
    return 1;
  }
  const int M = 256, N = 256, K = 256, B = 64;
  auto setup = [&](Device& dev) { return tessel_matmul_args(dev, M, N, K); };
  for (bool rc : {true, false})
    print("tessel matmul f16 256^3", rc,
          measure(*m, "matmul", {(M / B) * (N / B), 1, 1}, {128, 1, 1}, shared, reps, rc, setup));
  return 0;
}

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 3;
  if (argc > 4 && std::string(argv[2]) == "--matmul-ptx")
    return run_tessel_matmul(argv[3], uint32_t(std::atoi(argv[4])), reps);
  std::string dir = TESSEL_SIM_KERNEL_DIR;
  std::string mma_ptx = read(dir + "/mma.sm_80.ptx"), basic_ptx = read(dir + "/basic.sm_80.ptx");
  if (mma_ptx.empty() || basic_ptx.empty()) {
    std::fprintf(stderr, "the validation kernels were not compiled (no nvcc at build time)\n");
    return 1;
  }
  auto mma = parse_module(mma_ptx), basic = parse_module(basic_ptx);
  if (!mma.ok() || !basic.ok()) {
    std::fprintf(stderr, "parse failed\n");
    return 1;
  }
  const int M = 256, N = 256, K = 256;
  auto gemm_setup = [&](Device& dev) {
    std::mt19937 rng(1);
    std::vector<uint16_t> a(M * K), b(N * K);
    for (auto& v : a)
      v = 0x3c00 | (rng() & 0x3ff); // halves in [1, 2)
    for (auto& v : b)
      v = 0x3c00 | (rng() & 0x3ff);
    uint64_t pa = *dev.malloc(a.size() * 2), pb = *dev.malloc(b.size() * 2),
             pc = *dev.malloc(M * N * 4);
    (void)dev.memcpy_to_device(pa, a.data(), a.size() * 2);
    (void)dev.memcpy_to_device(pb, b.data(), b.size() * 2);
    return std::vector<KernelArg>{KernelArg::ptr(pa), KernelArg::ptr(pb), KernelArg::ptr(pc),
                                  KernelArg::i32(M),  KernelArg::i32(N),  KernelArg::i32(K)};
  };
  const int n = 1 << 20;
  auto reduce_setup = [&](Device& dev) {
    std::vector<float> in(n, 1.0f);
    uint64_t pin = *dev.malloc(n * 4), pout = *dev.malloc(256 * 4);
    (void)dev.memcpy_to_device(pin, in.data(), n * 4);
    return std::vector<KernelArg>{KernelArg::ptr(pin), KernelArg::ptr(pout), KernelArg::i32(n)};
  };
  auto add_setup = [&](Device& dev) {
    std::vector<float> in(n, 1.0f);
    uint64_t pa = *dev.malloc(n * 4), pb = *dev.malloc(n * 4), pc = *dev.malloc(n * 4);
    (void)dev.memcpy_to_device(pa, in.data(), n * 4);
    (void)dev.memcpy_to_device(pb, in.data(), n * 4);
    return std::vector<KernelArg>{KernelArg::ptr(pa), KernelArg::ptr(pb), KernelArg::ptr(pc),
                                  KernelArg::i32(n)};
  };
  for (bool rc : {true, false}) {
    print("gemm_f16 256x256x256", rc,
          measure(*mma, "gemm_f16", {N / 16, M / 32, 1}, {128, 1, 1}, 0, reps, rc, gemm_setup));
    print("block_reduce 2^20 floats", rc,
          measure(*basic, "block_reduce", {256, 1, 1}, {256, 1, 1}, 0, reps, rc, reduce_setup));
    print("vector_add 2^20 floats", rc,
          measure(*basic, "vector_add", {n / 256, 1, 1}, {256, 1, 1}, 0, reps, rc, add_setup));
  }
  return 0;
}
