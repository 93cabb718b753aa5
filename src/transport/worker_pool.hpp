// WorkerPool: the server's Worker. A few threads run slow jobs (password hashing) off the
// loop thread and hand each job's completion back to the loop through post_to_loop.
#pragma once

#include "core/worker.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lobbykit::transport {

class WorkerPool final : public core::Worker {
 public:
  // Delivers a completion to the loop thread; called on a pool thread. It may drop the
  // completion (the loop has ended), which the pool accepts.
  using PostToLoop = std::function<void(std::function<void()>)>;

  // Starts `threads` threads (at least one). Constructing thread only.
  WorkerPool(unsigned threads, PostToLoop post_to_loop);
  // Drops jobs that have not started, waits for running ones, joins. Not from a pool thread.
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Any thread (the loop thread in practice). Dropped once the pool is stopping.
  void submit(core::Job job) override;

 private:
  void run_thread();  // body of each pool thread

  PostToLoop post_to_loop_;         // set once, read by pool threads
  std::mutex mu_;                   // guards jobs_ and stopping_
  std::condition_variable wake_;    // signalled on a new job or on stop
  std::deque<core::Job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // constructing / destroying thread only
};

}  // namespace lobbykit::transport
