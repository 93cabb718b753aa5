// LoopHost: the life of a loop thread that owns one sans-IO core (the Client's ClientCore,
// the BotProvider's ProviderCore): run() on the caller's thread or start() on a thread of
// its own, stop() from any thread (from the loop's own handler it returns at once), calls
// that need the core from any thread (on_loop, call_soon), and destruction from any thread,
// the loop's own handlers included. The public facades keep their Impl as a CoreHost
// (core_host.hpp), the LoopHost that also drives their core: begin() and halt() start and
// stop it.
#pragma once

#include "client/link.hpp"

#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

namespace lobbykit::client {

class LoopHost : public LinkListener {
 public:
  explicit LoopHost(std::unique_ptr<Loop> loop);
  ~LoopHost() override;  // only through dispose(), or when the loop never ran
  LoopHost(const LoopHost&) = delete;
  LoopHost& operator=(const LoopHost&) = delete;

  // For the facade's destructor, any thread: stops and joins, then deletes host. From one
  // of the loop's own handlers it stops, and the loop deletes host once it has ended.
  static void dispose(std::unique_ptr<LoopHost> host);

  // Serves on the calling thread until stop(). Returns at once when stopped already; throws
  // std::logic_error when already running. After it returns *this may be gone (disposed
  // from a handler meanwhile).
  void run();
  void start();  // serves on a thread of its own; nothing when running or stopped
  // Ends the loop after halt(). Idempotent. From another thread it returns once the loop
  // has ended; from the loop's own thread at once.
  void stop();

  // How call_soon() went: fn ran here (this is the loop thread), was posted to the running
  // loop, or was not taken because no loop runs: it never ran (idle) or it has ended.
  enum class Call { here, posted, idle, stopped };
  Call call_soon(std::function<void()> fn);

  // Runs fn with the core to itself and returns its result: on the loop thread (posted and
  // waited for, unless this is it), or here under the lock when no loop runs.
  template <class R, class Fn>
  R on_loop(Fn fn);

  Loop& loop() { return *loop_; }
  bool on_loop_thread() const { return loop_thread_ == std::this_thread::get_id(); }

 protected:
  virtual void begin() = 0;  // loop thread, first thing: start the core
  virtual void halt() = 0;   // loop thread: stop the core (the loop ends after it)

 private:
  enum class Run { idle, running, stopping, stopped };

  void serve();      // body of run() and of start()'s thread; run_ is running
  void stop_here();  // loop thread

  std::unique_ptr<Loop> loop_;  // set at construction; thread-safe where Loop says so
  std::mutex mu_;               // guards the fields below
  std::condition_variable cv_;  // signalled when run_ becomes stopped
  Run run_ = Run::idle;
  std::thread::id loop_thread_;  // the thread inside serve(), while it is
  std::thread thread_;           // the loop thread start() made
  bool free_when_done_ = false;  // disposed from its own handler: serve() deletes it
};

template <class R, class Fn>
R LoopHost::on_loop(Fn fn) {
  std::unique_lock<std::mutex> lock(mu_);
  if (on_loop_thread()) {
    lock.unlock();
    return fn();
  }
  if (run_ == Run::idle || run_ == Run::stopped) return fn();
  auto promise = std::make_shared<std::promise<R>>();
  std::future<R> result = promise->get_future();
  const bool posted = loop_->post([promise, fn]() mutable {
    if constexpr (std::is_void_v<R>) {
      fn();
      promise->set_value();
    } else {
      promise->set_value(fn());
    }
  });
  lock.unlock();
  if (posted) return result.get();  // a posted task always runs, at the latest as the loop ends
  lock.lock();
  cv_.wait(lock, [this] { return run_ == Run::stopped; });
  return fn();
}

}  // namespace lobbykit::client
