// The public BotProvider: a ProviderCore on a loop (libwebsockets, or in-process) whose
// thread's life is a LoopHost, as for Client.
#include <lobbykit/provider.hpp>
#include <lobbykit/server.hpp>

#include "client/client_core.hpp"
#include "client/in_process_link.hpp"
#include "client/loop_host.hpp"
#include "client/provider_core.hpp"
#include "client/ws_url.hpp"
#include "server_access.hpp"
#include "transport/lws_client.hpp"

#include <atomic>
#include <cstdio>
#include <exception>
#include <random>
#include <stdexcept>
#include <utility>

namespace lobbykit {
namespace {

template <class Cb, class R>
void fail_now(const Cb& cb, const char* code, const char* message) {
  if (!cb) return;
  R r;
  r.error = client::make_client_error(code, message);
  cb(r);
}

void check(const ProviderOptions& o) {
  if (o.kinds.empty()) throw std::invalid_argument("lobbykit::BotProvider: no bot kinds");
  if (o.max_jobs == 0) throw std::invalid_argument("lobbykit::BotProvider: max_jobs is 0");
}

}  // namespace

struct BotProvider::Impl final : client::LoopHost {
  struct Sub {
    std::uint64_t id;
    std::function<void(const ProviderEvent&)> fn;
    bool active = true;
  };

  std::unique_ptr<client::ProviderCore> core;  // the loop thread's (see LoopHost::on_loop)

  // Loop thread (or under the host's lock while no loop runs).
  std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  std::vector<std::shared_ptr<Sub>> subs;
  std::uint64_t next_sub = 1;

  std::atomic<ConnectionState> state{ConnectionState::disconnected};  // any thread

  Impl(ProviderOptions options, std::unique_ptr<client::Loop> l) : LoopHost(std::move(l)) {
    core = std::make_unique<client::ProviderCore>(
        std::move(options), loop(), [this](const ProviderEvent& e) { dispatch(e); },
        [this] { return unit(rng); });
    core->set_state_observer([this](ConnectionState s) { state.store(s); });
  }

  static client::SteadyMs now() { return client::steady_now_ms(); }
  void rearm() { loop().wake_at(core->next_deadline()); }

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
  void begin() override {
    core->start(now());
    rearm();
  }
  void halt() override {
    core->stop(now());
    rearm();
  }

  void dispatch(const ProviderEvent& e) {
    const auto list = subs;  // a handler may subscribe or unsubscribe
    for (const auto& s : list) {
      if (!s->active) continue;
      try {
        s->fn(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "lobbykit: a provider event handler threw: %s\n", ex.what());
      } catch (...) {
        std::fprintf(stderr, "lobbykit: a provider event handler threw an unknown exception\n");
      }
    }
  }

  // Runs fn(core, now) on the loop; when no loop runs, fails cb at once as Client does.
  template <class R, class Cb, class Fn>
  void call(const Cb& cb, Fn fn) {
    switch (call_soon([this, fn] {
      fn(*core, now());
      rearm();
    })) {
      case Call::here:
      case Call::posted:
        return;
      case Call::idle:
        fail_now<Cb, R>(cb, "not_connected", "The provider is not started.");
        return;
      case Call::stopped:
        fail_now<Cb, R>(cb, "stopped", "The provider was stopped.");
        return;
    }
  }
};

BotProvider::BotProvider(ProviderOptions options) {
  check(options);
  std::optional<client::WsUrl> url = client::parse_ws_url(options.url);
  if (!url)
    throw std::invalid_argument("lobbykit::BotProvider: not a ws:// or wss:// URL: " +
                                options.url);
  auto loop = std::make_unique<transport::LwsClientLoop>(std::move(*url), options.tls_ca_path);
  impl_ = std::make_unique<Impl>(std::move(options), std::move(loop));
}

BotProvider::BotProvider(Server& server, ProviderOptions options) {
  check(options);
  impl_ = std::make_unique<Impl>(
      std::move(options),
      std::make_unique<client::InProcessLoop>(detail::ServerAccess::in_process(server)));
}

BotProvider::~BotProvider() {
  client::LoopHost::dispose(std::unique_ptr<client::LoopHost>(impl_.release()));
}

void BotProvider::start() { impl_->start(); }

void BotProvider::run() {
  Impl* d = impl_.get();
  d->run();  // may free *d (destroyed from a handler); `this` may be gone too
}

void BotProvider::stop() { impl_->stop(); }

void BotProvider::reconnect() {
  impl_->call<Reply>(ReplyCallback(), [](client::ProviderCore& c, client::SteadyMs now) {
    c.reconnect(now);
  });
}

ConnectionState BotProvider::state() const { return impl_->state.load(); }

ProviderSnapshot BotProvider::snapshot() const {
  Impl& d = *impl_;
  return d.on_loop<ProviderSnapshot>([&d] { return d.core->snapshot(); });
}

std::uint64_t BotProvider::subscribe(std::function<void(const ProviderEvent&)> handler) {
  Impl& d = *impl_;
  return d.on_loop<std::uint64_t>([&d, handler = std::move(handler)]() mutable {
    const std::uint64_t id = d.next_sub++;
    d.subs.push_back(std::make_shared<Impl::Sub>(Impl::Sub{id, std::move(handler), true}));
    return id;
  });
}

void BotProvider::unsubscribe(std::uint64_t id) {
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

void BotProvider::accept(const std::string& job_id, AcceptCallback cb) {
  impl_->call<AcceptReply>(cb, [job_id, cb](client::ProviderCore& c, client::SteadyMs now) {
    c.accept(job_id, cb, now);
  });
}

std::future<AcceptReply> BotProvider::accept(const std::string& job_id) {
  auto promise = std::make_shared<std::promise<AcceptReply>>();
  std::future<AcceptReply> result = promise->get_future();
  accept(job_id, [promise](const AcceptReply& r) { promise->set_value(r); });
  return result;
}

void BotProvider::decline(const std::string& job_id, const std::string& reason,
                          ReplyCallback cb) {
  impl_->call<Reply>(cb, [job_id, reason, cb](client::ProviderCore& c, client::SteadyMs now) {
    c.decline(job_id, reason, cb, now);
  });
}

std::future<Reply> BotProvider::decline(const std::string& job_id, const std::string& reason) {
  auto promise = std::make_shared<std::promise<Reply>>();
  std::future<Reply> result = promise->get_future();
  decline(job_id, reason, [promise](const Reply& r) { promise->set_value(r); });
  return result;
}

void BotProvider::end_job(const std::string& job_id, const std::string& reason, bool retry,
                          ReplyCallback cb) {
  impl_->call<Reply>(cb, [job_id, reason, retry, cb](client::ProviderCore& c,
                                                     client::SteadyMs now) {
    c.end_job(job_id, reason, retry, cb, now);
  });
}

std::future<Reply> BotProvider::end_job(const std::string& job_id, const std::string& reason,
                                        bool retry) {
  auto promise = std::make_shared<std::promise<Reply>>();
  std::future<Reply> result = promise->get_future();
  end_job(job_id, reason, retry, [promise](const Reply& r) { promise->set_value(r); });
  return result;
}

void BotProvider::drain(ReplyCallback cb) {
  impl_->call<Reply>(cb, [cb](client::ProviderCore& c, client::SteadyMs now) {
    c.drain(cb, now);
  });
}

std::future<Reply> BotProvider::drain() {
  auto promise = std::make_shared<std::promise<Reply>>();
  std::future<Reply> result = promise->get_future();
  drain([promise](const Reply& r) { promise->set_value(r); });
  return result;
}

void BotProvider::set_load(std::optional<double> load) {
  Impl& d = *impl_;
  d.on_loop<void>([&d, load] { d.core->set_load(load, Impl::now()); });
}

}  // namespace lobbykit
