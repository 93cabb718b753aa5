// The public BotProvider: a ProviderCore on a loop (libwebsockets, or in-process) through a
// CoreHost, as for Client.
#include <lobbykit/provider.hpp>
#include <lobbykit/server.hpp>

#include "client/client_core.hpp"
#include "client/core_host.hpp"
#include "client/in_process_link.hpp"
#include "client/loop_host.hpp"
#include "client/provider_core.hpp"
#include "client/ws_url.hpp"
#include "server_access.hpp"
#include "transport/lws_client.hpp"

#include <future>
#include <memory>
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

struct BotProvider::Impl final : client::CoreHost<client::ProviderCore, ProviderEvent> {
  Impl(ProviderOptions options, std::unique_ptr<client::Loop> loop)
      : CoreHost(std::move(options), std::move(loop), "provider") {}

  // Runs fn(core, now) on the loop; when no loop runs, fails cb at once as Client does.
  template <class R, class Cb, class Fn>
  void call(const Cb& cb, Fn fn) {
    switch (call_soon([this, fn] {
      fn(core(), now());
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

ConnectionState BotProvider::state() const { return impl_->state(); }

ProviderSnapshot BotProvider::snapshot() const {
  Impl& d = *impl_;
  return d.on_loop<ProviderSnapshot>([&d] { return d.core().snapshot(); });
}

std::uint64_t BotProvider::subscribe(std::function<void(const ProviderEvent&)> handler) {
  return impl_->subscribe(std::move(handler));
}

void BotProvider::unsubscribe(std::uint64_t id) { impl_->unsubscribe(id); }

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
  d.on_loop<void>([&d, load] { d.core().set_load(load, Impl::now()); });
}

}  // namespace lobbykit
