#include "client/in_process_link.hpp"

#include "transport/in_process.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

namespace lobbykit::client {

namespace {

// The loop's task queue. Shared with the connection ends the server holds, so that a
// server that outlives this client posts into a closed queue rather than freed memory.
struct Queue {
  std::mutex mu;                // guards tasks and closed
  std::condition_variable cv;   // signalled on a new task
  std::deque<std::function<void()>> tasks;
  bool closed = false;          // run() has ended (or never will): posts are refused

  bool post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed) return false;
      tasks.push_back(std::move(fn));
    }
    cv.notify_one();
    return true;
  }
};

void run_task(std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lobbykit: a client task failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "lobbykit: a client task failed: unknown exception\n");
  }
}

}  // namespace

struct InProcessLoop::Impl {
  std::shared_ptr<transport::InProcessTransport> server;  // thread-safe
  std::shared_ptr<Queue> queue = std::make_shared<Queue>();

  // Loop thread only.
  LinkListener* listener = nullptr;
  bool busy = false;            // a connection is current
  router::ConnId conn = 0;      // its id at the server; 0 while refused
  std::uint64_t gen = 0;        // bumped per connection: reports of older ones are dropped
  std::optional<SteadyMs> wake;
  bool stop = false;

  // What the server says about connection `g`; run on the loop thread.
  void opened(std::uint64_t g) {
    if (g == gen && busy && listener) listener->on_open();
  }
  void frames(std::uint64_t g, const std::vector<router::Frame>& batch) {
    for (const auto& f : batch) {
      if (g != gen || !busy || !listener) return;  // closed while handling the batch
      listener->on_text(*f);
    }
  }
  void closed(std::uint64_t g, std::uint16_t code, const std::string& reason) {
    if (g != gen || !busy) return;
    busy = false;
    conn = 0;
    if (listener) listener->on_closed(code, reason);
  }
};

namespace {

// The client end of one connection, as the server's transport sees it. Server thread.
class End final : public transport::InProcessClientEnd {
 public:
  End(std::shared_ptr<Queue> queue, InProcessLoop::Impl* loop, std::uint64_t gen)
      : queue_(std::move(queue)), loop_(loop), gen_(gen),
        backlog_(std::make_shared<std::atomic<std::size_t>>(0)) {}

  // The tasks run only inside run(), while the loop (and loop_) is alive.
  void opened() override {
    queue_->post([loop = loop_, g = gen_] { loop->opened(g); });
  }
  void frames(std::vector<router::Frame> batch) override {
    std::size_t bytes = 0;
    for (const auto& f : batch) bytes += f->size();
    *backlog_ += bytes;
    queue_->post([loop = loop_, g = gen_, batch = std::move(batch), backlog = backlog_, bytes] {
      loop->frames(g, batch);
      *backlog -= bytes;
    });
  }
  std::size_t backlog_bytes() const override { return backlog_->load(); }
  void closed(std::uint16_t code, std::string reason) override {
    queue_->post([loop = loop_, g = gen_, code, reason = std::move(reason)] {
      loop->closed(g, code, reason);
    });
  }

 private:
  std::shared_ptr<Queue> queue_;
  InProcessLoop::Impl* loop_;
  std::uint64_t gen_;
  std::shared_ptr<std::atomic<std::size_t>> backlog_;  // frames posted, not yet consumed
};

}  // namespace

InProcessLoop::InProcessLoop(std::shared_ptr<transport::InProcessTransport> server)
    : impl_(std::make_unique<Impl>()) {
  impl_->server = std::move(server);
}

InProcessLoop::~InProcessLoop() {
  Impl& d = *impl_;
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(d.queue->mu);
    d.queue->closed = true;
    dropped.swap(d.queue->tasks);
  }
  if (d.busy && d.conn != 0) d.server->disconnect(d.conn);
}

void InProcessLoop::run(LinkListener& listener) {
  Impl& d = *impl_;
  d.listener = &listener;
  Queue& q = *d.queue;
  while (!d.stop) {
    std::deque<std::function<void()>> batch;
    {
      std::unique_lock<std::mutex> lock(q.mu);
      if (q.tasks.empty()) {
        if (d.wake) {
          const std::chrono::steady_clock::time_point until{std::chrono::milliseconds(*d.wake)};
          q.cv.wait_until(lock, until, [&q] { return !q.tasks.empty(); });
        } else {
          q.cv.wait(lock, [&q] { return !q.tasks.empty(); });
        }
      }
      batch.swap(q.tasks);
    }
    for (auto& fn : batch) run_task(fn);
    if (!d.stop && d.wake && steady_now_ms() >= *d.wake) {
      d.wake.reset();
      listener.on_wakeup();
    }
  }
  // What was posted before the end still runs (a request's callback must run once).
  std::deque<std::function<void()>> rest;
  {
    std::lock_guard<std::mutex> lock(q.mu);
    q.closed = true;
    rest.swap(q.tasks);
  }
  for (auto& fn : rest) run_task(fn);
  if (d.busy && d.conn != 0) d.server->disconnect(d.conn);
  d.busy = false;
  d.conn = 0;
  d.listener = nullptr;
}

bool InProcessLoop::post(std::function<void()> fn) { return impl_->queue->post(std::move(fn)); }

void InProcessLoop::request_stop() { impl_->stop = true; }  // nothing to drain in-process

void InProcessLoop::wake_at(std::optional<SteadyMs> at) { impl_->wake = at; }

void InProcessLoop::open() {
  Impl& d = *impl_;
  const std::uint64_t g = ++d.gen;
  d.busy = true;
  d.conn = d.server ? d.server->connect(std::make_shared<End>(d.queue, &d, g)) : 0;
  if (d.conn == 0) {
    d.queue->post([loop = &d, g] { loop->closed(g, kCloseAbnormal, "the server is not running"); });
  }
}

void InProcessLoop::send(std::string text) {
  Impl& d = *impl_;
  if (d.busy && d.conn != 0) d.server->send_text(d.conn, std::move(text));
}

void InProcessLoop::close(std::uint16_t /*code*/, std::string_view /*reason*/) {
  Impl& d = *impl_;
  if (d.busy && d.conn != 0) d.server->disconnect(d.conn);
  d.busy = false;
  d.conn = 0;
  ++d.gen;
}

}  // namespace lobbykit::client
