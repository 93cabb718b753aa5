#include "transport/lws_server.hpp"

#include <lobbykit/server.hpp>

#include "router/hub.hpp"
#include "router/http_router.hpp"

#include <libwebsockets.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lobbykit::transport {
namespace {

using router::ConnId;
using router::Frame;
using Clock = std::chrono::steady_clock;

constexpr lws_usec_t kTickUs = 100 * 1000;           // hub.tick() + hub.flush() period
constexpr unsigned kTicksPerHeartbeat = 10;           // heartbeats() once a second
constexpr unsigned char kPingPayload[4] = {'l', 'k', 'h', 'b'};
constexpr int kCloseTimeoutS = 3;                     // a close waits this long for its queue
constexpr int kHttpResponseTimeoutS = 30;             // a request waits this long for Respond
constexpr unsigned short kMaxHttpHeaderBytes = 4096;  // larger request headers are refused
constexpr std::size_t kHttpChunkBytes = 32 * 1024;    // response body bytes per lws_write
constexpr std::size_t kKeptBufferBytes = 64 * 1024;   // per-connection buffers shrink above
constexpr std::size_t kCloseReasonBytes = 123;        // WebSocket limit for a close reason
// Early answers, in the router's error shape.
constexpr const char* kTooLargeBody =
    R"({"code":"too_large","error":"The request body is over the server's limit."})";
constexpr const char* kBothLengths =
    R"({"code":"bad_request","error":"A request may not carry both Content-Length and Transfer-Encoding."})";
constexpr const char* kBadLength =
    R"({"code":"bad_request","error":"Content-Length must be one decimal number."})";
constexpr const char* kNeedLength =
    R"({"code":"length_required","error":"A request body needs a Content-Length; chunked request bodies are not accepted."})";
constexpr const char* kNotReady =
    R"({"code":"internal_error","error":"The server is not ready."})";
constexpr const char* kFileGone = R"({"code":"not_found","error":"No such file."})";
// A body over max_http_body_bytes is read and discarded up to this many times the cap, so
// the 413 reaches a client that writes its whole body before reading; beyond, hang up.
constexpr std::size_t kHttpDiscardFactor = 16;

void log_error(const char* what, const char* detail) {
  std::fprintf(stderr, "lobbykit: %s: %s\n", what, detail);
}

// Frames not yet written to one connection, oldest first: a vector and a read index, so an
// idle connection holds no queue memory (a std::deque allocates on construction) and a busy
// one reuses its storage.
class FrameQueue {
 public:
  struct Queued {
    Frame frame;
    std::uint64_t save_point;  // Hub::save_point() when it was queued
  };
  bool empty() const { return head_ == items_.size(); }
  Queued& front() { return items_[head_]; }
  void push_back(Queued q) { items_.push_back(std::move(q)); }
  void pop_front() {
    items_[head_++].frame.reset();
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      // Never empty under steady load: drop the written prefix now and then.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > kKeptItems) std::vector<Queued>().swap(items_);
  }

 private:
  static constexpr std::size_t kKeptItems = 256;
  std::vector<Queued> items_;
  std::size_t head_ = 0;
};

// One WebSocket connection. Lives in lws' per-session memory of the "lobby" protocol from
// ESTABLISHED to CLOSED. Loop thread only.
struct WsConn {
  ConnId id = 0;
  lws* wsi = nullptr;
  std::string rx;                   // the message being reassembled
  FrameQueue queue;                 // frames not yet written
  std::size_t queued_bytes = 0;     // payload bytes in queue
  bool rx_paused = false;           // lws_rx_flow_control(wsi, 0) is in force
  bool closing = false;             // close() was called: send nothing new, then close
  bool peer_closed = false;         // the client sent its close frame: ignore what follows
  std::int64_t last_rx_ms = 0;      // Impl::now_ms when the client was last known alive
  std::int64_t ping_sent_ms = 0;    // when the unanswered ping went out; 0: none
  bool ping_due = false;            // heartbeats(): write a ping at the next WRITEABLE
  std::uint16_t close_code = 0;
  std::string close_reason;
};

// The per-session data of the "lobby" protocol. lws zeroes it, so `live` says whether a
// WsConn has been constructed in `storage`.
struct WsSlot {
  bool live;
  alignas(WsConn) unsigned char storage[sizeof(WsConn)];
  WsConn* conn() { return std::launder(reinterpret_cast<WsConn*>(storage)); }
};

// One HTTP request on one connection, from LWS_CALLBACK_HTTP until its response is written
// or the connection closes. Loop thread only.
struct HttpExchange {
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::uint64_t gen = 0;        // tells this request from later ones on the same wsi
  router::HttpRequest req;
  std::size_t expected_body = 0;
  bool too_big = false;         // body over the cap: answer 413
  bool body_done = false;       // LWS_CALLBACK_HTTP_BODY_COMPLETION was seen
  bool responded = false;       // response below is set
  bool headers_sent = false;
  bool head_only = false;       // HEAD: headers, no body
  bool is_api = false;          // path under /api: Cache-Control: no-store
  router::HttpResponse resp;
  std::unique_ptr<std::FILE, FileCloser> file;  // resp.file_path, open while it is sent
  std::uint64_t body_left = 0;  // bytes of the body (string or file) not yet written
};

const char* method_name(int m) {
  switch (m) {
    case LWSHUMETH_GET: return "GET";
    case LWSHUMETH_POST: return "POST";
    case LWSHUMETH_OPTIONS: return "OPTIONS";
    case LWSHUMETH_PUT: return "PUT";
    case LWSHUMETH_PATCH: return "PATCH";
    case LWSHUMETH_DELETE: return "DELETE";
    case LWSHUMETH_CONNECT: return "CONNECT";
    case LWSHUMETH_HEAD: return "HEAD";
    default: return nullptr;
  }
}

// lws hands over the path and the query arguments already percent-decoded; the router
// wants them as on the wire. Encoding every byte but the unreserved ones (and `keep`)
// gives a form that decodes back to exactly what the client meant.
void percent_encode(std::string& out, std::string_view in, char keep) {
  static const char hex[] = "0123456789ABCDEF";
  for (unsigned char c : in) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || (keep && c == keep);
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}

std::string header(lws* wsi, lws_token_indexes token) {
  int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return {};
  std::string s(static_cast<std::size_t>(n) + 1, '\0');
  n = lws_hdr_copy(wsi, s.data(), static_cast<int>(s.size()), token);
  if (n < 0) return {};
  s.resize(static_cast<std::size_t>(n));
  return s;
}

// The query string rebuilt from lws' decoded fragments ("a=1", "b=x y" -> "a=1&b=x%20y").
std::string query_string(lws* wsi) {
  std::string q;
  std::vector<char> buf(kMaxHttpHeaderBytes + 1);
  for (int i = 0;; ++i) {
    int n = lws_hdr_copy_fragment(wsi, buf.data(), static_cast<int>(buf.size()),
                                  WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    std::string_view arg(buf.data(), static_cast<std::size_t>(n));
    if (!q.empty()) q.push_back('&');
    std::size_t eq = arg.find('=');
    if (eq == std::string_view::npos) {
      percent_encode(q, arg, 0);
    } else {
      percent_encode(q, arg.substr(0, eq), 0);
      q.push_back('=');
      percent_encode(q, arg.substr(eq + 1), 0);
    }
  }
  return q;
}

}  // namespace

struct LwsTransport::Impl {
  // Set at construction, read-only after. Any thread.
  Limits limits;
  std::string iface;  // what lws binds to; "" for every interface
  std::uint16_t port = 0;

  // lws configuration; lws keeps pointers into these for the context's lifetime.
  lws_protocols protocols[3];
  lws_protocol_vhost_options pvo_default;
  lws_protocol_vhost_options pvo;
  lws_retry_bo_t retry;
  struct Tick {
    lws_sorted_usec_list_t sul;  // first member: the timer callback casts back from it
    Impl* self;
  } tick;

  // Created on the constructing thread, then the loop thread's; destroyed by whichever
  // ends last (run_until_stopped() or the destructor). Guarded by post_mu where other
  // threads read it (post, request_stop).
  lws_context* context = nullptr;
  lws_vhost* vhost = nullptr;

  // Loop thread only.
  router::Hub* hub = nullptr;
  router::HttpRouter* http = nullptr;
  std::unordered_map<ConnId, lws*> conns;           // open WebSocket connections
  std::vector<unsigned char> wbuf;                  // LWS_PRE headroom + the frame being written
  ConnId next_conn = 1;
  std::unordered_map<lws*, HttpExchange> exchanges;  // HTTP requests in progress
  std::uint64_t next_gen = 1;
  bool draining = false;
  Clock::time_point drain_deadline;
  std::int64_t now_ms = steady_ms();  // the loop's clock for heartbeats, set every tick
  unsigned ticks = 0;

  // Any thread.
  std::atomic<bool> stop_requested{false};
  std::mutex post_mu;                          // guards posted, closed, context teardown
  std::vector<std::function<void()>> posted;   // closures for the loop thread
  bool closed = false;                         // the loop has ended: posts are dropped

  router::Metrics* metrics() { return hub ? &hub->metrics() : nullptr; }

  // --- loop plumbing -------------------------------------------------------------------

  void drain_posts() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(post_mu);
      batch.swap(posted);
    }
    for (auto& fn : batch) {
      try {
        fn();
      } catch (const std::exception& e) {
        log_error("a posted task failed", e.what());
      }
    }
  }

  static std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }

  // Heartbeats: a client silent for ping_interval_s gets a ping, and is hung up on unless a
  // pong (or any frame) comes within pong_timeout_s. Done here, once a second over every
  // connection, instead of by lws' per-connection validity timers: lws 4.1 keeps every
  // connection's timer in one sorted list, and (re)scheduling one walks that list, a cost per
  // new connection that grows with the number already open.
  void heartbeats() {
    const std::int64_t ping_after = std::int64_t{limits.ping_interval_s} * 1000;
    const std::int64_t pong_within = std::int64_t{limits.pong_timeout_s} * 1000;
    for (const auto& [id, wsi] : conns) {
      WsConn* c = live_conn(lws_wsi_user(wsi));
      if (!c || c->closing) continue;
      const std::int64_t silent = now_ms - c->last_rx_ms;
      if ((c->ping_sent_ms && now_ms - c->ping_sent_ms >= pong_within) ||
          silent >= ping_after + pong_within) {  // no pong, or the ping could not be written
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      } else if (silent >= ping_after && !c->ping_sent_ms && !c->ping_due) {
        c->ping_due = true;
        lws_callback_on_writable(wsi);
      }
    }
  }

  static void on_tick(lws_sorted_usec_list_t* sul) {
    Impl* self = reinterpret_cast<Tick*>(sul)->self;
    self->now_ms = steady_ms();
    if (++self->ticks % kTicksPerHeartbeat == 0) self->heartbeats();
    if (self->hub) {
      try {
        self->hub->tick();
        self->hub->flush();
      } catch (const std::exception& e) {
        log_error("periodic hub work failed", e.what());
      }
    }
    lws_sul_schedule(self->context, 0, &self->tick.sul, on_tick, kTickUs);
  }

  // Closes the context and everything on it. Loop thread, or the destructor.
  void destroy_context() {
    if (!context) return;
    lws_sul_cancel(&tick.sul);
    std::vector<std::function<void()>> dropped;
    lws_context* ctx = nullptr;
    {
      std::lock_guard<std::mutex> lock(post_mu);
      closed = true;
      dropped.swap(posted);
      ctx = context;
    }
    lws_context_destroy(ctx);
    std::lock_guard<std::mutex> lock(post_mu);
    context = nullptr;
    vhost = nullptr;
  }

  // --- WebSocket -----------------------------------------------------------------------

  static WsConn* live_conn(void* user) {
    auto* slot = static_cast<WsSlot*>(user);
    return slot && slot->live ? slot->conn() : nullptr;
  }

  WsConn* find_conn(ConnId id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : live_conn(lws_wsi_user(it->second));
  }

  // Close decided by the transport itself while receiving (binary frame, oversize
  // message): stop reading, let the replies already queued go out, then close from
  // WRITEABLE. Returning -1 from RECEIVE instead loses the close frame whenever more input
  // is already buffered for the connection.
  int fail(WsConn& c, protocol::CloseCode code, std::string_view reason) {
    std::string().swap(c.rx);
    if (!c.rx_paused) {
      lws_rx_flow_control(c.wsi, 0);
      c.rx_paused = true;
    }
    begin_close(c, code, reason);
    return 0;
  }

  void begin_close(WsConn& c, protocol::CloseCode code, std::string_view reason) {
    c.closing = true;
    c.close_code = static_cast<std::uint16_t>(code);
    c.close_reason.assign(reason.substr(0, kCloseReasonBytes));
    if (auto* m = metrics()) ++m->closes_by_code[c.close_code];
    // A client that stops reading must not hold the close up forever.
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kCloseTimeoutS);
    lws_callback_on_writable(c.wsi);
  }

  static bool is_ws_path(lws* wsi) {
    char uri[64];
    int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    return n > 0 && std::strcmp(uri, "/ws") == 0;
  }

  int on_ws_open(lws* wsi, void* user) {
    if (!hub) return -1;
    auto* slot = static_cast<WsSlot*>(user);
    WsConn* c = new (slot->storage) WsConn();
    slot->live = true;
    c->id = next_conn++;
    c->wsi = wsi;
    c->last_rx_ms = now_ms;
    conns.emplace(c->id, wsi);
    auto& m = hub->metrics();
    ++m.connections_total;
    ++m.connections_open;
    hub->on_open(c->id);
    return 0;
  }

  int on_ws_receive(lws* wsi, void* user, const void* in, std::size_t len) {
    WsConn* c = live_conn(user);
    if (!c || !hub) return -1;
    c->last_rx_ms = now_ms;
    c->ping_sent_ms = 0;  // a frame answers a ping as well as its pong does
    hub->metrics().bytes_in += len;
    // We are closing it, or it closed: what it says now does not matter (RFC 6455 5.5.1:
    // nothing may follow a close frame).
    if (c->closing || c->peer_closed) return 0;
    if (lws_frame_is_binary(wsi))
      return fail(*c, protocol::CloseCode::unsupported_data, "binary frames are not accepted");
    std::size_t remaining = lws_remaining_packet_payload(wsi);
    if (c->rx.size() + len + remaining > limits.max_message_bytes)
      return fail(*c, protocol::CloseCode::too_big, "message too big");
    c->rx.append(static_cast<const char*>(in), len);
    if (!lws_is_final_fragment(wsi) || remaining != 0) return 0;
    hub->on_message(c->id, c->rx);
    if (c->rx.capacity() > kKeptBufferBytes)
      std::string().swap(c->rx);
    else
      c->rx.clear();
    return 0;
  }

  // The client's close frame. lws answers a well-formed one with the same code; a malformed
  // one is answered with 1002 or 1007 instead (lws passes codes of 5000 and above, a
  // one-byte payload and a reason that is not UTF-8 through).
  int on_ws_peer_close(lws* wsi, void* user, const void* in, std::size_t len) {
    WsConn* c = live_conn(user);
    if (c) c->peer_closed = true;
    const std::uint16_t bad =
        protocol::close_payload_error(std::string_view(static_cast<const char*>(in), len));
    if (!bad) return 0;
    if (auto* m = metrics()) ++m->closes_by_code[bad];
    static const char reason[] = "malformed close frame";
    lws_close_reason(wsi, static_cast<lws_close_status>(bad),
                     reinterpret_cast<unsigned char*>(const_cast<char*>(reason)),
                     sizeof reason - 1);
    return -1;
  }

  void on_ws_pong(void* user) {
    if (WsConn* c = live_conn(user)) {
      c->last_rx_ms = now_ms;
      c->ping_sent_ms = 0;
    }
  }

  int on_ws_writeable(lws* wsi, void* user) {
    WsConn* c = live_conn(user);
    if (!c) return 0;
    if (c->ping_due && !c->closing) {
      c->ping_due = false;
      // With a payload: lws 4.1 reports the pong of an empty ping to nobody.
      if (wbuf.size() < LWS_PRE + sizeof kPingPayload) wbuf.resize(LWS_PRE + sizeof kPingPayload);
      std::memcpy(wbuf.data() + LWS_PRE, kPingPayload, sizeof kPingPayload);
      if (lws_write(wsi, wbuf.data() + LWS_PRE, sizeof kPingPayload, LWS_WRITE_PING) < 0)
        return -1;
      c->ping_sent_ms = now_ms;
      if (!c->queue.empty()) lws_callback_on_writable(wsi);
      return 0;
    }
    if (c->queue.empty()) {
      if (!c->closing) return 0;  // spurious
      lws_close_reason(wsi, static_cast<lws_close_status>(c->close_code),
                       reinterpret_cast<unsigned char*>(c->close_reason.data()),
                       c->close_reason.size());
      return -1;
    }
    // Durability: nothing leaves before the store holds what it acknowledges, that is what
    // was written before it was queued.
    if (hub) hub->flush_to(c->queue.front().save_point);
    const std::string& frame = *c->queue.front().frame;
    // One write buffer for every connection: writes happen one at a time on this thread,
    // and lws keeps its own copy of whatever a write could not send at once.
    if (wbuf.size() < LWS_PRE + frame.size()) wbuf.resize(LWS_PRE + frame.size());
    std::memcpy(wbuf.data() + LWS_PRE, frame.data(), frame.size());
    int n = lws_write(wsi, wbuf.data() + LWS_PRE, frame.size(), LWS_WRITE_TEXT);
    if (n < static_cast<int>(frame.size())) return -1;  // the connection is gone
    if (auto* m = metrics()) m->bytes_out += frame.size();
    c->queued_bytes -= frame.size();
    c->queue.pop_front();
    if (wbuf.size() > LWS_PRE + kKeptBufferBytes) std::vector<unsigned char>().swap(wbuf);
    if (c->rx_paused && !c->closing && c->queued_bytes <= limits.max_outbound_bytes / 4) {
      lws_rx_flow_control(wsi, 1);
      c->rx_paused = false;
    }
    if (!c->queue.empty() || c->closing) lws_callback_on_writable(wsi);
    return 0;
  }

  void on_ws_closed(void* user) {
    auto* slot = static_cast<WsSlot*>(user);
    if (!slot || !slot->live) return;
    ConnId id = slot->conn()->id;
    conns.erase(id);
    slot->conn()->~WsConn();
    slot->live = false;
    if (!hub) return;
    --hub->metrics().connections_open;
    hub->on_close(id);
  }

  void send(ConnId id, Frame frame) {
    WsConn* c = find_conn(id);
    if (!c || c->closing || !frame) return;
    if (c->queued_bytes + frame->size() > limits.max_outbound_bytes) {
      c->queue.clear();
      c->queued_bytes = 0;
      begin_close(*c, protocol::CloseCode::slow_consumer, "slow consumer");
      return;
    }
    bool was_empty = c->queue.empty();
    c->queued_bytes += frame->size();
    c->queue.push_back(FrameQueue::Queued{std::move(frame), hub ? hub->save_point() : 0});
    if (!c->rx_paused && c->queued_bytes > limits.max_outbound_bytes / 2) {
      lws_rx_flow_control(c->wsi, 0);
      c->rx_paused = true;
    }
    if (was_empty) lws_callback_on_writable(c->wsi);  // else a write is already asked for
  }

  void close(ConnId id, protocol::CloseCode code, std::string_view reason) {
    WsConn* c = find_conn(id);
    if (!c || c->closing) return;
    begin_close(*c, code, reason);
  }

  // --- HTTP ----------------------------------------------------------------------------
  //
  // One request per connection: every response carries `Connection: close` and the
  // connection is closed once it is written (lws first sends what it still holds).
  // libwebsockets 4.1.6 cannot be trusted with a second request on a connection when its
  // bytes came in the same read as the first one's (pipelining): it parses them out of its
  // own buffer, where a request that carries a body is fed to lws_http_action(), which
  // reads that buffer again from the start as the body and then loops forever; and the
  // bytes behind a completed body make it report the body's completion again and again
  // (lib/roles/http/server/server.c, lib/roles/h1/ops-h1.c). Pausing the read does not
  // help: lws services no writes on a paused HTTP connection. So a request that arrives
  // while another is in flight on its connection is pipelined: one that may carry a body
  // ends the connection at once, before lws reaches its body; one that cannot is left
  // unanswered (the client sees `Connection: close` after the first response and sends it
  // again on a new connection). WebSocket connections are not affected.

  void respond_now(lws* wsi, HttpExchange& ex, int status, const char* json_error) {
    ex.resp = router::HttpResponse{};
    ex.resp.status = status;
    ex.resp.body = json_error;
    ex.responded = true;
    if (auto* m = metrics()) ++m->http_requests;
    lws_callback_on_writable(wsi);
  }

  static bool may_carry_body(lws* wsi, const char* method) {
    return lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 ||
           lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
           std::strcmp(method, "POST") == 0 || std::strcmp(method, "PUT") == 0 ||
           std::strcmp(method, "PATCH") == 0;
  }

  // An answer for a request whose body cannot be read safely, or nullptr; sets `status`.
  // RFC 9112 6.3: a request with both Content-Length and Transfer-Encoding is refused (a
  // proxy in front may frame it differently: request smuggling); lws does not decode
  // chunked request bodies, so a body needs a Content-Length.
  static const char* body_framing_error(lws* wsi, HttpExchange& ex, int& status) {
    const bool has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    const std::string length = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    status = 400;
    if (has_te && !length.empty()) return kBothLengths;
    if (!length.empty()) {
      // Digits only: no sign, no space, no list ("5,5" is how lws joins two headers).
      if (length.size() > 18 || length.find_first_not_of("0123456789") != std::string::npos)
        return kBadLength;
      ex.expected_body = std::strtoull(length.c_str(), nullptr, 10);
      return nullptr;
    }
    if (has_te || ex.req.method == "POST" || ex.req.method == "PUT" ||
        ex.req.method == "PATCH") {
      status = 411;
      return kNeedLength;
    }
    return nullptr;
  }

  int on_http(lws* wsi) {
    char* uri = nullptr;
    int uri_len = 0;
    const char* method = method_name(lws_http_get_uri_and_method(wsi, &uri, &uri_len));
    if (!method || !uri || uri_len < 0) return -1;
    if (exchanges.count(wsi)) return may_carry_body(wsi, method) ? -1 : 0;  // pipelined
    HttpExchange& ex = exchanges[wsi];
    ex.gen = next_gen++;
    ex.req.method = method;
    percent_encode(ex.req.path, std::string_view(uri, static_cast<std::size_t>(uri_len)), '/');
    ex.req.query = query_string(wsi);
    ex.req.authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    ex.head_only = ex.req.method == "HEAD";
    ex.is_api = ex.req.path == "/api" || ex.req.path.compare(0, 5, "/api/") == 0;
    int status = 0;
    if (const char* refusal = body_framing_error(wsi, ex, status)) {
      respond_now(wsi, ex, status, refusal);
      return 0;
    }
    if (!http) {
      respond_now(wsi, ex, 503, kNotReady);
      return 0;
    }
    if (ex.expected_body == 0) return dispatch(wsi, ex);
    if (ex.expected_body > limits.max_http_body_bytes) {
      ex.too_big = true;
      if (ex.expected_body > kHttpDiscardFactor * limits.max_http_body_bytes)
        respond_now(wsi, ex, 413, kTooLargeBody);
    } else {
      ex.req.body.reserve(ex.expected_body);
    }
    return 0;  // the body follows in LWS_CALLBACK_HTTP_BODY
  }

  int on_http_body(lws* wsi, const void* in, std::size_t len) {
    auto it = exchanges.find(wsi);
    if (it == exchanges.end()) return -1;
    HttpExchange& ex = it->second;
    if (ex.too_big) return 0;  // discarding
    if (ex.req.body.size() + len > limits.max_http_body_bytes) {
      ex.too_big = true;
      std::string().swap(ex.req.body);
      return 0;
    }
    ex.req.body.append(static_cast<const char*>(in), len);
    return 0;
  }

  int on_http_body_done(lws* wsi) {
    auto it = exchanges.find(wsi);
    if (it == exchanges.end()) return -1;
    HttpExchange& ex = it->second;
    // A second completion of one body: lws is looking at pipelined bytes behind it.
    if (ex.body_done) return -1;
    ex.body_done = true;
    if (ex.responded) return 0;
    if (ex.too_big) {
      respond_now(wsi, ex, 413, kTooLargeBody);
      return 0;
    }
    return dispatch(wsi, ex);
  }

  int dispatch(lws* wsi, HttpExchange& ex) {
    if (auto* m = metrics()) ++m->http_requests;
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, kHttpResponseTimeoutS);
    router::HttpRequest req = std::move(ex.req);
    std::uint64_t gen = ex.gen;
    // `ex` may not survive handle(): the router may answer at once, and the answer may be
    // written only later; deliver() looks the exchange up again by wsi and generation.
    http->handle(req, [this, wsi, gen](router::HttpResponse resp) {
      deliver(wsi, gen, std::move(resp));
    });
    return 0;
  }

  // The router's answer to request `gen` on `wsi`; dropped if that connection is gone.
  void deliver(lws* wsi, std::uint64_t gen, router::HttpResponse resp) {
    auto it = exchanges.find(wsi);
    if (it == exchanges.end() || it->second.gen != gen || it->second.responded) return;
    it->second.resp = std::move(resp);
    it->second.responded = true;
    lws_callback_on_writable(wsi);
  }

  // The response went out: hang up (lws sends what it still holds first).
  int complete(lws* wsi) {
    exchanges.erase(wsi);
    return -1;
  }

  int on_http_writeable(lws* wsi) {
    auto it = exchanges.find(wsi);
    if (it == exchanges.end() || !it->second.responded) return 0;  // spurious
    HttpExchange& ex = it->second;
    return ex.headers_sent ? write_http_body(wsi, ex) : write_http_headers(wsi, ex);
  }

  // Opens the file a static-file response names; when it is gone since the router looked,
  // the response becomes a 404.
  void open_response_file(HttpExchange& ex) {
    router::HttpResponse& r = ex.resp;
    ex.file.reset(std::fopen(r.file_path.c_str(), "rb"));
    struct stat st;
    if (ex.file && fstat(fileno(ex.file.get()), &st) == 0 && S_ISREG(st.st_mode)) {
      ex.body_left = static_cast<std::uint64_t>(st.st_size);
      return;
    }
    ex.file.reset();
    r.status = 404;
    r.content_type = "application/json";
    r.body = kFileGone;
    r.file_path.clear();
    ex.body_left = r.body.size();
  }

  int write_http_headers(lws* wsi, HttpExchange& ex) {
    // Durability, as for WebSocket frames: a 201 must not leave before its lobby is stored.
    if (hub) hub->flush();
    const router::HttpResponse& r = ex.resp;
    if (r.file_path.empty())
      ex.body_left = r.body.size();
    else
      open_response_file(ex);
    std::vector<unsigned char> buf(LWS_PRE + 1024 + r.content_type.size());
    unsigned char* start = buf.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf.data() + buf.size();
    static const char no_store[] = "no-store";
    static const char conn_close[] = "close";
    if (lws_add_http_common_headers(wsi, static_cast<unsigned int>(r.status),
                                    r.content_type.c_str(), ex.body_left, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                     reinterpret_cast<const unsigned char*>(conn_close),
                                     static_cast<int>(sizeof conn_close - 1), &p, end) ||
        (ex.is_api &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                      reinterpret_cast<const unsigned char*>(no_store),
                                      static_cast<int>(sizeof no_store - 1), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
      return -1;
    ex.headers_sent = true;
    if (ex.head_only) ex.body_left = 0;
    if (ex.body_left == 0) return complete(wsi);
    lws_callback_on_writable(wsi);
    return 0;
  }

  // One chunk of the body per WRITEABLE, from the response string or the file.
  int write_http_body(lws* wsi, HttpExchange& ex) {
    const std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(ex.body_left, kHttpChunkBytes));
    if (wbuf.size() < LWS_PRE + chunk) wbuf.resize(LWS_PRE + chunk);
    unsigned char* data = wbuf.data() + LWS_PRE;
    if (ex.file) {
      // A file that shrank while it was sent: hang up, the client sees a short body.
      if (std::fread(data, 1, chunk, ex.file.get()) != chunk) return -1;
    } else {
      const std::string& body = ex.resp.body;
      std::memcpy(data, body.data() + (body.size() - ex.body_left), chunk);
    }
    const bool last = chunk == ex.body_left;
    int n = lws_write(wsi, data, chunk, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    if (n < static_cast<int>(chunk)) return -1;
    ex.body_left -= chunk;
    if (last) return complete(wsi);
    lws_callback_on_writable(wsi);
    return 0;
  }
};

namespace {

LwsTransport::Impl* impl_of(lws* wsi) {
  return static_cast<LwsTransport::Impl*>(lws_context_user(lws_get_context(wsi)));
}

// Writes a complete HTTP/1.1 answer to an upgrade request, by hand: lws' own status
// helpers answer an upgrade request as HTTP/1.0, which WebSocket clients refuse to parse.
// The caller returns -1 to hang up; lws sends what it holds first.
void refuse_upgrade(lws* wsi, const char* status_line, const char* extra_headers,
                    const char* json_body) {
  std::string reply = std::string("HTTP/1.1 ") + status_line +
                      "\r\ncontent-type: application/json\r\ncontent-length: " +
                      std::to_string(std::strlen(json_body)) + "\r\n" + extra_headers +
                      "connection: close\r\n\r\n" + json_body;
  std::vector<unsigned char> buf(LWS_PRE + reply.size());
  std::memcpy(buf.data() + LWS_PRE, reply.data(), reply.size());
  lws_write(wsi, buf.data() + LWS_PRE, reply.size(), LWS_WRITE_HTTP_HEADERS);
}

// An upgrade request, delivered to whichever protocol the connection is bound to.
// WebSocket only on /ws (404 elsewhere), only version 13 (RFC 6455 4.4: 426 naming the
// version otherwise), and never pipelined behind an HTTP request (see Impl, HTTP).
int confirm_upgrade(lws* wsi) {
  LwsTransport::Impl* d = impl_of(wsi);
  if (d->exchanges.count(wsi)) return -1;
  if (!LwsTransport::Impl::is_ws_path(wsi)) {
    refuse_upgrade(wsi, "404 Not Found", "",
                   R"({"code":"not_found","error":"WebSocket connections go to /ws."})");
    return -1;
  }
  if (header(wsi, WSI_TOKEN_VERSION) != "13") {
    refuse_upgrade(wsi, "426 Upgrade Required", "sec-websocket-version: 13\r\n",
                   R"({"code":"bad_request","error":"This server speaks WebSocket version 13 only."})");
    return -1;
  }
  return 0;
}

// protocols[0]: HTTP, and the loop's own events (posted work). Loop thread.
int callback_http(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in,
                  std::size_t len) {
  try {
    switch (reason) {
      case LWS_CALLBACK_PROTOCOL_INIT: {
        auto** vhd = static_cast<LwsTransport::Impl**>(lws_protocol_vh_priv_zalloc(
            lws_get_vhost(wsi), lws_get_protocol(wsi), sizeof(LwsTransport::Impl*)));
        if (!vhd) return -1;
        *vhd = impl_of(wsi);
        return 0;
      }
      case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        // Broadcast to every protocol of every vhost, also while they are being made.
        auto** vhd = static_cast<LwsTransport::Impl**>(
            lws_protocol_vh_priv_get(lws_get_vhost(wsi), lws_get_protocol(wsi)));
        if (vhd && *vhd) (*vhd)->drain_posts();
        return 0;
      }
      case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(wsi);
      case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return 1;  // WebSocket only through the "lobby" protocol
      case LWS_CALLBACK_HTTP:
        return impl_of(wsi)->on_http(wsi);
      case LWS_CALLBACK_HTTP_BODY:
        return impl_of(wsi)->on_http_body(wsi, in, len);
      case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return impl_of(wsi)->on_http_body_done(wsi);
      case LWS_CALLBACK_HTTP_WRITEABLE:
        return impl_of(wsi)->on_http_writeable(wsi);
      case LWS_CALLBACK_CLOSED_HTTP:
      case LWS_CALLBACK_WSI_DESTROY:
        impl_of(wsi)->exchanges.erase(wsi);
        return 0;
      default:
        return 0;
    }
  } catch (const std::exception& e) {
    log_error("HTTP request failed", e.what());
  } catch (...) {
    log_error("HTTP request failed", "unknown exception");
  }
  return -1;
}

// protocols[1]: the WebSocket endpoint /ws. Loop thread.
int callback_lobby(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                   std::size_t len) {
  try {
    switch (reason) {
      case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(wsi);
      case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return LwsTransport::Impl::is_ws_path(wsi) ? 0 : 1;
      case LWS_CALLBACK_ESTABLISHED:
        return impl_of(wsi)->on_ws_open(wsi, user);
      case LWS_CALLBACK_RECEIVE:
        return impl_of(wsi)->on_ws_receive(wsi, user, in, len);
      case LWS_CALLBACK_SERVER_WRITEABLE:
        return impl_of(wsi)->on_ws_writeable(wsi, user);
      case LWS_CALLBACK_RECEIVE_PONG:
        impl_of(wsi)->on_ws_pong(user);
        return 0;
      case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return impl_of(wsi)->on_ws_peer_close(wsi, user, in, len);
      case LWS_CALLBACK_CLOSED:
        impl_of(wsi)->on_ws_closed(user);
        return 0;
      default:
        return 0;
    }
  } catch (const std::exception& e) {
    log_error("WebSocket connection failed", e.what());
  } catch (...) {
    log_error("WebSocket connection failed", "unknown exception");
  }
  // CLOSED must still release the connection; any other failure closes it.
  if (reason == LWS_CALLBACK_CLOSED) {
    auto* slot = static_cast<WsSlot*>(user);
    if (slot && slot->live) {
      slot->conn()->~WsConn();
      slot->live = false;
    }
    return 0;
  }
  if (WsConn* c = LwsTransport::Impl::live_conn(user)) {
    c->closing = true;
    lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, nullptr, 0);
  }
  return -1;
}

}  // namespace

LwsTransport::LwsTransport(const std::string& host, std::uint16_t port, const Limits& limits)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.limits = limits;
  // lws takes a numeric address or an interface name; "" binds every interface.
  d.iface = host == "localhost" ? "127.0.0.1" : host;
  bool ipv6 = d.iface.empty() || d.iface.find(':') != std::string::npos;
  const std::string shown = host.empty() ? "*" : host;

  static std::once_flag log_once;
  std::call_once(log_once, [] { lws_set_log_level(LLL_ERR | LLL_WARN, nullptr); });

  std::memset(d.protocols, 0, sizeof d.protocols);
  d.protocols[0].name = "http";
  d.protocols[0].callback = callback_http;
  d.protocols[1].name = "lobby";
  d.protocols[1].callback = callback_lobby;
  d.protocols[1].per_session_data_size = sizeof(WsSlot);
  d.protocols[1].rx_buffer_size = 16 * 1024;

  // Clients that name no subprotocol (browsers, Python websockets) get "lobby".
  std::memset(&d.pvo_default, 0, sizeof d.pvo_default);
  d.pvo_default.name = "default";
  d.pvo_default.value = "1";
  std::memset(&d.pvo, 0, sizeof d.pvo);
  d.pvo.options = &d.pvo_default;
  d.pvo.name = "lobby";
  d.pvo.value = "";

  // No lws validity timers (both 0): heartbeats() pings and hangs up instead. The policy is
  // still set: without one the vhost would take the context's default, which has them.
  std::memset(&d.retry, 0, sizeof d.retry);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  if (!ipv6) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  info.user = &d;
  info.max_http_header_data = kMaxHttpHeaderBytes;
  info.server_string = "lobbykit";
  info.gid = -1;
  info.uid = -1;
  d.context = lws_create_context(&info);
  if (!d.context)
    throw StartError("cannot start the network service for " + shown + ":" +
                     std::to_string(port) + " (libwebsockets context creation failed)");

  lws_context_creation_info vinfo;
  std::memset(&vinfo, 0, sizeof vinfo);
  vinfo.vhost_name = "lobbykit";
  vinfo.port = port;
  vinfo.iface = d.iface.empty() ? nullptr : d.iface.c_str();
  vinfo.protocols = d.protocols;
  vinfo.pvo = &d.pvo;
  vinfo.retry_and_idle_policy = &d.retry;
  vinfo.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  if (!ipv6) vinfo.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  vinfo.user = &d;
  d.vhost = lws_create_vhost(d.context, &vinfo);
  if (!d.vhost) {
    lws_context_destroy(d.context);
    d.context = nullptr;
    throw StartError("cannot listen on " + shown + ":" + std::to_string(port) +
                     ": the port is in use or the address is not local");
  }
  int bound = lws_get_vhost_listen_port(d.vhost);
  d.port = static_cast<std::uint16_t>(bound > 0 ? bound : port);

  d.tick.self = &d;
  lws_sul_schedule(d.context, 0, &d.tick.sul, Impl::on_tick, kTickUs);
}

LwsTransport::~LwsTransport() { impl_->destroy_context(); }

std::uint16_t LwsTransport::port() const { return impl_->port; }

void LwsTransport::attach(router::Hub& hub, router::HttpRouter& http) {
  impl_->hub = &hub;
  impl_->http = &http;
}

void LwsTransport::detach() {
  impl_->hub = nullptr;
  impl_->http = nullptr;
}

void LwsTransport::run_until_stopped() {
  Impl& d = *impl_;
  if (!d.context) return;
  d.drain_posts();
  while (!d.stop_requested.load()) {
    if (lws_service(d.context, 0) < 0) break;
    if (d.draining && (d.conns.empty() || Clock::now() >= d.drain_deadline)) break;
  }
  // What is still open is closed now, so the hub hears on_close for every connection.
  std::vector<lws*> left;
  left.reserve(d.conns.size());
  for (auto& [id, wsi] : d.conns) left.push_back(wsi);
  for (lws* wsi : left) lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  if (d.hub) {
    try {
      d.hub->flush();
    } catch (const std::exception& e) {
      log_error("final store flush failed", e.what());
    }
  }
  d.destroy_context();
}

void LwsTransport::request_stop() {
  impl_->stop_requested.store(true);
  std::lock_guard<std::mutex> lock(impl_->post_mu);
  if (!impl_->closed && impl_->context) lws_cancel_service(impl_->context);
}

void LwsTransport::stop_when_drained(std::uint32_t grace_ms) {
  impl_->draining = true;
  impl_->drain_deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
}

bool LwsTransport::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(impl_->post_mu);
  if (impl_->closed || !impl_->context) return false;
  bool wake = impl_->posted.empty();
  impl_->posted.push_back(std::move(fn));
  if (wake) lws_cancel_service(impl_->context);
  return true;
}

void LwsTransport::send(router::ConnId conn, router::Frame frame) {
  impl_->send(conn, std::move(frame));
}

void LwsTransport::close(router::ConnId conn, protocol::CloseCode code,
                         std::string_view reason) {
  impl_->close(conn, code, reason);
}

}  // namespace lobbykit::transport
