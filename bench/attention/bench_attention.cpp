// Benchmark of ops::attention (bench/attention/README in bench/RESULTS.md, "Attention"): two
// figures the issue asks for without a GPU.
//
//   bench_attention cpu [RUNS] [SEQ [DIM [CAUSAL]]]
//                                   CPU forward, f32, batch 4, 12 heads, seqlen 128/512 (or SEQ
//                                   alone), head_dim 32/64 (or DIM), causal and not (or CAUSAL
//                                   0/1; 0 for SEQ or DIM: all), [batch, seqlen,
//                                   heads, head_dim] with the op's default tiles: one TSV row per
//                                   shape, min and median of RUNS after 3 warm-ups (threads:
//                                   TESSEL_CPU_THREADS). BENCH_CLOCK=cpu times the process's CPU
//                                   time (all threads) instead of the wall clock: on a loaded
//                                   machine, run at one thread, it counts only this process's work.
//   bench_attention compile [RUNS] [TARGET]
//                                   cold compile of the forward kernel for TARGET (sm_80, the
//                                   default, or sm_90a; the registry's ops.attention: f16,
//                                   head_dim 64, the GPU tile the op launches there: 32 x 16 on
//                                   sm_80, 64 x 16 on sm_90a, where both dots run on wgmma),
//                                   trace + passes + codegen to a cubin, each run from scratch:
//                                   the first run of the process and the min / median of the next.
//
// torch_sdpa.py and triton_attention_compile.py print the same rows for PyTorch and Triton;
// run.sh runs all of them back to back.
#include "tessel/codegen/gpu.h"
#include "tessel/ops.h"
#include "tessel/ops/registry.h"
#include "tessel/samples/registry.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Milliseconds since an arbitrary start: wall clock, or with BENCH_CLOCK=cpu the process's CPU
// time (as bench_cpu_ops and torch_sdpa.py).
double now_ms() {
  static const bool cpu = [] {
    const char* c = std::getenv("BENCH_CLOCK");
    return c != nullptr && std::string(c) == "cpu";
  }();
  if (!cpu)
    return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

struct Timing {
  double min_ms, median_ms;
};

Timing summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v.front(), v[v.size() / 2]};
}

// Which shapes `bench_attention cpu` runs: 0 (or -1 for causal) for all.
struct Only {
  int64_t seq = 0, dim = 0;
  int causal = -1;
  bool skip(int64_t s, int64_t d, bool c) const {
    return (seq != 0 && s != seq) || (dim != 0 && d != dim) || (causal >= 0 && int(c) != causal);
  }
};

// BENCH_BLOCK_M / BENCH_BLOCK_N: the tile the op is asked for (AttentionOptions::block_m/n; 0 or
// unset: the op's own choice), to compare tiles in one build.
int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : 0;
}

int cpu(int runs, const Only& only) {
  const int64_t batch = 4, heads = 12;
  const int block_m = env_int("BENCH_BLOCK_M"), block_n = env_int("BENCH_BLOCK_N");
  std::printf("impl\tseqlen\thead_dim\tcausal\tmin_ms\tmedian_ms\n");
  // SEQ outside 128/512 runs that seqlen alone (tiles at longer sequences).
  std::vector<int64_t> seqs = {128, 512};
  if (only.seq != 0 && only.seq != 128 && only.seq != 512)
    seqs = {only.seq};
  for (int64_t seq : seqs)
    for (int64_t dim : {32, 64})
      for (bool causal : {false, true}) {
        if (only.skip(seq, dim, causal))
          continue;
        const size_t n = size_t(batch * seq * heads * dim);
        std::vector<float> q(n), k(n), v(n), out(n);
        std::mt19937 gen(1);
        std::uniform_real_distribution<float> d(-1, 1);
        for (std::vector<float>* x : {&q, &k, &v})
          for (float& e : *x)
            e = d(gen);
        tessel::TensorView tq(q.data(), {batch, seq, heads, dim}),
            tk(k.data(), {batch, seq, heads, dim});
        tessel::TensorView tv(v.data(), {batch, seq, heads, dim}),
            to(out.data(), {batch, seq, heads, dim});
        std::vector<double> times;
        for (int r = 0; r < runs + 3; ++r) {
          const double t0 = now_ms();
          tessel::ops::attention(tq, tk, tv, to,
                                 {.causal = causal, .block_m = block_m, .block_n = block_n});
          if (r >= 3)
            times.push_back(now_ms() - t0);
        }
        Timing t = summarize(times);
        std::printf("tessel\t%lld\t%lld\t%d\t%.3f\t%.3f\n", (long long)seq, (long long)dim,
                    int(causal), t.min_ms, t.median_ms);
        std::fflush(stdout);
      }
  return 0;
}

double compile_once(const tessel::samples::RegisteredKernel& k,
                    const tessel::codegen::Target& target) {
  auto t0 = Clock::now();
  // The forward's tile on sm_90a (attention.cpp, forward_tiles); the registry's default else.
  std::vector<std::string> defines;
  if (target.has_wgmma())
    defines.push_back("BLOCK_M=64");
  auto module = tessel::samples::trace_kernel(k, defines, /*optimize=*/true);
  tessel::codegen::gpu::CompileOptions opts;
  opts.num_warps = 4; // what the op launches at head_dim 64
  auto c = tessel::codegen::gpu::compile(*module->functions.front(), target, opts);
  if (c.cubin.empty())
    throw std::runtime_error("no cubin: " + c.info_log);
  return ms_since(t0);
}

int compile(int runs, const std::string& target_name) {
  tessel::ops::register_kernels();
  const auto k = tessel::samples::find_kernel("ops.attention");
  const auto target = tessel::codegen::parse_target(target_name);
  const double first = compile_once(k, target);
  std::vector<double> times;
  for (int r = 0; r < runs; ++r)
    times.push_back(compile_once(k, target));
  Timing t = summarize(times);
  std::printf("TESSEL attention_forward %s first %.1f min %.1f median %.1f ms (%d runs)\n",
              target.name().c_str(), first, t.min_ms, t.median_ms, runs);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "cpu";
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  try {
    if (mode == "cpu")
      return cpu(runs, {argc > 3 ? std::atoll(argv[3]) : 0, argc > 4 ? std::atoll(argv[4]) : 0,
                        argc > 5 ? std::atoi(argv[5]) : -1});
    if (mode == "compile")
      return compile(runs, argc > 3 ? argv[3] : "sm_80");
    std::fprintf(
        stderr,
        "usage: bench_attention cpu [RUNS] [SEQ [DIM [CAUSAL]]] | compile [RUNS] [sm_80|sm_90a]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention: %s\n", e.what());
    return 1;
  }
}
