// Worker: runs slow work (password hashing) off the loop thread.
//
// A job runs on some other thread and returns a completion; the Worker delivers that
// completion back on the loop thread. The server uses a thread pool; unit tests use
// ManualWorker and decide when jobs run, so they stay deterministic.
#pragma once

#include <deque>
#include <functional>
#include <utility>

namespace lobbykit::core {

using Completion = std::function<void()>;
using Job = std::function<Completion()>;

class Worker {
 public:
  virtual ~Worker() = default;
  virtual void submit(Job job) = 0;
};

class ManualWorker final : public Worker {
 public:
  void submit(Job job) override { jobs_.push_back(std::move(job)); }
  // Runs every queued job and its completion, including jobs queued meanwhile.
  // Returns how many ran.
  int run_all() {
    int n = 0;
    while (!jobs_.empty()) {
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      Completion done = job();
      if (done) done();
      ++n;
    }
    return n;
  }
  std::size_t pending() const { return jobs_.size(); }

 private:
  std::deque<Job> jobs_;
};

}  // namespace lobbykit::core
