// The atomic ops run on the CPU backend (real atomics on the thread pool, TESSEL_CPU_THREADS=2)
// and on the simulated device (atom/red in the PTX simulator), each against a plain C++
// reference: every op on every dtype it accepts, masked and unmasked, 1000 elements (a partial
// last program); duplicate addresses within a tile (a histogram); float max/min on negative
// values, -0.0 and NaN (bit-exact); a tile smaller than the block, whose layout replicates
// elements over threads (each applied once, each copy sees the old value); scalar atomics; and a
// spin-lock (cas to acquire, xchg to release) that serialises a plain read-modify-write over many
// programs. Outputs are poisoned before each launch. Without the simulator (or the CUDA toolkit)
// the CPU half still runs.
#include "support/expect_error.h"
#include "tessel/codegen/gpu.h"
#include "tessel/runtime/device.h"
#include "tessel/runtime/device_buffer.h"
#include "tessel/tessel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

namespace rt = tessel::runtime;
namespace tl = tessel::lang;
using tessel::DeviceKind;

// The CPU backend always; the simulated device where tessel has the simulator and the CUDA
// toolkit (libdevice, nvJitLink), so the CPU half of every test runs without them.
std::vector<DeviceKind> backends() {
  std::vector<DeviceKind> out{DeviceKind::cpu};
  if (rt::sim_available() && std::filesystem::exists(tessel::codegen::gpu::libdevice_path()) &&
      std::filesystem::exists(tessel::codegen::gpu::nvjitlink_path()))
    out.push_back(DeviceKind::sim);
  return out;
}
const std::vector<DeviceKind>& both() {
  static const std::vector<DeviceKind> b = backends();
  return b;
}

// Buffers of T on the CPU (host memory) or the simulated device, read back after a launch.
template <class T> struct Buffer {
  DeviceKind where;
  std::vector<T> host;
  std::optional<rt::DeviceBuffer> device;

  Buffer(DeviceKind w, std::vector<T> init) : where(w), host(std::move(init)) {
    if (where != DeviceKind::sim)
      return;
    device = rt::DeviceBuffer::allocate_on(where, host.size() * sizeof(T));
    device->copy_from_host(host.data(), host.size() * sizeof(T));
  }
  tessel::TensorView view() {
    const int64_t n = int64_t(host.size());
    return device ? device->view(tessel::dtype_of_v<T>, {n})
                  : tessel::TensorView(host.data(), tessel::dtype_of_v<T>, {n});
  }
  std::vector<T> read() {
    if (device)
      device->copy_to_host(host.data(), host.size() * sizeof(T));
    return host;
  }
};

tessel::LaunchOptions on(DeviceKind where, int num_warps = 4) {
  tessel::LaunchOptions o;
  o.device = where;
  o.num_warps = num_warps;
  return o;
}

// The spin-lock test needs more than one worker; every test here runs in its own process.
class Atomics : public ::testing::Test {
protected:
  void SetUp() override { setenv("TESSEL_CPU_THREADS", "2", /*overwrite=*/1); }
};

enum Op : int { Add, Max, Min, And, Or, Xor, Xchg, Cas, NumOps };
const char* const kOpNames[] = {"add", "max", "min", "and", "or", "xor", "xchg", "cas"};

// Bits of a value, for bit-exact comparisons of floats (-0.0, NaN).
template <class T> uint64_t bits_of(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

// The total order of atomic.h on floats: by sign and magnitude, NaNs outside the infinities.
template <class T> bool total_less(T a, T b) {
  using I = std::conditional_t<sizeof(T) == 8, int64_t,
                               std::conditional_t<sizeof(T) == 4, int32_t, int16_t>>;
  I x = I(bits_of(a)), y = I(bits_of(b));
  // Negative values order by decreasing magnitude, below the non-negative ones (-0.0 just below).
  auto k = [](I v) { return v < 0 ? -I(v & std::numeric_limits<I>::max()) - 1 : v; };
  return k(x) < k(y);
}

template <class T> T apply(Op op, T old, T v, T cmp) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
    case Add:
      return old + v;
    case Max:
      return total_less(old, v) ? v : old;
    case Min:
      return total_less(v, old) ? v : old;
    case Xchg:
      return v;
    case Cas:
      return bits_of(old) == bits_of(cmp) ? v : old;
    default:
      ADD_FAILURE() << "no float form";
      return old;
    }
  } else {
    using U = std::make_unsigned_t<T>;
    switch (op) {
    case Add:
      return T(U(old) + U(v));
    case Max:
      return std::max(old, v);
    case Min:
      return std::min(old, v);
    case And:
      return old & v;
    case Or:
      return old | v;
    case Xor:
      return old ^ v;
    case Xchg:
      return v;
    case Cas:
      return old == cmp ? v : old;
    case NumOps:
      break;
    }
    return old;
  }
}

// old = atomic_OP(x + offs, v, mask) (cas: atomic_cas(x + offs, c, v)); out = old.
tessel::Kernel make_rmw_kernel(const char* name) {
  return tl::kernel(name, "out, x, v, c, n, OP, MASKED, BLOCK",
                    [](tl::Ptr out, tl::Ptr x, tl::Ptr v, tl::Ptr c, tl::Int n, tl::Const<int> OP,
                       tl::Const<bool> MASKED, tl::Const<int> BLOCK) {
                      auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                      auto mask = offs < n;
                      auto val = tl::load(v + offs, mask);
                      tl::Tensor old;
                      if (OP == Cas) {
                        old = tl::atomic_cas(x + offs, tl::load(c + offs, mask), val);
                      } else {
                        auto rmw = [&](auto&&... a) -> tl::Tensor {
                          switch (Op(int(OP))) {
                          case Add:
                            return tl::atomic_add(x + offs, val, a...);
                          case Max:
                            return tl::atomic_max(x + offs, val, a...);
                          case Min:
                            return tl::atomic_min(x + offs, val, a...);
                          case And:
                            return tl::atomic_and(x + offs, val, a...);
                          case Or:
                            return tl::atomic_or(x + offs, val, a...);
                          case Xor:
                            return tl::atomic_xor(x + offs, val, a...);
                          case Xchg:
                            return tl::atomic_xchg(x + offs, val, a...);
                          case Cas:
                          case NumOps:
                            break;
                          }
                          return tl::Tensor();
                        };
                        old = MASKED ? rmw(mask) : rmw();
                      }
                      tl::store(out + offs, old, mask);
                    });
}

const tessel::Kernel& rmw_kernel() {
  static const tessel::Kernel k = make_rmw_kernel("atomic_rmw");
  return k;
}

template <class T> std::vector<T> random_values(int64_t n, unsigned seed, bool special) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-40, 40);
  std::vector<T> v(n);
  for (auto& x : v) {
    if constexpr (std::is_floating_point_v<T>)
      x = T(d(rng)) / 8; // exact in every float type: sums need no rounding
    else
      x = T(d(rng) * 1234567);
  }
  if constexpr (std::is_floating_point_v<T>) {
    if (special) { // signed zeros, infinities and NaN of both signs on both sides
      const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
      const T specials[] = {T(-0.0), T(0.0), -inf, inf, nan, -nan, T(-0.0), T(0.0), T(-1), T(1)};
      for (size_t i = 0; i < std::size(specials); ++i)
        v[(i * 37 + seed) % n] = specials[i];
    }
  }
  return v;
}

// Elements are distinct addresses; the first n of 1000 + 24 are launched over (1000 + 127) / 128
// programs, the last masked; elements past n must not change.
template <class T> void check_rmw(DeviceKind where, Op op, bool masked) {
  const int64_t n = 1000, total = n + 24, block = 128;
  SCOPED_TRACE(testing::Message() << (where == DeviceKind::cpu ? "cpu " : "sim ") << kOpNames[op]
                                  << (masked ? " masked" : " unmasked"));
  const bool special = op == Max || op == Min || op == Xchg || op == Cas;
  std::vector<T> x0 = random_values<T>(total, 1, special), v0 = random_values<T>(total, 2, special);
  std::vector<T> c0 = x0;
  for (int64_t i = 0; i < total; i += 3) // cas: a third of the comparisons fail
    c0[i] = v0[i];
  const T poison = T(-99);
  Buffer<T> x(where, x0), v(where, v0), c(where, c0), out(where, std::vector<T>(total, poison));
  // Unmasked kernels address every element of every program: give them whole programs.
  const int64_t launched = masked || op == Cas ? n : (n / block) * block;
  rmw_kernel().launch({(launched + block - 1) / block}, on(where), out.view(), x.view(), v.view(),
                      c.view(), launched, int(op), masked, int(block));
  std::vector<T> got_x = x.read(), got_old = out.read();
  for (int64_t i = 0; i < total; ++i) {
    const bool live = i < launched;
    const T want_x = live ? apply(op, x0[i], v0[i], c0[i]) : x0[i];
    ASSERT_EQ(bits_of(got_x[i]), bits_of(want_x))
        << "memory at " << i << ": " << got_x[i] << " vs " << want_x << " (old " << x0[i]
        << ", value " << v0[i] << ")";
    ASSERT_EQ(bits_of(got_old[i]), bits_of(live ? x0[i] : poison)) << "old value at " << i;
  }
}

template <class T> void check_all_ops(std::initializer_list<Op> ops) {
  for (DeviceKind where : both())
    for (Op op : ops)
      for (bool masked : {true, false})
        check_rmw<T>(where, op, masked);
}

TEST_F(Atomics, EveryOpOnI32) { check_all_ops<int32_t>({Add, Max, Min, And, Or, Xor, Xchg, Cas}); }
TEST_F(Atomics, EveryOpOnI64) { check_all_ops<int64_t>({Add, Max, Min, And, Or, Xor, Xchg, Cas}); }
TEST_F(Atomics, FloatOpsOnF32WithNegativesSignedZerosAndNaN) {
  check_all_ops<float>({Add, Max, Min, Xchg, Cas});
}
TEST_F(Atomics, FloatOpsOnF64WithNegativesSignedZerosAndNaN) {
  check_all_ops<double>({Add, Max, Min, Xchg, Cas});
}

// The pinned corner cases of float max/min, spelled out: max(-0, +0) = +0, min(+0, -0) = -0, a
// NaN in memory stays, a NaN written wins max (sign clear) or min (sign set).
TEST_F(Atomics, FloatMaxMinRulesByHand) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    Op op;
    float old, val, want;
  };
  const Case cases[] = {
      {Max, -0.0f, 0.0f, 0.0f},  {Max, 0.0f, -0.0f, 0.0f},   {Min, 0.0f, -0.0f, -0.0f},
      {Min, -0.0f, 0.0f, -0.0f}, {Max, -3.0f, -2.0f, -2.0f}, {Min, -3.0f, -2.0f, -3.0f},
      {Max, -1.0f, 2.0f, 2.0f},  {Min, 1.0f, -2.0f, -2.0f},  {Max, nan, 5.0f, nan},
      {Max, 5.0f, nan, nan},     {Min, 5.0f, -nan, -nan},    {Min, 5.0f, nan, 5.0f}};
  const int64_t n = std::size(cases);
  for (DeviceKind where : both()) {
    std::vector<float> x0, v0;
    for (const Case& c : cases) {
      x0.push_back(c.old);
      v0.push_back(c.val);
    }
    for (Op op : {Max, Min}) {
      std::vector<float> xs = x0, vs = v0;
      for (int64_t i = 0; i < n; ++i)
        if (cases[i].op != op) // the other op's rows: an identity update
          vs[i] = xs[i];
      Buffer<float> x(where, xs), v(where, vs), c(where, xs),
          out(where, std::vector<float>(n, -99.0f));
      rmw_kernel().launch({1}, on(where), out.view(), x.view(), v.view(), c.view(), n, int(op),
                          true, 16);
      std::vector<float> got = x.read();
      for (int64_t i = 0; i < n; ++i) {
        if (cases[i].op != op)
          continue;
        EXPECT_EQ(bits_of(got[i]), bits_of(cases[i].want))
            << kOpNames[op] << "(" << cases[i].old << ", " << cases[i].val << ") gave " << got[i];
      }
    }
  }
}

// f16 and bf16 add: the packed-register targets' 16-bit forms (GPU: atom .add.noftz.f16, bf16
// through a cas loop before sm_90), masked, with the old values.
template <class H>
void check_half_add(DeviceKind where, const tessel::Kernel& kernel = rmw_kernel()) {
  const int64_t n = 1000, total = n + 24, block = 128;
  std::vector<float> xf = random_values<float>(total, 3, false),
                     vf = random_values<float>(total, 4, false);
  std::vector<H> x0, v0;
  for (int64_t i = 0; i < total; ++i) {
    x0.push_back(H(xf[i]));
    v0.push_back(H(vf[i]));
  }
  Buffer<H> x(where, x0), v(where, v0), c(where, x0), out(where, std::vector<H>(total, H(-99.0f)));
  kernel.launch({(n + block - 1) / block}, on(where), out.view(), x.view(), v.view(), c.view(), n,
                int(Add), true, int(block));
  std::vector<H> got_x = x.read(), got_old = out.read();
  for (int64_t i = 0; i < total; ++i) {
    const float want = i < n ? float(x0[i]) + float(v0[i]) : float(x0[i]); // exact: eighths
    ASSERT_EQ(float(got_x[i]), want) << i;
    ASSERT_EQ(float(got_old[i]), i < n ? float(x0[i]) : -99.0f) << i;
  }
}

// The simulator runs sm_80 (bf16 by the cas loop) and sm_90a (native bf16 add) code: a kernel
// object of its own for each target, since a kernel keeps what it compiled for a signature.
TEST_F(Atomics, AddOnF16AndBF16) {
  check_half_add<tessel::half>(DeviceKind::cpu);
  check_half_add<tessel::bfloat16>(DeviceKind::cpu);
  if (both().size() < 2)
    return;
  for (const char* target : {"sm_80", "sm_90a"}) {
    SCOPED_TRACE(target);
    setenv("TESSEL_SIM_TARGET", target, /*overwrite=*/1);
    const tessel::Kernel k = make_rmw_kernel((std::string("atomic_rmw_") + target).c_str());
    check_half_add<tessel::half>(DeviceKind::sim, k);
    check_half_add<tessel::bfloat16>(DeviceKind::sim, k);
  }
  unsetenv("TESSEL_SIM_TARGET");
}

// A histogram: 1000 indices into 7 bins, 64 per program (duplicates within every tile), counts
// and weights (exact in f32: multiples of 1/4) added atomically; the old values are not used
// (GPU: `red`) with relaxed ordering, and are used with the default acq_rel.
const tessel::Kernel& histogram_kernel() {
  static const tessel::Kernel k =
      tl::kernel("atomic_histogram", "counts, sums, idx, w, n, RELAXED, BLOCK",
                 [](tl::Ptr counts, tl::Ptr sums, tl::Ptr idx, tl::Ptr w, tl::Int n,
                    tl::Const<bool> RELAXED, tl::Const<int> BLOCK) {
                   auto offs = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
                   auto mask = offs < n;
                   auto bin = tl::load(idx + offs, mask);
                   auto sem = RELAXED ? tl::MemSem::relaxed : tl::MemSem::acq_rel;
                   tl::atomic_add(counts + bin, 1, mask, sem);
                   tl::atomic_add(sums + bin, tl::load(w + offs, mask), mask, sem);
                 });
  return k;
}

TEST_F(Atomics, HistogramAppliesEveryDuplicateAddress) {
  const int64_t n = 1000, bins = 7, block = 64;
  std::mt19937 rng(5);
  std::vector<int32_t> idx(n);
  std::vector<float> w(n);
  std::vector<int32_t> want_counts(bins, 0);
  std::vector<float> want_sums(bins, 0);
  for (int64_t i = 0; i < n; ++i) {
    idx[i] = int32_t(rng() % bins);
    w[i] = float(int(rng() % 17) - 8) / 4;
    ++want_counts[idx[i]];
    want_sums[idx[i]] += w[i];
  }
  for (DeviceKind where : both())
    for (bool relaxed : {true, false}) {
      SCOPED_TRACE(testing::Message()
                   << (where == DeviceKind::cpu ? "cpu" : "sim") << " relaxed=" << relaxed);
      Buffer<int32_t> counts(where, std::vector<int32_t>(bins, 0)), bi(where, idx);
      Buffer<float> sums(where, std::vector<float>(bins, 0)), bw(where, w);
      histogram_kernel().launch({(n + block - 1) / block}, on(where), counts.view(), sums.view(),
                                bi.view(), bw.view(), n, relaxed, int(block));
      EXPECT_EQ(counts.read(), want_counts);
      EXPECT_EQ(sums.read(), want_sums);
    }
}

// A 16-element tile under 4 warps (128 threads): every element has 8 copies. Each of 8 programs
// adds 1 to the same 16 counters and keeps the old values: the counters end at 8 (each applied
// once), and every copy holds the owner's old value (per counter, the olds are 0..7).
TEST_F(Atomics, ReplicatedLayoutAppliesOnceAndSharesTheOldValue) {
  static const tessel::Kernel k =
      tl::kernel("atomic_replicated", [](tl::Ptr counters, tl::Ptr out, tl::Const<int> BLOCK) {
        auto offs = tl::arange(0, BLOCK);
        auto old = tl::atomic_add(counters + offs, 1);
        tl::store(out + tl::program_id(0) * BLOCK + offs, old * 2 + 1); // used elementwise
      });
  const int programs = 8, block = 16;
  for (DeviceKind where : both())
    for (int warps : {1, 4}) {
      SCOPED_TRACE(testing::Message()
                   << (where == DeviceKind::cpu ? "cpu" : "sim") << " warps=" << warps);
      Buffer<int32_t> counters(where, std::vector<int32_t>(block, 0)),
          out(where, std::vector<int32_t>(programs * block, -1));
      k.launch({programs}, on(where, warps), counters.view(), out.view(), block);
      EXPECT_EQ(counters.read(), std::vector<int32_t>(block, programs));
      std::vector<int32_t> got = out.read();
      for (int i = 0; i < block; ++i) {
        std::vector<int32_t> olds;
        for (int p = 0; p < programs; ++p)
          olds.push_back((got[p * block + i] - 1) / 2);
        std::sort(olds.begin(), olds.end());
        for (int p = 0; p < programs; ++p)
          ASSERT_EQ(olds[p], p) << "counter " << i;
      }
    }
}

// Scalar atomics: one per program on a scalar pointer; the olds are a permutation of 0..P-1; a
// masked-off scalar atomic does nothing and yields 0.
TEST_F(Atomics, ScalarAtomicsOncePerProgram) {
  static const tessel::Kernel k =
      tl::kernel("atomic_scalar", [](tl::Ptr counter, tl::Ptr idle, tl::Ptr out) {
        auto pid = tl::program_id(0);
        tl::store(out + pid, tl::atomic_add(counter, 1));
        tl::store(out + 64 + pid, tl::atomic_max(idle, pid, pid < 0)); // never applied
      });
  const int programs = 40;
  for (DeviceKind where : both()) {
    SCOPED_TRACE(where == DeviceKind::cpu ? "cpu" : "sim");
    Buffer<int32_t> counter(where, {0}), idle(where, {-5}),
        out(where, std::vector<int32_t>(128, -1));
    k.launch({programs}, on(where), counter.view(), idle.view(), out.view());
    EXPECT_EQ(counter.read()[0], programs);
    EXPECT_EQ(idle.read()[0], -5);
    std::vector<int32_t> got = out.read();
    std::vector<int32_t> olds(got.begin(), got.begin() + programs);
    std::sort(olds.begin(), olds.end());
    for (int p = 0; p < programs; ++p) {
      ASSERT_EQ(olds[p], p);
      ASSERT_EQ(got[64 + p], 0) << "a masked-off atomic yields 0";
    }
  }
}

// A spin-lock: acquire with cas(lock, 0, 1) until it returns 0, then a plain (non-atomic)
// read-modify-write of a counter and of a 32-element tile, then release with xchg(lock, 0).
// Without the lock, concurrent programs would lose updates.
TEST_F(Atomics, SpinLockSerialisesAPlainReadModifyWrite) {
  static const tessel::Kernel k = tl::kernel(
      "atomic_spin_lock", [](tl::Ptr lock, tl::Ptr counter, tl::Ptr tile, tl::Const<int> BLOCK) {
        auto got = tl::scalar(1, tl::i32);
        tl::while_([&] { return got != 0; },
                   [&] { got = tl::atomic_cas(lock, 0, 1, tl::MemSem::acquire); });
        auto offs = tl::arange(0, BLOCK);
        tl::store(counter, tl::load(counter) + 1);
        tl::store(tile + offs, tl::load(tile + offs) + tl::program_id(0) + offs);
        tl::atomic_xchg(lock, 0, tl::MemSem::release);
      });
  const int block = 32;
  for (DeviceKind where : both()) {
    SCOPED_TRACE(where == DeviceKind::cpu ? "cpu" : "sim");
    const int p = where == DeviceKind::cpu ? 400 : 16; // the simulator runs programs one by one
    Buffer<int32_t> lock(where, {0}), counter(where, {0}),
        tile(where, std::vector<int32_t>(block, 0));
    k.launch({p}, on(where), lock.view(), counter.view(), tile.view(), block);
    EXPECT_EQ(lock.read()[0], 0);
    EXPECT_EQ(counter.read()[0], p);
    std::vector<int32_t> want(block);
    for (int i = 0; i < block; ++i)
      want[i] = p * (p - 1) / 2 + p * i;
    EXPECT_EQ(tile.read(), want);
  }
}

// Checked mode (CPU): an atomic outside the views passed is an error naming the kernel, the access
// and the user's line, as for loads and stores; masked-off elements are not checked.
TEST_F(Atomics, CheckedModeReportsAnOutOfBoundsAtomic) {
  static int line = 0;
  static const tessel::Kernel k = tl::kernel("atomic_oob", [](tl::Ptr counters, tl::Int n) {
    auto offs = tl::arange(0, 16);
    line = __LINE__ + 1;
    tl::atomic_add(counters + offs, 1, offs <= n); // one past the end when n = 8
  });
  std::vector<int32_t> host(16, 0);
  tessel::TensorView view(host.data(), tessel::i32, {8});
  tessel::LaunchOptions checked;
  checked.checked = true;
  k.launch({1}, checked, view, 7); // in bounds
  EXPECT_EQ(host[7], 1);
  tessel::testing::expect_error([&] { k.launch({1}, checked, view, 8); },
                                [] {
                                  return std::vector<std::string>{
                                      std::string(__FILE__) + ":" + std::to_string(line),
                                      "kernel 'atomic_oob'", "element 8 of a view with 8 elements"};
                                });
}

} // namespace
