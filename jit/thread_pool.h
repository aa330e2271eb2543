// Private: the worker threads that run a CPU launch's program instances. Workers have 64 MiB
// stacks because the CPU backend keeps tiles in stack memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <pthread.h>
#include <vector>

namespace tessel::jit {

class ThreadPool {
public:
  static constexpr size_t kWorkerStackBytes = size_t(64) << 20;
  using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);

  // The process-wide pool: one worker per hardware thread.
  static ThreadPool& instance();

  explicit ThreadPool(unsigned workers);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return unsigned(threads_.size()); }
  // Runs fn over [0, total) in chunks of `chunk` on the workers, or, when `caller_helps`, on the
  // calling thread and size() - 1 of the workers: size() threads in all either way, so that
  // TESSEL_CPU_THREADS=N runs N threads, not N + 1 on N cores. Returns when all are done.
  // Exceptions must not escape fn.
  void run(int64_t total, int64_t chunk, RangeFn fn, void* ctx, bool caller_helps);

private:
  // One call of run(); lives on the caller's stack.
  struct Job {
    RangeFn fn;
    void* ctx;
    int64_t total;
    int64_t chunk;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> finished{0};
    int workers_inside = 0;  // guarded by mutex_
    int workers_allowed = 0; // how many workers may enter (constant during the job)
  };

  static void* worker_main(void* self);
  static void work_on(Job& job);

  std::vector<pthread_t> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  Job* current_ = nullptr; // guarded by mutex_
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::mutex job_mutex_; // one job at a time
};

} // namespace tessel::jit
