// The cache stress run (see stress.h): start workers, kill some, reap all, add up their counts.
#include "cache/stress.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

namespace tessel::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// "a=1 b=2" -> {a: 1, b: 2}.
std::map<std::string, int64_t> parse_counts(const std::string& line) {
  std::map<std::string, int64_t> out;
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    size_t eq = word.find('=');
    if (eq != std::string::npos)
      out[word.substr(0, eq)] = std::stoll(word.substr(eq + 1));
  }
  return out;
}

struct Running {
  Child child;
  Clock::time_point started;
  bool killed = false; // by the killer (expected), not by the hang timeout
  bool hung = false;
};

class Stress {
public:
  explicit Stress(const StressConfig& c) : c_(c), rng_(c.seed) {}

  StressCounts run() {
    Clock::time_point start = Clock::now();
    const std::string until = c_.work_dir + "/stop-corrupting";
    fs::remove(until);
    Child corrupter;
    if (c_.corrupt)
      corrupter = spawn_process({c_.worker, "--corrupt", c_.cache_dir, "--seed",
                                 std::to_string(c_.seed + 1000), "--until", until, "--every-ms",
                                 std::to_string(c_.fault_every_ms)},
                                {}, c_.work_dir);
    Clock::time_point next_kill = Clock::now() + kill_gap();
    while (seconds_since(start) < c_.seconds || !running_.empty()) {
      bool starting = seconds_since(start) < c_.seconds;
      while (starting && int(running_.size()) < c_.processes)
        start_worker();
      if (starting && c_.kill_every_ms > 0 && Clock::now() >= next_kill) {
        kill_one();
        next_kill = Clock::now() + kill_gap();
      }
      reap();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (c_.corrupt)
      finish_corrupter(corrupter, until);
    n_.leftover_temp_dirs = count_temp_dirs();
    n_.seconds = seconds_since(start);
    return n_;
  }

private:
  Clock::duration kill_gap() {
    std::uniform_int_distribution<int> ms(1, 2 * std::max(1, c_.kill_every_ms));
    return std::chrono::milliseconds(ms(rng_));
  }

  void start_worker() {
    EnvVars env = {
        {"TESSEL_CACHE_DIR", c_.cache_dir},
        {"TESSEL_CACHE_READONLY_DIRS", ""},
        {"TESSEL_CACHE_DISABLE", ""},
        {"TESSEL_CACHE_TEST_PAUSE", ""},
        {"TESSEL_DUMP", ""},
        {"TESSEL_CPU_THREADS", "1"},
        {"TESSEL_CACHE_MAX_BYTES", c_.max_bytes > 0 ? std::to_string(c_.max_bytes) : ""}};
    env.insert(env.end(), c_.extra_env.begin(), c_.extra_env.end());
    Running r;
    r.child = spawn_process(
        {c_.worker, "--kernels", std::to_string(c_.kernels), "--seed", std::to_string(rng_())}, env,
        c_.work_dir);
    r.started = Clock::now();
    running_.push_back(r);
  }

  void kill_one() {
    if (running_.empty())
      return;
    Running& victim = running_[rng_() % running_.size()];
    if (!victim.killed && ::kill(victim.child.pid, SIGKILL) == 0)
      victim.killed = true;
  }

  void reap() {
    for (size_t i = 0; i < running_.size();) {
      Running& r = running_[i];
      if (!r.killed && seconds_since(r.started) > c_.worker_timeout) {
        r.hung = r.killed = ::kill(r.child.pid, SIGKILL) == 0;
      }
      std::optional<ProcessResult> done = poll_process(r.child);
      if (!done) {
        ++i;
        continue;
      }
      account(r, *done);
      fs::remove(r.child.out_path);
      fs::remove(r.child.err_path);
      running_.erase(running_.begin() + std::ptrdiff_t(i));
    }
  }

  void account(const Running& r, const ProcessResult& p) {
    if (r.hung) {
      n_.failures.push_back("a worker hung (killed after " + std::to_string(c_.worker_timeout) +
                            " s); stderr: " + p.err);
      return;
    }
    if (r.killed && p.signal == SIGKILL) {
      ++n_.kills;
      return;
    }
    if (p.exit_code != 0) {
      n_.failures.push_back("a worker " +
                            (p.signal ? "died of signal " + std::to_string(p.signal)
                                      : "exited with " + std::to_string(p.exit_code)) +
                            "; stdout: " + p.out + " stderr: " + p.err);
      if (p.exit_code != 3)
        return; // exit 3 still printed its counts, with wrong > 0
    }
    std::map<std::string, int64_t> m = parse_counts(p.out);
    ++n_.worker_runs;
    n_.launches += m["launches"];
    n_.wrong += m["wrong"];
    n_.disk_loads += m["disk"];
    n_.compiled += m["compiled"];
    n_.hits += m["hits"];
    n_.misses += m["misses"];
    n_.corrupt_detected += m["corrupt"];
    n_.stored += m["stored"];
    n_.evicted += m["evicted"];
  }

  void finish_corrupter(const Child& corrupter, const std::string& until) {
    write_text_file(until, "stop");
    ProcessResult p = wait_process(corrupter);
    if (p.exit_code != 0)
      n_.failures.push_back("the corrupter failed: " + p.err);
    std::string line = p.out.substr(0, p.out.find('\n'));
    n_.faults = parse_counts(line)["faults"];
    n_.fault_detail = line;
  }

  int64_t count_temp_dirs() const {
    int64_t n = 0;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(c_.cache_dir + "/v1", ec))
      n += e.path().filename().string().rfind(".tmp.", 0) == 0;
    return n;
  }

  const StressConfig& c_;
  std::mt19937 rng_;
  std::vector<Running> running_;
  StressCounts n_;
};

} // namespace

StressCounts run_stress(const StressConfig& config) { return Stress(config).run(); }

std::string StressCounts::summary() const {
  char buf[640];
  std::snprintf(buf, sizeof buf,
                "%.1f s: %lld worker runs, %lld launches checked, %lld wrong, %lld failures; "
                "%lld loaded from disk, %lld compiled; cache hits %lld, misses %lld, corrupt "
                "entries detected %lld, stored %lld, evicted %lld; %lld workers SIGKILLed, %lld "
                "temporary directories left by them; corrupter: %s",
                seconds, (long long)worker_runs, (long long)launches, (long long)wrong,
                (long long)failures.size(), (long long)disk_loads, (long long)compiled,
                (long long)hits, (long long)misses, (long long)corrupt_detected, (long long)stored,
                (long long)evicted, (long long)kills, (long long)leftover_temp_dirs,
                fault_detail.empty() ? "off" : fault_detail.c_str());
  return buf;
}

} // namespace tessel::testing
