#include "client/loop_host.hpp"

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <utility>

namespace lobbykit::client {

LoopHost::LoopHost(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}

LoopHost::~LoopHost() = default;

void LoopHost::dispose(std::unique_ptr<LoopHost> host) {
  if (!host) return;
  LoopHost& d = *host;
  {
    std::unique_lock<std::mutex> lock(d.mu_);
    if (d.on_loop_thread()) {
      // From one of its own handlers: the loop is on the stack below. Stop it, and let
      // serve() delete the rest once the loop has ended.
      lock.unlock();
      d.stop_here();
      lock.lock();
      d.run_ = Run::stopping;
      d.free_when_done_ = true;
      if (d.thread_.joinable()) d.thread_.detach();
      host.release();
      return;
    }
  }
  d.stop();
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(d.mu_);
    t = std::move(d.thread_);
  }
  if (t.joinable()) t.join();
}

void LoopHost::run() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (run_ == Run::stopped) return;
    if (run_ != Run::idle) throw std::logic_error("lobbykit: the loop is already running");
    run_ = Run::running;
  }
  serve();  // may delete *this (disposed from a handler)
}

void LoopHost::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (run_ != Run::idle) return;
  run_ = Run::running;
  thread_ = std::thread([this] { serve(); });
}

void LoopHost::serve() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    loop_thread_ = std::this_thread::get_id();
  }
  loop_->post([this] { begin(); });
  try {
    loop_->run(*this);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lobbykit: a client loop failed: %s\n", e.what());
  }
  bool free_me = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    run_ = Run::stopped;
    loop_thread_ = std::thread::id();
    free_me = free_when_done_;
    cv_.notify_all();
  }
  if (free_me) delete this;
}

void LoopHost::stop_here() {
  halt();
  loop_->request_stop();
}

void LoopHost::stop() {
  std::unique_lock<std::mutex> lock(mu_);
  switch (run_) {
    case Run::idle:
      run_ = Run::stopped;  // never ran: nothing to close
      cv_.notify_all();
      return;
    case Run::running:
      run_ = Run::stopping;
      if (on_loop_thread()) {
        lock.unlock();
        stop_here();  // the loop ends once the handler returns
        return;
      }
      loop_->post([this] { stop_here(); });
      break;
    case Run::stopping:
    case Run::stopped:
      break;
  }
  if (on_loop_thread()) return;
  cv_.wait(lock, [this] { return run_ == Run::stopped; });
  if (thread_.joinable()) {
    std::thread t = std::move(thread_);
    lock.unlock();
    t.join();
  }
}

LoopHost::Call LoopHost::call_soon(std::function<void()> fn) {
  std::unique_lock<std::mutex> lock(mu_);
  if (on_loop_thread()) {
    lock.unlock();
    fn();
    return Call::here;
  }
  switch (run_) {
    case Run::idle:
      return Call::idle;
    case Run::stopped:
      return Call::stopped;
    case Run::running:
    case Run::stopping:
      break;
  }
  return loop_->post(std::move(fn)) ? Call::posted : Call::stopped;
}

}  // namespace lobbykit::client
