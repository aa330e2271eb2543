// The standalone example: a scaled vector add (out = alpha * x + y) written in tessel's tile
// language, run on the CPU backend and on the simulated GPU device (the PTX simulator), each
// checked against a plain C++ loop. Prints what it computed; exits 1 on a mismatch, 2 on an error.
#include <tessel/codegen/gpu.h>
#include <tessel/runtime/device.h>
#include <tessel/runtime/device_buffer.h>
#include <tessel/tessel.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace tl = tessel::lang;
namespace rt = tessel::runtime;

namespace {

const tessel::Kernel& scaled_add() {
  static const tessel::Kernel k =
      tl::kernel("scaled_add", [](tl::Ptr out, tl::Ptr x, tl::Ptr y, tl::Float alpha, tl::Int n,
                                  tl::Const<int> BLOCK) {
        auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        auto mask = offs < n;
        tl::store(out + offs, alpha * tl::load(x + offs, mask) + tl::load(y + offs, mask), mask);
      });
  return k;
}

constexpr int64_t kN = 1000; // not a multiple of the block: the last program is masked
constexpr int kBlock = 256;
constexpr int64_t kSlack = 64; // elements past n that must stay poisoned
constexpr float kPoison = -777.0f;
constexpr float kAlpha = 2.5f;

std::vector<float> random_floats(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v)
    f = dist(gen);
  return v;
}

// Counts the elements of `got` (n results, then kSlack poisoned ones) that differ from the plain
// C++ loop, and prints the largest error.
int mismatches(const char* where, const std::vector<float>& got, const std::vector<float>& x,
               const std::vector<float>& y) {
  int bad = 0;
  double max_err = 0;
  for (int64_t i = 0; i < kN; ++i) {
    float want = kAlpha * x[i] + y[i];
    double err = std::fabs(double(got[i]) - want);
    max_err = std::fmax(max_err, err);
    if (!(err <= 1e-6 * (1 + std::fabs(want))))
      ++bad;
  }
  for (int64_t i = kN; i < kN + kSlack; ++i)
    bad += got[i] != kPoison; // a masked-off element was written
  std::printf("%-4s out[0..3] = %.4f %.4f %.4f %.4f  max abs error %.3g  %s\n", where, got[0],
              got[1], got[2], got[3], max_err, bad ? "MISMATCH" : "ok");
  return bad;
}

int run_on_cpu(const std::vector<float>& x, const std::vector<float>& y) {
  std::vector<float> out(kN + kSlack, kPoison);
  scaled_add().launch({(kN + kBlock - 1) / kBlock}, {}, out.data(), x.data(), y.data(), kAlpha, kN,
                      kBlock);
  return mismatches("cpu", out, x, y);
}

// Why the simulated device cannot run here, or empty when it can.
std::string sim_unavailable() {
  if (!rt::sim_available())
    return "this tessel was built without the PTX simulator";
  if (!std::filesystem::exists(tessel::codegen::gpu::libdevice_path()) ||
      !std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
    return "the CUDA toolkit (libdevice, nvJitLink) was not found; set CUDA_HOME";
  return "";
}

rt::DeviceBuffer upload(const std::vector<float>& host) {
  auto buf = rt::DeviceBuffer::allocate_on(tessel::DeviceKind::sim, host.size() * sizeof(float));
  buf.copy_from_host(host.data(), host.size() * sizeof(float));
  return buf;
}

int run_on_sim(const std::vector<float>& x, const std::vector<float>& y) {
  auto dx = upload(x), dy = upload(y), dout = upload(std::vector<float>(kN + kSlack, kPoison));
  scaled_add().launch({(kN + kBlock - 1) / kBlock}, {}, dout.view(tessel::f32, {kN}),
                      dx.view(tessel::f32, {kN}), dy.view(tessel::f32, {kN}), kAlpha, kN, kBlock);
  std::vector<float> out(kN + kSlack);
  dout.copy_to_host(out.data(), out.size() * sizeof(float));
  return mismatches("sim", out, x, y);
}

} // namespace

int main() {
  std::printf("%s: out = %g * x + y, n = %lld\n", tessel::build_id().c_str(), double(kAlpha),
              (long long)kN);
  const auto x = random_floats(kN, 1), y = random_floats(kN, 2);
  try {
    int bad = run_on_cpu(x, y);
    if (std::string why = sim_unavailable(); why.empty())
      bad += run_on_sim(x, y);
    else
      std::printf("sim  skipped: %s\n", why.c_str());
    return bad ? 1 : 0;
  } catch (const tessel::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
