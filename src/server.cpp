#include <lobbykit/server.hpp>
#include <lobbykit/token.hpp>

#include "core/clock.hpp"
#include "hooks_json.hpp"
#include "router/http_router.hpp"
#include "router/hub.hpp"
#include "protocol/messages.hpp"
#include "router/hub_state.hpp"
#include "router/operations.hpp"
#include "server_access.hpp"
#include "store/store.hpp"
#include "transport/in_process.hpp"
#include "transport/lws_server.hpp"
#include "transport/worker_pool.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <cstdio>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

namespace lobbykit {
namespace {

// After hub.shutdown() the loop runs this long at most so the 1001 close frames get out.
constexpr std::uint32_t kShutdownGraceMs = 1000;

// The hub's one Outbox: in-process connections to their transport, the rest to the
// WebSocket transport. Loop thread.
class MuxOutbox final : public router::Outbox {
 public:
  MuxOutbox(router::Outbox& ws, router::Outbox& in_process) : ws_(ws), in_process_(in_process) {}

  void send(router::ConnId conn, router::Frame frame) override {
    route(conn).send(conn, std::move(frame));
  }
  void close(router::ConnId conn, protocol::CloseCode code, std::string_view reason) override {
    route(conn).close(conn, code, reason);
  }

 private:
  router::Outbox& route(router::ConnId conn) {
    return conn >= transport::kInProcessConnBase ? in_process_ : ws_;
  }

  router::Outbox& ws_;
  router::Outbox& in_process_;
};

}  // namespace

struct Server::Impl {
  enum class State { idle, running, stopping, stopped };

  // Owned in this order; ~Impl tears them down in a deliberate order (see there).
  core::SystemClock clock;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<transport::LwsTransport> transport;
  std::shared_ptr<transport::InProcessTransport> in_process;  // shared with in-process clients
  std::unique_ptr<MuxOutbox> outbox;
  std::unique_ptr<transport::WorkerPool> pool;
  std::unique_ptr<router::Hub> hub;
  std::unique_ptr<router::HttpRouter> http;
  std::uint16_t port = 0;
  router::Hooks hooks;          // loop thread (or before the loop runs)
  // on_app_message's handlers by message name; hooks.app_message dispatches over a copy.
  std::map<std::string, AppMessageHook> app_handlers;  // loop thread

  std::mutex mu;                // guards everything below
  std::condition_variable cv;   // signalled when state becomes stopped
  State state = State::idle;
  std::thread::id loop_thread;  // the thread inside serve(), while it is
  std::atomic<std::thread::id> inline_owner{};  // the thread running an on_loop() call
                                                // inline without a loop (see there)
  std::thread thread;           // the loop thread start() made
  bool free_when_done = false;  // destroyed from its own handler: serve() frees it
  transport::TlsFiles tls_files;  // ServerOptions::tls_cert_path, tls_key_path
  std::uint32_t drain_ms = 0;   // ServerOptions::drain_ms
  std::string drain_url;        // ServerOptions::drain_url

  explicit Impl(ServerOptions options) {
    const Limits& limits = options.limits;
    if (!options.token_secret.empty() && options.token_secret.size() < kMinTokenSecretBytes)
      throw StartError("the access token secret is " + std::to_string(options.token_secret.size()) +
                       " bytes; it must be at least " + std::to_string(kMinTokenSecretBytes) +
                       " (e.g. 32 random bytes, hex-encoded)");
    if (!options.drain_url.empty() && options.drain_url.rfind("ws://", 0) != 0 &&
        options.drain_url.rfind("wss://", 0) != 0)
      throw StartError("the drain URL \"" + options.drain_url +
                       "\" is not a ws:// or wss:// URL");
    try {
      store = options.store_path.empty() ? store::make_memory_store()
                                         : store::make_sqlite_store(options.store_path);
    } catch (const store::StoreError& e) {
      throw StartError("cannot open the store " + options.store_path + ": " + e.what());
    }
    std::string proxy_error;
    std::optional<transport::ProxyList> proxies =
        transport::ProxyList::parse(options.trusted_proxies, proxy_error);
    if (!proxies) throw StartError(proxy_error);
    const transport::TlsFiles tls{options.tls_cert_path, options.tls_key_path};
    if (tls.enabled()) {
      std::string problem = transport::check_tls_files(tls);
      if (!problem.empty()) throw StartError(problem);
    }
    transport = std::make_unique<transport::LwsTransport>(options.host, options.port, limits,
                                                        options.event_loop, tls);
    tls_files = tls;
    transport->set_trusted_proxies(std::move(*proxies));
    port = transport->port();
    transport::LwsTransport* t = transport.get();
    in_process = std::make_shared<transport::InProcessTransport>(limits.max_message_bytes,
                                                                 limits.max_outbound_bytes);
    outbox = std::make_unique<MuxOutbox>(*transport, *in_process);
    pool = std::make_unique<transport::WorkerPool>(
        options.worker_threads, [t](std::function<void()> fn) { t->post(std::move(fn)); });
    try {
      hub = std::make_unique<router::Hub>(limits, clock, *store, *outbox, *pool);
    } catch (const store::StoreError& e) {
      throw StartError("cannot load the store " + options.store_path + ": " + e.what());
    }
    hub->set_provider_keys(options.provider_keys);
    hub->set_token_options(options.token_secret, options.require_token);
    http = std::make_unique<router::HttpRouter>(*hub, options.admin_token, options.static_dir);
    transport->attach(*hub, *http);
    drain_ms = options.drain_ms;
    drain_url = options.drain_url;
    in_process->attach(*hub, [t](std::function<void()> fn) { return t->post(std::move(fn)); });
  }

  ~Impl() {
    // No loop runs now. Workers go first: a job still running must not outlive what its
    // completion would touch (its completion is dropped, the loop has ended). Then the
    // transport forgets the hub, so the hub and router can go before it.
    pool.reset();
    transport->detach();
    in_process->detach();
    http.reset();
    hub.reset();
    transport.reset();
    store.reset();
  }

  bool on_loop_thread() const { return loop_thread == std::this_thread::get_id(); }

  // Sets one hook of the server's set and hands the set to the hub, on the loop thread. The
  // hooks' answers come back through the transport's post().
  template <class Hook>
  void set_hook(Hook router::Hooks::*which, Hook hook) {
    on_loop<void>([this, which, hook = std::move(hook)]() mutable {
      hooks.*which = std::move(hook);
      install_hooks();
    });
  }
  // Hands the hook set to the hub. Loop thread (inside on_loop).
  void install_hooks() {
    transport::LwsTransport* t = transport.get();
    hub->set_hooks(hooks, [t](std::function<void()> fn) { t->post(std::move(fn)); });
  }

  // The end of stop() and of a drain: every connection left is closed with 1001, the store
  // is flushed, and the loop ends once the closes are out. Loop thread; state is stopping.
  void shut_down() {
    try {
      hub->shutdown();
      in_process->deliver();  // the 1001 closes of in-process clients, now
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lobbykit: shutdown failed: %s\n", e.what());
    }
    transport->stop_when_drained(kShutdownGraceMs);
  }

  // A drain has told every client to reconnect: stop, unless stop() came first. Loop thread.
  void drained() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (state != State::running) return;
      state = State::stopping;
    }
    shut_down();
  }

  // Body of run(); state is already running. Returns after a clean shutdown.
  void serve() {
    {
      std::lock_guard<std::mutex> lock(mu);
      loop_thread = std::this_thread::get_id();
    }
    try {
      transport->run_until_stopped();
      // In-process clients still connected hear the close now, as WebSocket ones did.
      in_process->shut(1001, "server shutting down");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lobbykit: the server loop failed: %s\n", e.what());
    }
    bool free_me = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      state = State::stopped;
      loop_thread = std::thread::id();
      cv.notify_all();
      free_me = free_when_done;
    }
    if (free_me) delete this;  // ~Server ran in a handler; nothing touches this any more
  }

  // Runs fn on the loop thread and returns its result: directly when this is the loop
  // thread or no loop runs, else through post(), waiting. Any thread.
  template <class R, class Fn>
  R on_loop(Fn fn) {
    // Nested in a call running inline below (an event handler calling back): the outer call
    // already holds the server.
    if (inline_owner.load() == std::this_thread::get_id()) return fn();
    std::unique_lock<std::mutex> lock(mu);
    if (on_loop_thread()) {
      // The loop is this thread's: nothing else can touch the state. Without the lock, so
      // that event handlers fn triggers may call the server again.
      lock.unlock();
      return fn();
    }
    if (state == State::idle || state == State::stopped) {
      // No loop: run here, holding the lock so that start() waits until fn is done.
      inline_owner = std::this_thread::get_id();
      struct Clear {
        std::atomic<std::thread::id>& owner;
        ~Clear() { owner = std::thread::id(); }
      } clear{inline_owner};
      return fn();
    }
    auto promise = std::make_shared<std::promise<R>>();
    std::future<R> result = promise->get_future();
    bool posted = transport->post([promise, fn]() mutable {
      if constexpr (std::is_void_v<R>) {
        fn();
        promise->set_value();
      } else {
        promise->set_value(fn());
      }
    });
    lock.unlock();
    if (posted) {
      try {
        return result.get();
      } catch (const std::future_error&) {
        // The loop ended before it ran fn: do it here once the loop is gone.
      }
    }
    lock.lock();
    cv.wait(lock, [this] { return state == State::stopped; });
    return fn();
  }

  // on_loop for a call that changes state: what fn wrote is committed before it returns.
  template <class R, class Fn>
  R on_loop_durable(Fn fn) {
    router::Hub* h = hub.get();
    return on_loop<R>([h, fn]() mutable {
      R r = fn(h->state());
      h->flush();
      return r;
    });
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  if (!impl_) return;
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    if (impl_->on_loop_thread()) {
      // From one of its own handlers: the loop is on the stack below. Stop it, and let
      // serve() free the rest once the loop has ended.
      lock.unlock();
      stop();  // returns at once on the loop thread
      lock.lock();
      impl_->free_when_done = true;
      if (impl_->thread.joinable()) impl_->thread.detach();
      lock.unlock();
      impl_.release();
      return;
    }
  }
  stop();
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    t = std::move(impl_->thread);
  }
  if (t.joinable()) t.join();
}

void Server::run() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->state == Impl::State::stopped) return;
    if (impl_->state != Impl::State::idle)
      throw std::logic_error("lobbykit::Server::run: the server is already running");
    impl_->state = Impl::State::running;
  }
  impl_->serve();
}

void Server::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->state != Impl::State::idle) return;
  impl_->state = Impl::State::running;
  impl_->thread = std::thread([impl = impl_.get()] { impl->serve(); });
}

void Server::stop() {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);
  switch (d.state) {
    case Impl::State::idle:
      // The loop never ran: no connection exists; flush the store here, without the lock
      // (event handlers may run and call back into the server).
      d.state = Impl::State::stopped;
      lock.unlock();
      try {
        d.hub->shutdown();
        d.in_process->shut(1001, "server shutting down");
      } catch (const std::exception& e) {
        std::fprintf(stderr, "lobbykit: shutdown failed: %s\n", e.what());
      }
      d.cv.notify_all();
      return;
    case Impl::State::running: {
      d.state = Impl::State::stopping;
      bool posted = d.transport->post([impl = &d] { impl->shut_down(); });
      if (!posted) d.transport->request_stop();
      break;
    }
    case Impl::State::stopping:
    case Impl::State::stopped:
      break;
  }
  if (d.on_loop_thread()) return;  // the loop ends once this handler returns
  d.cv.wait(lock, [&d] { return d.state == Impl::State::stopped; });
  if (d.thread.joinable() && d.thread.get_id() != std::this_thread::get_id()) {
    std::thread t = std::move(d.thread);
    lock.unlock();
    t.join();
  }
}

Status Server::reload_tls() {
  Impl& d = *impl_;
  if (!d.tls_files.enabled())
    return Status{"tls_off", "TLS is off: the server was started without a certificate."};
  std::string problem = transport::check_tls_files(d.tls_files);
  if (!problem.empty()) return Status{"bad_tls_files", problem + "; the old certificate stays"};
  d.on_loop<void>([t = d.transport.get()] { t->reload_tls(); });
  return Status{};
}

void Server::drain() {
  Impl& d = *impl_;
  {
    std::unique_lock<std::mutex> lock(d.mu);
    if (d.state == Impl::State::idle) {
      // Never served: no client to tell. Draining is stopping.
      lock.unlock();
      stop();
      return;
    }
    if (d.state != Impl::State::running) return;
  }
  d.transport->post([impl = &d] {
    impl->hub->begin_drain(impl->drain_ms, impl->drain_url, [impl] { impl->drained(); });
  });
}

bool Server::draining() {
  return impl_->on_loop<bool>([h = impl_->hub.get()] { return h->draining(); });
}

void Server::wait() {
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);
  if (d.on_loop_thread())
    throw std::logic_error("lobbykit::Server::wait: called on the loop thread, which it waits for");
  d.cv.wait(lock, [&d] { return d.state == Impl::State::stopped || d.state == Impl::State::idle; });
}

std::uint16_t Server::port() const { return impl_->port; }

void Server::on_authenticate(AuthHook hook) {
  impl_->set_hook(&router::Hooks::authenticate, std::move(hook));
}
void Server::on_join(JoinHook hook) { impl_->set_hook(&router::Hooks::join, std::move(hook)); }
void Server::on_create_lobby(CreateLobbyHook hook) {
  impl_->set_hook(&router::Hooks::create_lobby, std::move(hook));
}
void Server::on_chat(ChatHook hook) { impl_->set_hook(&router::Hooks::chat, std::move(hook)); }

void Server::on_app_message(const std::string& name, AppMessageHook hook) {
  Impl* d = impl_.get();
  d->on_loop<void>([d, name, hook = std::move(hook)]() mutable {
    if (hook)
      d->app_handlers[name] = std::move(hook);
    else
      d->app_handlers.erase(name);
    AppMessageHook dispatch;
    std::function<bool(const std::string&)> wants;
    if (!d->app_handlers.empty()) {
      auto handlers = std::make_shared<const std::map<std::string, AppMessageHook>>(d->app_handlers);
      auto find = [handlers](const std::string& type) -> const AppMessageHook* {
        auto it = handlers->find(type);
        if (it == handlers->end()) it = handlers->find("");
        return it == handlers->end() ? nullptr : &it->second;
      };
      dispatch = [find](const AppMessageRequest& q, Decision<AppMessageDecision> decision) {
        if (const AppMessageHook* h = find(q.type))
          (*h)(q, std::move(decision));
        else
          decision.allow();
      };
      wants = [find](const std::string& type) { return find(type) != nullptr; };
    }
    d->hooks.app_message = std::move(dispatch);
    d->hooks.app_message_wants = std::move(wants);
    d->install_hooks();
  });
}

void Server::on_app_message_json(const std::string& name, JsonHook hook) {
  on_app_message(name, hook ? detail::json_app_message_hook(std::move(hook)) : AppMessageHook());
}

void Server::on_hook_json(const std::string& name, JsonHook hook) {
  const bool remove = !hook;
  if (name == "authenticate") {
    on_authenticate(remove ? AuthHook() : detail::json_auth_hook(std::move(hook)));
  } else if (name == "join") {
    on_join(remove ? JoinHook() : detail::json_join_hook(std::move(hook)));
  } else if (name == "create_lobby") {
    on_create_lobby(remove ? CreateLobbyHook() : detail::json_create_lobby_hook(std::move(hook)));
  } else if (name == "chat") {
    on_chat(remove ? ChatHook() : detail::json_chat_hook(std::move(hook)));
  } else if (name == "app_message") {
    on_app_message_json("", std::move(hook));
  } else {
    throw std::invalid_argument("no hook named \"" + name +
                                "\" (authenticate, join, create_lobby, chat, app_message)");
  }
}

void Server::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->state == Impl::State::stopping || impl_->state == Impl::State::stopped) return;
  impl_->transport->post(std::move(fn));
}

SubscriptionId Server::subscribe(std::function<void(const Event&)> handler) {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<SubscriptionId>(
      [hub, handler = std::move(handler)] { return hub->events().subscribe(handler); });
}

void Server::unsubscribe(SubscriptionId id) {
  router::Hub* hub = impl_->hub.get();
  impl_->on_loop<void>([hub, id] { hub->events().unsubscribe(id); });
}

std::string bot_outcome_to_json(const BotOutcome& o, bool with_dispatch) {
  protocol::JsonBuilder b;
  b.begin_object();
  if (!o.ok()) {
    b.str("code", o.code).str("message", o.message);
  } else if (with_dispatch) {
    b.key("dispatch");
    protocol::write(b, o.dispatch);
    b.boolean("created", o.created);
  }
  b.end_object();
  return b.take();
}

std::string bot_overview_to_json(const std::vector<BotDispatch>& dispatches,
                                 const std::vector<BotKindInfo>& kinds,
                                 const std::vector<BotProviderInfo>& providers) {
  std::string json = "{\"dispatches\":[";
  auto list = [&json](const auto& items) {
    bool first = true;
    for (const auto& item : items) {
      json += (first ? "" : ",") + to_json(item);
      first = false;
    }
  };
  list(dispatches);
  json += "],\"kinds\":[";
  list(kinds);
  json += "],\"providers\":[";
  list(providers);
  json += "]}";
  return json;
}

BotOutcome Server::add_bot(const LobbyId& lobby_id, const std::string& kind,
                           const std::string& key, const std::string& metadata_json) {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<BotOutcome>([=] {
    BotOutcome out;
    auto added = router::add_bot(hub->state(), lobby_id, kind, key, metadata_json);
    if (auto* e = std::get_if<protocol::Error>(&added)) {
      out.code = std::string(protocol::to_string(e->code));
      out.message = e->message;
    } else {
      out.dispatch = std::get<router::BotAdded>(added).dispatch;
      out.created = std::get<router::BotAdded>(added).created;
    }
    hub->flush();
    return out;
  });
}

BotOutcome Server::remove_bot(const LobbyId& lobby_id, const std::string& key) {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<BotOutcome>([=] {
    BotOutcome out;
    if (auto e = router::remove_bot(hub->state(), lobby_id, key)) {
      out.code = std::string(protocol::to_string(e->code));
      out.message = e->message;
    }
    hub->flush();
    return out;
  });
}

std::vector<BotDispatch> Server::bot_dispatches() {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<std::vector<BotDispatch>>([hub] {
    std::vector<BotDispatch> out;
    const auto& bots = hub->state().bots;
    for (const auto* d : bots.dispatches()) out.push_back(bots.view(*d));
    return out;
  });
}

std::vector<BotKindInfo> Server::bot_kinds() {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<std::vector<BotKindInfo>>([hub] {
    std::vector<BotKindInfo> out;
    for (const auto& k : hub->state().bots.kinds())
      out.push_back(BotKindInfo{k.kind, k.description, k.available});
    return out;
  });
}

std::vector<BotProviderInfo> Server::bot_providers() {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<std::vector<BotProviderInfo>>([hub] {
    std::vector<BotProviderInfo> out;
    for (const auto* p : hub->state().bots.providers()) {
      BotProviderInfo info;
      info.provider_id = p->id;
      info.name = p->name;
      info.version = p->version;
      for (const auto& k : p->kinds) info.kinds += (info.kinds.empty() ? "" : ",") + k.kind;
      info.max_jobs = p->max_jobs;
      info.running = static_cast<std::uint32_t>(p->jobs.size());
      info.load = p->load;
      info.accepting = p->accepting && !p->draining;
      info.connected = p->connected;
      info.connected_ms = p->connected_ms;
      out.push_back(std::move(info));
    }
    return out;
  });
}

bool Server::drain_bot_provider(const std::string& provider_id) {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<bool>([=] { return hub->state().bots.drain(provider_id, true); });
}

// ---- operations (router/operations.hpp) ----------------------------------------------------

namespace {

Status status_of(const std::optional<protocol::Error>& e) {
  if (!e) return Status{};
  return Status{std::string(protocol::to_string(e->code)), e->message};
}

// A variant<T, Error> of an operation as a Result<T>.
template <class T>
Result<T> result_of(std::variant<T, protocol::Error>&& v) {
  Result<T> r;
  if (auto* e = std::get_if<protocol::Error>(&v))
    r.status = status_of(*e);
  else
    r.value = std::move(std::get<T>(v));
  return r;
}

template <class T>
std::string json_of(const T& value) {
  protocol::JsonBuilder b;
  protocol::write(b, value);
  return b.take();
}

// Calls done exactly once: with the outcome, or, when the completion holding it is dropped
// unrun (the server stopped before the worker's job came back), with internal_error.
class OnceDone {
 public:
  explicit OnceDone(std::function<void(Status)> done) : done_(std::move(done)) {}
  ~OnceDone() {
    if (done_)
      done_(Status{"internal_error", "The server stopped before the operation completed."});
  }
  OnceDone(const OnceDone&) = delete;
  OnceDone& operator=(const OnceDone&) = delete;
  void operator()(Status s) {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(s));
  }

 private:
  std::function<void(Status)> done_;
};

}  // namespace

std::string status_to_json(const Status& s) {
  protocol::JsonBuilder b;
  b.begin_object();
  if (!s.ok()) b.str("code", s.code).str("message", s.message);
  b.end_object();
  return b.take();
}

std::string to_json(const SessionInfo& s) { return json_of(s); }
std::string to_json(const LobbyDetail& d) { return json_of(d); }
std::string to_json(const LobbyInfo& l) { return json_of(l); }
std::string to_json(const ChatMessage& m) { return json_of(m); }

std::vector<SessionInfo> Server::list_sessions() {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<std::vector<SessionInfo>>([hub] { return router::list_sessions(hub->state()); });
}

std::vector<LobbyDetail> Server::list_lobbies() {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<std::vector<LobbyDetail>>([hub] { return router::list_lobbies(hub->state()); });
}

Result<LobbyDetail> Server::get_lobby(const LobbyId& id) {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<Result<LobbyDetail>>(
      [hub, id] { return result_of(router::get_lobby(hub->state(), id)); });
}

Result<LobbyInfo> Server::create_lobby(const LobbySettings& settings) {
  return impl_->on_loop_durable<Result<LobbyInfo>>(
      [settings](router::Hub::State& s) { return result_of(router::create_lobby(s, settings)); });
}

Result<LobbyInfo> Server::update_lobby(const LobbyId& id, const LobbyUpdate& update) {
  return impl_->on_loop_durable<Result<LobbyInfo>>([id, update](router::Hub::State& s) {
    return result_of(router::update_lobby(s, id, update));
  });
}

Status Server::remove_lobby(const LobbyId& id) {
  return impl_->on_loop_durable<Status>(
      [id](router::Hub::State& s) { return status_of(router::remove_lobby(s, id)); });
}

Status Server::kick_session(const PeerId& peer) {
  return impl_->on_loop_durable<Status>(
      [peer](router::Hub::State& s) { return status_of(router::kick_session(s, peer)); });
}

Result<SessionInfo> Server::rename_session(const PeerId& peer, const std::string& name) {
  return impl_->on_loop_durable<Result<SessionInfo>>([peer, name](router::Hub::State& s) {
    return result_of(router::rename_session(s, peer, name));
  });
}

void Server::reset_password(const std::string& name, std::optional<std::string> password,
                            std::function<void(Status)> done) {
  router::Hub* hub = impl_->hub.get();
  auto once = std::make_shared<OnceDone>(std::move(done));
  // Only the completion keeps `once`: when it is dropped unrun, OnceDone reports it.
  impl_->on_loop<void>([hub, name, password, once]() mutable {
    router::reset_password(hub->state(), name, std::move(password),
                           [hub, once](std::optional<protocol::Error> e) {
                             hub->flush();
                             (*once)(status_of(e));
                           });
  });
}

Status Server::reset_password(const std::string& name, std::optional<std::string> password) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->on_loop_thread())
      throw std::logic_error(
          "lobbykit::Server::reset_password: waiting on the loop thread would never end; use "
          "the form with a callback");
  }
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> result = promise->get_future();
  reset_password(name, std::move(password), [promise](Status s) { promise->set_value(std::move(s)); });
  return result.get();
}

Result<ChatMessage> Server::post_notice(const LobbyId& lobby_id, const std::string& text) {
  return impl_->on_loop_durable<Result<ChatMessage>>([lobby_id, text](router::Hub::State& s) {
    return result_of(router::post_notice(s, lobby_id, text));
  });
}

Status Server::send_app_message(const LobbyId& lobby_id, const std::string& name,
                                const std::string& payload_json, const PeerId& to) {
  router::Hub* hub = impl_->hub.get();
  return impl_->on_loop<Status>([hub, lobby_id, name, payload_json, to] {
    auto sent = router::send_app_message(hub->state(), lobby_id, name, payload_json, to);
    if (auto* e = std::get_if<protocol::Error>(&sent)) return status_of(*e);
    return Status{};
  });
}

Result<LobbyInfo> Server::set_lobby_metadata(const LobbyId& lobby_id,
                                             const std::string& metadata_json) {
  return impl_->on_loop_durable<Result<LobbyInfo>>([lobby_id, metadata_json](router::Hub::State& s) {
    return result_of(router::set_lobby_metadata(s, lobby_id, metadata_json));
  });
}

Result<SessionInfo> Server::set_session_metadata(const PeerId& peer,
                                                 const std::string& metadata_json) {
  return impl_->on_loop_durable<Result<SessionInfo>>([peer, metadata_json](router::Hub::State& s) {
    return result_of(router::set_session_metadata(s, peer, metadata_json));
  });
}

namespace detail {

std::shared_ptr<transport::InProcessTransport> ServerAccess::in_process(Server& server) {
  return server.impl_->in_process;
}

}  // namespace detail

}  // namespace lobbykit
