#include "transport/lws_client.hpp"

#include <libwebsockets.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lobbykit::transport {
namespace {

using client::SteadyMs;

constexpr SteadyMs kStopGraceMs = 1000;             // a stop waits this long for the close
constexpr int kCloseTimeoutS = 3;                    // a close waits this long for its queue
constexpr std::size_t kCloseReasonBytes = 123;       // WebSocket limit for a close reason
constexpr std::size_t kKeptBufferBytes = 64 * 1024;  // buffers shrink back above this
constexpr std::uint16_t kPingAfterIdleS = 20;        // lws pings the server after this
constexpr std::uint16_t kHangupAfterIdleS = 30;      // ... and hangs up without a pong
constexpr unsigned kFdLimit = 64;                    // one connection (+ closing ones)

void log_error(const char* what, const char* detail) {
  std::fprintf(stderr, "lobbykit: %s: %s\n", what, detail);
}

void run_task(std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    log_error("a client task failed", e.what());
  } catch (...) {
    log_error("a client task failed", "unknown exception");
  }
}

// One WebSocket connection, from open() until lws reports it closed. Loop thread only.
struct Conn {
  std::uint64_t id = 0;
  lws* wsi = nullptr;               // set by lws as soon as it exists (ccinfo.pwsi)
  bool established = false;
  bool closing = false;             // we close it: write what is queued, then the close
  std::uint16_t close_code = 1000;
  std::string close_reason;
  std::uint16_t peer_code = 0;      // from the server's close frame
  std::string peer_reason;
  std::string rx;                   // the message being reassembled
  std::deque<std::string> queue;    // frames not yet written
  std::size_t queued_bytes = 0;
  std::vector<unsigned char> wbuf;  // LWS_PRE headroom + the frame being written
  std::string cert_refused;         // why OpenSSL refused the server's certificate
};

}  // namespace

struct LwsClientLoop::Impl {
  // Set at construction, read-only after.
  client::WsUrl url;
  std::string ca_path;  // ClientOptions::tls_ca_path
  lws_protocols protocols[2];
  lws_retry_bo_t retry;
  struct Timer {
    lws_sorted_usec_list_t sul;  // first member: the timer callback casts back from it
    Impl* self;
  } wake_timer, stop_timer;

  // Created on the constructing thread, then the loop thread's; destroyed by whichever
  // ends last (run() or the destructor). Guarded by post_mu where post() reads it.
  lws_context* context = nullptr;

  // Loop thread only.
  client::LinkListener* listener = nullptr;
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;  // open or closing
  std::uint64_t next_conn = 1;
  std::uint64_t current = 0;   // the connection reported to the listener; 0: none
  std::uint64_t epoch = 0;     // bumped by open() and close(): a deferred report of an
                               // earlier epoch is stale and dropped
  bool connecting_now = false;  // inside lws_client_connect_via_info()
  bool stopping = false;
  SteadyMs stop_deadline = 0;
  bool tearing_down = false;    // run() is ending: nothing more reaches the listener

  // Any thread.
  std::mutex post_mu;                         // guards posted, closed, context teardown
  std::vector<std::function<void()>> posted;  // closures for the loop thread
  bool closed = false;                        // the loop has ended: posts are refused

  // --- plumbing --------------------------------------------------------------------------

  void drain_posts() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(post_mu);
      batch.swap(posted);
    }
    for (auto& fn : batch) run_task(fn);
  }

  bool post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(post_mu);
    if (closed || !context) return false;
    bool wake = posted.empty();
    posted.push_back(std::move(fn));
    if (wake) lws_cancel_service(context);
    return true;
  }

  static void on_wake(lws_sorted_usec_list_t* sul) {
    Impl* self = reinterpret_cast<Timer*>(sul)->self;
    if (self->listener && !self->tearing_down) self->listener->on_wakeup();
  }

  static void on_stop_timer(lws_sorted_usec_list_t*) {}  // only wakes lws_service up

  Conn* find(lws* wsi) {
    if (!wsi) return nullptr;
    const auto id = static_cast<std::uint64_t>(
        reinterpret_cast<std::uintptr_t>(lws_get_opaque_user_data(wsi)));
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.get();
  }

  // The connection ended; tells the listener if it was the current one. From inside
  // open() the report waits for the loop: Link calls never report synchronously.
  void ended(std::uint64_t id, std::uint16_t code, std::string reason) {
    conns.erase(id);
    if (id != current) return;
    current = 0;
    if (connecting_now) {
      report_closed_later(code, std::move(reason));
      return;
    }
    report_closed(code, reason);
  }

  void report_closed(std::uint16_t code, const std::string& reason) {
    if (listener && !tearing_down) listener->on_closed(code, reason);
  }

  // For failures found inside a Link call: reported from the loop, unless the listener
  // has opened or closed a connection meanwhile.
  void report_closed_later(std::uint16_t code, std::string reason) {
    post([this, e = epoch, code, reason = std::move(reason)] {
      if (e == epoch) report_closed(code, reason);
    });
  }

  void begin_close(Conn& c, std::uint16_t code, std::string_view reason) {
    if (c.closing) return;
    c.closing = true;
    c.close_code = code;
    c.close_reason.assign(reason.substr(0, kCloseReasonBytes));
    if (!c.wsi) return;
    if (!c.established) {
      // Nothing to say yet: drop the attempt. lws reports it closed later.
      lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      return;
    }
    // A server that stops reading must not hold the close up forever.
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kCloseTimeoutS);
    lws_callback_on_writable(c.wsi);
  }

  // Gives the connection up: the server gets a close with `code` and the listener hears
  // the same. From a Link call (`later`) the report waits for the loop.
  int fail(Conn& c, std::uint16_t code, const char* reason, bool later) {
    std::string().swap(c.rx);
    const std::uint64_t id = c.id;
    begin_close(c, code, reason);
    if (id != current) return 0;
    current = 0;
    if (later)
      report_closed_later(code, reason);
    else
      report_closed(code, reason);
    return 0;
  }

  // --- callbacks -------------------------------------------------------------------------

  int on_established(lws* wsi) {
    Conn* c = find(wsi);
    if (!c) return -1;
    c->wsi = wsi;
    c->established = true;
    if (c->closing) return -1;  // abandoned while connecting
    if (!c->queue.empty()) lws_callback_on_writable(wsi);
    if (c->id == current && listener && !tearing_down) listener->on_open();
    return 0;
  }

  int on_receive(lws* wsi, const void* in, std::size_t len) {
    Conn* c = find(wsi);
    if (!c) return -1;
    if (c->closing) return 0;
    if (lws_frame_is_binary(wsi)) return 0;  // the protocol has none: ignored
    const std::size_t remaining = lws_remaining_packet_payload(wsi);
    if (c->rx.size() + len + remaining > kMaxServerMessageBytes)
      return fail(*c, 1009, "message too big", false);
    c->rx.append(static_cast<const char*>(in), len);
    if (!lws_is_final_fragment(wsi) || remaining != 0) return 0;
    std::string text;
    text.swap(c->rx);
    if (c->id == current && listener && !tearing_down) listener->on_text(text);
    // Keep a modest buffer for the next message (the listener may have closed this one).
    Conn* again = find(wsi);
    if (again && again->rx.empty() && text.capacity() <= kKeptBufferBytes) {
      text.clear();
      again->rx.swap(text);
    }
    return 0;
  }

  int on_writeable(lws* wsi) {
    Conn* c = find(wsi);
    if (!c) return -1;
    if (c->queue.empty()) {
      if (!c->closing) return 0;  // spurious
      lws_close_reason(wsi, static_cast<lws_close_status>(c->close_code),
                       reinterpret_cast<unsigned char*>(c->close_reason.data()),
                       c->close_reason.size());
      return -1;
    }
    const std::string& frame = c->queue.front();
    c->wbuf.resize(LWS_PRE + frame.size());
    std::memcpy(c->wbuf.data() + LWS_PRE, frame.data(), frame.size());
    int n = lws_write(wsi, c->wbuf.data() + LWS_PRE, frame.size(), LWS_WRITE_TEXT);
    if (n < static_cast<int>(frame.size())) return -1;  // the connection is gone
    c->queued_bytes -= frame.size();
    c->queue.pop_front();
    if (c->wbuf.capacity() > kKeptBufferBytes) std::vector<unsigned char>().swap(c->wbuf);
    if (!c->queue.empty() || c->closing) lws_callback_on_writable(wsi);
    return 0;
  }

  void on_peer_close(lws* wsi, const void* in, std::size_t len) {
    Conn* c = find(wsi);
    if (!c || len < 2) return;
    const auto* p = static_cast<const unsigned char*>(in);
    c->peer_code = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
    c->peer_reason.assign(reinterpret_cast<const char*>(p + 2), len - 2);
  }

  void on_closed(lws* wsi) {
    Conn* c = find(wsi);
    if (!c) return;
    const std::uint16_t code = c->peer_code ? c->peer_code : client::kCloseAbnormal;
    std::string reason = c->peer_code ? c->peer_reason : std::string("connection lost");
    ended(c->id, code, std::move(reason));
  }

  // The last word about a wsi; a connection that got neither CLOSED nor
  // CONNECTION_ERROR (killed while connecting) ends here.
  void on_destroy(lws* wsi) {
    if (Conn* c = find(wsi)) ended(c->id, client::kCloseAbnormal, "connection lost");
  }

  void on_connection_error(lws* wsi, const char* why) {
    Conn* c = find(wsi);
    if (!c) return;  // reported by open() instead
    // A refused certificate is a setup to fix, not a network failure to retry.
    if (!c->cert_refused.empty())
      ended(c->id, client::kCloseTlsRefused, c->cert_refused);
    else
      ended(c->id, client::kCloseAbnormal, why ? why : "cannot connect");
  }

  // OpenSSL's verdict on each certificate of the server's chain (lws asks the protocol).
  void on_cert_checked(lws* wsi, X509_STORE_CTX* store, bool ok) {
    Conn* c = find(wsi);
    if (!c || ok || !c->cert_refused.empty()) return;
    c->cert_refused = X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
  }

  // --- Link ------------------------------------------------------------------------------

  void open() {
    ++epoch;
    auto owned = std::make_unique<Conn>();
    Conn* c = owned.get();
    c->id = next_conn++;
    const std::uint64_t id = c->id;
    conns.emplace(id, std::move(owned));
    current = id;

    lws_client_connect_info i;
    std::memset(&i, 0, sizeof i);
    i.context = context;
    i.address = url.host.c_str();
    i.port = url.port;
    i.ssl_connection = url.tls ? LCCSCF_USE_SSL : 0;
    i.path = url.path.c_str();
    i.host = url.host_header.c_str();
    i.origin = url.host_header.c_str();
    i.protocol = nullptr;  // no subprotocol: the server binds us to its default one
    i.opaque_user_data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
    i.pwsi = &c->wsi;
    i.retry_and_idle_policy = &retry;
    connecting_now = true;
    lws* wsi = context ? lws_client_connect_via_info(&i) : nullptr;
    connecting_now = false;
    if (!wsi && conns.count(id)) {
      // Refused at once (bad address, no memory) without a callback: report it from the loop.
      conns.erase(id);
      current = 0;
      report_closed_later(client::kCloseAbnormal, "cannot connect");
    }
  }

  void send(std::string text) {
    auto it = conns.find(current);
    if (it == conns.end() || current == 0) return;
    Conn& c = *it->second;
    if (c.closing) return;
    if (c.queued_bytes + text.size() > kMaxClientQueuedBytes) {
      fail(c, 1008, "send queue full", true);
      return;
    }
    const bool was_empty = c.queue.empty();
    c.queued_bytes += text.size();
    c.queue.push_back(std::move(text));
    if (was_empty && c.established && c.wsi) lws_callback_on_writable(c.wsi);
  }

  void close(std::uint16_t code, std::string_view reason) {
    ++epoch;
    auto it = conns.find(current);
    current = 0;
    if (it == conns.end()) return;
    begin_close(*it->second, code, reason);
  }
};

namespace {

// The one protocol of a client context. Loop thread.
int callback_client(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                    std::size_t len) {
  auto* d = static_cast<LwsClientLoop::Impl*>(lws_context_user(lws_get_context(wsi)));
  if (!d) return 0;
  try {
    switch (reason) {
      case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        d->drain_posts();
        return 0;
      case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        d->on_connection_error(wsi, static_cast<const char*>(in));
        return 0;
      case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
        d->on_cert_checked(wsi, static_cast<X509_STORE_CTX*>(user), len != 0);
        return 0;
      case LWS_CALLBACK_CLIENT_ESTABLISHED:
        return d->on_established(wsi);
      case LWS_CALLBACK_CLIENT_RECEIVE:
        return d->on_receive(wsi, in, len);
      case LWS_CALLBACK_CLIENT_WRITEABLE:
        return d->on_writeable(wsi);
      case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        d->on_peer_close(wsi, in, len);
        return 0;
      case LWS_CALLBACK_CLIENT_CLOSED:
        d->on_closed(wsi);
        return 0;
      case LWS_CALLBACK_WSI_DESTROY:
        d->on_destroy(wsi);
        return 0;
      default:
        return 0;
    }
  } catch (const std::exception& e) {
    log_error("the client connection failed", e.what());
  } catch (...) {
    log_error("the client connection failed", "unknown exception");
  }
  if (reason == LWS_CALLBACK_CLIENT_CLOSED || reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ||
      reason == LWS_CALLBACK_WSI_DESTROY)
    return 0;
  return -1;
}

}  // namespace

LwsClientLoop::LwsClientLoop(client::WsUrl url, std::string ca_path)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.url = std::move(url);
  d.ca_path = std::move(ca_path);

  static std::once_flag log_once;
  std::call_once(log_once, [] { lws_set_log_level(LLL_ERR | LLL_WARN, nullptr); });

  std::memset(d.protocols, 0, sizeof d.protocols);
  d.protocols[0].name = "lobbykit-client";
  d.protocols[0].callback = callback_client;
  d.protocols[0].rx_buffer_size = 16 * 1024;

  std::memset(&d.retry, 0, sizeof d.retry);
  d.retry.secs_since_valid_ping = kPingAfterIdleS;
  d.retry.secs_since_valid_hangup = kHangupAfterIdleS;

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = d.protocols;
  info.user = &d;
  info.gid = -1;
  info.uid = -1;
  info.fd_limit_per_thread = kFdLimit;
  if (d.url.tls) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    // The server's certificate is verified (chain and host name) against these CAs, or the
    // system's when none is given.
    if (!d.ca_path.empty()) info.client_ssl_ca_filepath = d.ca_path.c_str();
  }
  d.context = lws_create_context(&info);
  if (!d.context)
    throw std::runtime_error("lobbykit: cannot start the client's network service "
                             "(libwebsockets context creation failed)");
  std::memset(&d.wake_timer, 0, sizeof d.wake_timer);
  std::memset(&d.stop_timer, 0, sizeof d.stop_timer);
  d.wake_timer.self = &d;
  d.stop_timer.self = &d;
}

LwsClientLoop::~LwsClientLoop() {
  Impl& d = *impl_;
  std::vector<std::function<void()>> dropped;
  lws_context* ctx = nullptr;
  {
    std::lock_guard<std::mutex> lock(d.post_mu);
    d.closed = true;
    dropped.swap(d.posted);
    ctx = d.context;
  }
  if (!ctx) return;
  d.tearing_down = true;
  lws_context_destroy(ctx);
  std::lock_guard<std::mutex> lock(d.post_mu);
  d.context = nullptr;
}

void LwsClientLoop::run(client::LinkListener& listener) {
  Impl& d = *impl_;
  if (!d.context) return;
  d.listener = &listener;
  d.drain_posts();
  while (true) {
    if (d.stopping && (d.conns.empty() || client::steady_now_ms() >= d.stop_deadline)) break;
    if (lws_service(d.context, 0) < 0) break;
  }
  // What was posted before the end still runs (a request's callback must run once); the
  // loop is done, so later posts are refused and their callers handle that.
  std::vector<std::function<void()>> rest;
  {
    std::lock_guard<std::mutex> lock(d.post_mu);
    d.closed = true;
    rest.swap(d.posted);
  }
  for (auto& fn : rest) run_task(fn);
  d.tearing_down = true;
  lws_sul_cancel(&d.wake_timer.sul);
  lws_sul_cancel(&d.stop_timer.sul);
  lws_context* ctx = d.context;
  lws_context_destroy(ctx);  // closes what is left; the listener hears nothing more
  {
    std::lock_guard<std::mutex> lock(d.post_mu);
    d.context = nullptr;
  }
  d.conns.clear();
  d.listener = nullptr;
}

bool LwsClientLoop::post(std::function<void()> fn) { return impl_->post(std::move(fn)); }

void LwsClientLoop::request_stop() {
  Impl& d = *impl_;
  if (d.stopping || !d.context) return;
  d.stopping = true;
  d.stop_deadline = client::steady_now_ms() + kStopGraceMs;
  // lws_service() sleeps until something happens: make sure the deadline is something.
  lws_sul_schedule(d.context, 0, &d.stop_timer.sul, Impl::on_stop_timer,
                   kStopGraceMs * LWS_US_PER_MS);
}

void LwsClientLoop::wake_at(std::optional<client::SteadyMs> at) {
  Impl& d = *impl_;
  if (!d.context) return;
  lws_sul_cancel(&d.wake_timer.sul);
  if (!at) return;
  const SteadyMs delay = std::max<SteadyMs>(0, *at - client::steady_now_ms());
  lws_sul_schedule(d.context, 0, &d.wake_timer.sul, Impl::on_wake,
                   static_cast<lws_usec_t>(delay) * LWS_US_PER_MS);
}

void LwsClientLoop::open() { impl_->open(); }

void LwsClientLoop::send(std::string text) { impl_->send(std::move(text)); }

bool LwsClientLoop::retarget(const std::string& url) {
  std::optional<client::WsUrl> parsed = client::parse_ws_url(url);
  // Never from wss:// to ws://, and the context's TLS setup stays what it was made for.
  if (!parsed || parsed->tls != impl_->url.tls) return false;
  impl_->url = std::move(*parsed);
  return true;
}

void LwsClientLoop::close(std::uint16_t code, std::string_view reason) {
  impl_->close(code, reason);
}

}  // namespace lobbykit::transport
