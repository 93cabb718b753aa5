#include "transport/worker_pool.hpp"

#include <cstdio>
#include <exception>
#include <utility>

namespace lobbykit::transport {

WorkerPool::WorkerPool(unsigned threads, PostToLoop post_to_loop)
    : post_to_loop_(std::move(post_to_loop)) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run_thread(); });
}

WorkerPool::~WorkerPool() {
  std::deque<core::Job> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(jobs_);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  // `dropped` is destroyed here, outside the lock: a job's captures may be heavy.
}

void WorkerPool::submit(core::Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void WorkerPool::run_thread() {
  for (;;) {
    core::Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    core::Completion done;
    try {
      done = job();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lobbykit: a worker job failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "lobbykit: a worker job failed with an unknown exception\n");
    }
    if (done) post_to_loop_(std::move(done));
  }
}

}  // namespace lobbykit::transport
