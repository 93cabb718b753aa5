// The public Client: a ClientCore on a loop (libwebsockets, or in-process), the loop
// thread's life (start / run / stop), and the doors other threads come in by.
#include <lobbykit/client.hpp>
#include <lobbykit/server.hpp>

#include "client/client_core.hpp"
#include "client/in_process_link.hpp"
#include "client/ws_url.hpp"
#include "protocol/json.hpp"
#include "server_access.hpp"
#include "transport/lws_client.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

namespace lobbykit {

using protocol::JsonBuilder;

namespace {

void fail_now(const ReplyCallback& cb, const char* code, const char* message) {
  if (!cb) return;
  Reply r;
  r.error = client::make_client_error(code, message);
  cb(r);
}

}  // namespace

struct Client::Impl final : client::LinkListener {
  enum class Run { idle, running, stopping, stopped };

  struct Sub {
    std::uint64_t id;
    std::function<void(const ClientEvent&)> fn;
    bool active = true;
  };

  // Set at construction. The loop is thread-safe where its interface says so; the core
  // belongs to the loop thread, or to whoever holds mu while no loop runs.
  std::unique_ptr<client::Loop> loop;
  std::unique_ptr<client::ClientCore> core;

  // Loop thread (or under mu while no loop runs).
  std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  std::vector<std::shared_ptr<Sub>> subs;
  std::uint64_t next_sub = 1;

  // Any thread.
  std::atomic<ConnectionState> state{ConnectionState::disconnected};
  std::mutex mu;                // guards the fields below
  std::condition_variable cv;   // signalled when run becomes stopped
  Run run = Run::idle;
  std::thread::id loop_thread;  // the thread inside serve(), while it is
  std::thread thread;           // the loop thread start() made
  bool free_when_done = false;  // destroyed from its own handler: serve() frees it

  Impl(ClientOptions options, std::unique_ptr<client::Loop> l) : loop(std::move(l)) {
    core = std::make_unique<client::ClientCore>(
        std::move(options), *loop, [this](const ClientEvent& e) { dispatch(e); },
        [this] { return unit(rng); });
    core->set_state_observer([this](ConnectionState s) { state.store(s); });
  }

  static client::SteadyMs now() { return client::steady_now_ms(); }

  // After every core call on the loop thread: its next deadline is the loop's timer.
  void rearm() { loop->wake_at(core->next_deadline()); }

  // client::LinkListener: the loop reports; loop thread.
  void on_open() override {
    core->on_open(now());
    rearm();
  }
  void on_text(std::string_view text) override {
    core->on_text(text, now());
    rearm();
  }
  void on_closed(std::uint16_t code, std::string_view reason) override {
    core->on_closed(code, reason, now());
    rearm();
  }
  void on_wakeup() override {
    core->tick(now());
    rearm();
  }

  void dispatch(const ClientEvent& e) {
    const auto list = subs;  // a handler may subscribe or unsubscribe
    for (const auto& s : list) {
      if (!s->active) continue;
      try {
        s->fn(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "lobbykit: a client event handler threw: %s\n", ex.what());
      } catch (...) {
        std::fprintf(stderr, "lobbykit: a client event handler threw an unknown exception\n");
      }
    }
  }

  bool on_loop_thread() const { return loop_thread == std::this_thread::get_id(); }

  // Body of run() and of start()'s thread; run is already running.
  void serve() {
    {
      std::lock_guard<std::mutex> lock(mu);
      loop_thread = std::this_thread::get_id();
    }
    loop->post([this] {
      core->start(now());
      rearm();
    });
    try {
      loop->run(*this);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lobbykit: the client loop failed: %s\n", e.what());
    }
    bool free_me = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      run = Run::stopped;
      loop_thread = std::thread::id();
      free_me = free_when_done;
      cv.notify_all();
    }
    if (free_me) delete this;
  }

  // Loop thread: stops the core and asks the loop to end after the work at hand.
  void stop_here() {
    core->stop(now());
    rearm();
    loop->request_stop();
  }

  // Runs fn with the core to itself and returns its result: on the loop thread (posted,
  // waiting, unless this is it), or here under mu when no loop runs.
  template <class R, class Fn>
  R on_loop(Fn fn) {
    std::unique_lock<std::mutex> lock(mu);
    if (on_loop_thread()) {
      lock.unlock();
      return fn();
    }
    if (run == Run::idle || run == Run::stopped) return fn();
    auto promise = std::make_shared<std::promise<R>>();
    std::future<R> result = promise->get_future();
    const bool posted = loop->post([promise, fn]() mutable {
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
    cv.wait(lock, [this] { return run == Run::stopped; });
    return fn();
  }
};

Client::Client(ClientOptions options) {
  std::optional<client::WsUrl> url = client::parse_ws_url(options.url);
  if (!url)
    throw std::invalid_argument("lobbykit::Client: not a ws:// or wss:// URL: " + options.url);
  auto loop = std::make_unique<transport::LwsClientLoop>(std::move(*url));
  impl_ = std::make_unique<Impl>(std::move(options), std::move(loop));
}

Client::Client(Server& server, ClientOptions options)
    : impl_(std::make_unique<Impl>(
          std::move(options),
          std::make_unique<client::InProcessLoop>(detail::ServerAccess::in_process(server)))) {}

Client::~Client() {
  if (!impl_) return;
  Impl& d = *impl_;
  {
    std::unique_lock<std::mutex> lock(d.mu);
    if (d.on_loop_thread()) {
      // From one of its own handlers: the loop is on the stack below. Stop it, and let
      // serve() free the rest once the loop has ended.
      lock.unlock();
      d.stop_here();
      lock.lock();
      d.run = Impl::Run::stopping;
      d.free_when_done = true;
      if (d.thread.joinable()) d.thread.detach();
      impl_.release();
      return;
    }
  }
  stop();
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    t = std::move(d.thread);
  }
  if (t.joinable()) t.join();
}

void Client::run() {
  Impl* d = impl_.get();
  {
    std::lock_guard<std::mutex> lock(d->mu);
    if (d->run == Impl::Run::stopped) return;
    if (d->run != Impl::Run::idle)
      throw std::logic_error("lobbykit::Client::run: the client is already running");
    d->run = Impl::Run::running;
  }
  d->serve();  // may free *d (destroyed from a handler); `this` may be gone too
}

void Client::start() {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> lock(d.mu);
  if (d.run != Impl::Run::idle) return;
  d.run = Impl::Run::running;
  d.thread = std::thread([impl = &d] { impl->serve(); });
}

void Client::stop() {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);
  switch (d.run) {
    case Impl::Run::idle:
      d.run = Impl::Run::stopped;  // never ran: nothing to close
      d.cv.notify_all();
      return;
    case Impl::Run::running:
      d.run = Impl::Run::stopping;
      if (d.on_loop_thread()) {
        lock.unlock();
        d.stop_here();  // the loop ends once the handler returns
        return;
      }
      d.loop->post([impl = &d] { impl->stop_here(); });
      break;
    case Impl::Run::stopping:
    case Impl::Run::stopped:
      break;
  }
  if (d.on_loop_thread()) return;
  d.cv.wait(lock, [&d] { return d.run == Impl::Run::stopped; });
  if (d.thread.joinable()) {
    std::thread t = std::move(d.thread);
    lock.unlock();
    t.join();
  }
}

void Client::reconnect() {
  Impl& d = *impl_;
  auto again = [impl = &d] {
    impl->core->reconnect(Impl::now());
    impl->rearm();
  };
  std::unique_lock<std::mutex> lock(d.mu);
  if (d.on_loop_thread()) {
    lock.unlock();
    again();
  } else if (d.run == Impl::Run::running) {
    d.loop->post(again);  // refused only when the loop is ending: nothing to do then
  }
}

ConnectionState Client::state() const { return impl_->state.load(); }

ClientSnapshot Client::snapshot() const {
  Impl& d = *impl_;
  return d.on_loop<ClientSnapshot>([&d] { return d.core->snapshot(); });
}

std::uint64_t Client::subscribe(std::function<void(const ClientEvent&)> handler) {
  Impl& d = *impl_;
  return d.on_loop<std::uint64_t>([&d, handler = std::move(handler)]() mutable {
    const std::uint64_t id = d.next_sub++;
    d.subs.push_back(std::make_shared<Impl::Sub>(Impl::Sub{id, std::move(handler), true}));
    return id;
  });
}

void Client::unsubscribe(std::uint64_t id) {
  Impl& d = *impl_;
  d.on_loop<void>([&d, id] {
    for (auto it = d.subs.begin(); it != d.subs.end(); ++it) {
      if ((*it)->id != id) continue;
      (*it)->active = false;
      d.subs.erase(it);
      return;
    }
  });
}

void Client::request(const std::string& type, const std::string& data_json, ReplyCallback cb) {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);
  if (d.on_loop_thread()) {
    lock.unlock();
    d.core->request(type, data_json, std::move(cb), Impl::now());
    d.rearm();
    return;
  }
  switch (d.run) {
    case Impl::Run::idle:
      lock.unlock();
      fail_now(cb, "not_connected", "The client is not started.");
      return;
    case Impl::Run::stopped:
      lock.unlock();
      fail_now(cb, "stopped", "The client was stopped.");
      return;
    case Impl::Run::running:
    case Impl::Run::stopping:
      break;
  }
  const bool posted = d.loop->post([impl = &d, type, data_json, cb] {
    impl->core->request(type, data_json, cb, Impl::now());
    impl->rearm();
  });
  lock.unlock();
  if (!posted) fail_now(cb, "stopped", "The client was stopped.");
}

std::future<Reply> Client::request(const std::string& type, const std::string& data_json) {
  auto promise = std::make_shared<std::promise<Reply>>();
  std::future<Reply> result = promise->get_future();
  request(type, data_json, [promise](const Reply& r) { promise->set_value(r); });
  return result;
}

std::future<Reply> Client::set_name(const std::string& name, const std::string& password) {
  JsonBuilder b;
  b.begin_object().str("name", name);
  if (!password.empty()) b.str("password", password);
  b.end_object();
  return request("set_name", b.take());
}

std::future<Reply> Client::list_lobbies() { return request("list_lobbies", "{}"); }

std::future<Reply> Client::create_lobby(const CreateLobbyOptions& options) {
  JsonBuilder b;
  b.begin_object()
      .str("name", options.name)
      .boolean("private", options.is_private)
      .boolean("persistent", options.persistent);
  if (options.max_participants != 0) b.unum("max_participants", options.max_participants);
  b.end_object();
  return request("create_lobby", b.take());
}

namespace {

std::string join_data(const char* key, const std::string& value, const JoinOptions& o) {
  JsonBuilder b;
  b.begin_object()
      .str(key, value)
      .boolean("has_media", o.has_media)
      .boolean("audio_muted", o.audio_muted)
      .boolean("video_muted", o.video_muted)
      .end_object();
  return b.take();
}

}  // namespace

std::future<Reply> Client::join_lobby(const LobbyId& lobby_id, const JoinOptions& options) {
  return request("join_lobby", join_data("lobby_id", lobby_id, options));
}

std::future<Reply> Client::join_lobby_by_name(const std::string& name,
                                              const JoinOptions& options) {
  return request("join_lobby", join_data("name", name, options));
}

std::future<Reply> Client::leave_lobby() { return request("leave_lobby", "{}"); }

std::future<Reply> Client::chat(const std::string& text) {
  JsonBuilder b;
  b.begin_object().str("text", text).end_object();
  return request("chat", b.take());
}

std::future<Reply> Client::update_media(std::optional<bool> has_media,
                                        std::optional<bool> audio_muted,
                                        std::optional<bool> video_muted) {
  JsonBuilder b;
  b.begin_object();
  if (has_media) b.boolean("has_media", *has_media);
  if (audio_muted) b.boolean("audio_muted", *audio_muted);
  if (video_muted) b.boolean("video_muted", *video_muted);
  b.end_object();
  return request("update_media", b.take());
}

std::future<Reply> Client::send_description(const PeerId& to, const std::string& type,
                                            const std::string& sdp) {
  JsonBuilder b;
  b.begin_object().str("to", to).key("description").begin_object().str("type", type);
  if (!sdp.empty() || type != "rollback") b.str("sdp", sdp);
  b.end_object().end_object();
  return request("relay_description", b.take());
}

std::future<Reply> Client::send_candidate(const PeerId& to, const std::string& candidate,
                                          std::optional<std::string> sdp_mid,
                                          std::optional<int> sdp_mline_index,
                                          std::optional<std::string> username_fragment) {
  JsonBuilder b;
  b.begin_object().str("to", to).key("candidate");
  if (candidate.empty()) {
    b.w().Null();
  } else {
    b.begin_object().str("candidate", candidate);
    if (sdp_mid) b.str("sdpMid", *sdp_mid);
    if (sdp_mline_index) b.num("sdpMLineIndex", *sdp_mline_index);
    if (username_fragment) b.str("usernameFragment", *username_fragment);
    b.end_object();
  }
  b.end_object();
  return request("relay_candidate", b.take());
}

}  // namespace lobbykit
