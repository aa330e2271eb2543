// ThreadPool: pthreads with large stacks. A job lives on the caller's stack and hands out chunks
// of program ids through an atomic counter, so uneven programs balance; a worker enters a job only
// under the pool's mutex and the caller waits until none is inside before the job goes away.
#include "jit/thread_pool.h"

#include "tessel/error.h"
#include "tessel/support/dump.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

namespace tessel::jit {

// TESSEL_CPU_THREADS=N sets the number of workers (default: one per hardware thread). A value
// that is not a count from 1 to 1024 is warned about (once: the pool is made once) and ignored.
static unsigned configured_workers() {
  unsigned fallback = std::max(1u, std::thread::hardware_concurrency());
  const char* v = std::getenv("TESSEL_CPU_THREADS");
  if (!v || !*v)
    return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end == '\0' && n >= 1 && n <= 1024)
    return unsigned(n);
  support::warn(std::string("TESSEL_CPU_THREADS='") + v +
                "' is not a thread count from 1 to 1024; using one per hardware thread (" +
                std::to_string(fallback) + ")");
  return fallback;
}

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool(configured_workers());
  return pool;
}

ThreadPool::ThreadPool(unsigned workers) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStackBytes);
  for (unsigned i = 0; i < workers; ++i) {
    pthread_t t;
    if (pthread_create(&t, &attr, &ThreadPool::worker_main, this) != 0)
      break; // fewer workers than asked still works
    threads_.push_back(t);
  }
  pthread_attr_destroy(&attr);
  if (threads_.empty())
    throw Error("cannot start any worker thread for CPU launches");
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (pthread_t t : threads_)
    pthread_join(t, nullptr);
}

void ThreadPool::work_on(Job& job) {
  for (;;) {
    int64_t begin = job.next.fetch_add(job.chunk, std::memory_order_relaxed);
    if (begin >= job.total)
      return;
    int64_t end = std::min(job.total, begin + job.chunk);
    job.fn(job.ctx, begin, end);
    job.finished.fetch_add(end - begin, std::memory_order_acq_rel);
  }
}

void* ThreadPool::worker_main(void* self) {
  auto* pool = static_cast<ThreadPool*>(self);
  uint64_t seen = 0;
  for (;;) {
    Job* job;
    {
      std::unique_lock lock(pool->mutex_);
      pool->wake_.wait(lock, [&] { return pool->stopping_ || pool->generation_ != seen; });
      if (pool->stopping_)
        return nullptr;
      seen = pool->generation_;
      job = pool->current_;
      if (!job || job->workers_inside >= job->workers_allowed)
        continue;
      ++job->workers_inside;
    }
    work_on(*job);
    {
      std::lock_guard lock(pool->mutex_);
      --job->workers_inside;
    }
    pool->done_.notify_all();
  }
}

void ThreadPool::run(int64_t total, int64_t chunk, RangeFn fn, void* ctx, bool caller_helps) {
  if (total <= 0)
    return;
  std::lock_guard one_job(job_mutex_);
  Job job;
  job.fn = fn;
  job.ctx = ctx;
  job.total = total;
  job.chunk = std::max<int64_t>(1, chunk);
  job.workers_allowed = int(threads_.size()) - (caller_helps ? 1 : 0);
  if (job.workers_allowed == 0) { // TESSEL_CPU_THREADS=1: the caller is the one thread
    work_on(job);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    current_ = &job;
    ++generation_;
  }
  wake_.notify_all();
  if (caller_helps)
    work_on(job);
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] {
    return job.finished.load(std::memory_order_acquire) >= job.total && job.workers_inside == 0;
  });
  current_ = nullptr;
}

} // namespace tessel::jit
