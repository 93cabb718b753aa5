#include "transport/lws_server.hpp"

#include <lobbykit/server.hpp>

#include "protocol/close_code.hpp"
#include "router/hub.hpp"
#include "router/http_router.hpp"
#include "transport/http1.hpp"
#include "transport/websocket.hpp"

// uv.h first: libwebsockets.h declares its libuv parts only when it has seen it.
#include <uv.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
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
#include <unordered_set>
#include <utility>
#include <vector>

// libwebsockets is used here for what it does well: listening, accepting, the event loop,
// timers and buffered socket writes. Every connection is a raw socket; HTTP/1.1 and
// WebSocket framing are this file's own (transport/http1.*, transport/websocket.*), so that
// the server answers what RFC 9112 and RFC 6455 ask and every byte a client sends goes
// through code this project tests and fuzzes. (lws 4.1.6's own HTTP server loops forever on
// a pipelined request with a body, and its WebSocket server accepts unmasked frames: see
// docs/architecture.md, "Transport".)

namespace lobbykit::transport {
namespace {

using router::ConnId;
using router::Frame;
using Clock = std::chrono::steady_clock;
namespace ws = websocket;

constexpr lws_usec_t kTickUs = 100 * 1000;           // hub.tick() + hub.flush() period
constexpr unsigned kTicksPerHeartbeat = 10;           // heartbeats() once a second
constexpr unsigned char kPingPayload[4] = {'l', 'k', 'h', 'b'};
constexpr int kCloseTimeoutS = 3;                     // a close waits this long for its queue
constexpr int kCloseAllTimeoutMs = 1000;              // libuv: closing every socket at the end
constexpr int kCloseIterations = 3;                   // libuv: loop turns for close callbacks
constexpr int kHttpHeadTimeoutS = 10;                 // to send a request head (and body)
constexpr int kHttpResponseTimeoutS = 30;             // a request waits this long for Respond
constexpr int kHttpIdleTimeoutS = 10;                 // a kept-alive connection with no request
constexpr std::size_t kMaxHttpHeadBytes = 4096;       // larger request heads get 431
constexpr std::size_t kHttpChunkBytes = 32 * 1024;    // response body bytes per write
constexpr std::size_t kWsBatchBytes = 64 * 1024;      // frames gathered into one write
// TLS 1.2 cipher suites: forward-secret AEAD only (TLS 1.3 has its own, all of them good).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr std::size_t kKeptBufferBytes = 64 * 1024;   // per-connection buffers shrink above
constexpr std::size_t kCloseReasonBytes = 123;        // WebSocket limit for a close reason
// A body over max_http_body_bytes is read and discarded up to this many times the cap, so
// the 413 reaches a client that writes its whole body before reading; beyond, hang up.
constexpr std::size_t kHttpDiscardFactor = 16;

// Early answers, in the router's error shape.
constexpr const char* kTooLargeBody =
    R"({"code":"too_large","error":"The request body is over the server's limit."})";
constexpr const char* kBadRequest =
    R"({"code":"bad_request","error":"The request is not valid HTTP/1.1."})";
constexpr const char* kHeadTooLarge =
    R"({"code":"too_large","error":"The request head is over 4 KiB."})";
constexpr const char* kNotReady =
    R"({"code":"internal_error","error":"The server is not ready."})";
constexpr const char* kFileGone = R"({"code":"not_found","error":"No such file."})";
constexpr const char* kWsOnlyOnWs =
    R"({"code":"not_found","error":"WebSocket connections go to /ws."})";
constexpr const char* kBadHandshake =
    R"({"code":"bad_request","error":"Not a valid WebSocket handshake."})";
constexpr const char* kDraining =
    R"({"code":"draining","error":"The server is draining: connect to another one."})";
constexpr const char* kWsVersion =
    R"({"code":"bad_request","error":"This server speaks WebSocket version 13 only."})";

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

// One HTTP request, from its head until its response is written. Loop thread only.
struct HttpExchange {
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::uint64_t gen = 0;        // tells this request from later ones on the same connection
  router::HttpRequest req;
  std::uint64_t body_left = 0;  // request body bytes still to read
  bool discard = false;         // body over the cap: read and drop it, then answer 413
  bool keep_alive = false;      // the connection may carry another request afterwards
  bool responded = false;       // resp is set
  bool head_sent = false;
  bool head_only = false;       // HEAD: no body in the response
  bool is_api = false;          // path under /api: Cache-Control: no-store
  router::HttpResponse resp;
  std::string extra_fields;     // response header lines of the transport's own answers
  std::unique_ptr<std::FILE, FileCloser> file;  // resp.file_path, open while it is sent
  std::uint64_t out_left = 0;   // response body bytes not yet written
};

// One TCP connection, from RAW_ADOPT to RAW_CLOSE: HTTP/1.1 until an upgrade on /ws, then a
// WebSocket. Lives in lws' per-session memory. Loop thread only.
struct Conn {
  enum class Mode : std::uint8_t { http, websocket };
  lws* wsi = nullptr;
  Mode mode = Mode::http;
  bool rx_paused = false;       // lws_rx_flow_control(wsi, 0) is in force
  bool backlogged = false;      // WebSocket reads paused for the outbound queue: see hold_reads
  bool closing = false;         // send what is queued (then a close frame), then hang up
  bool close_sent = false;      // the last bytes are written: shut down and linger
  bool lingering = false;       // write side shut; input is read and dropped until EOF
  std::string in;               // received bytes not yet used
  std::string out;              // bytes owed before any frame (the 101 answer)
  std::unique_ptr<HttpExchange> http;  // the request being answered (HTTP mode)

  // WebSocket mode.
  ConnId id = 0;
  bool peer_closed = false;     // the client sent its close frame: ignore what follows
  bool in_message = false;      // a fragmented text message is being reassembled
  bool ping_due = false;        // heartbeats(): write a ping at the next WRITEABLE
  bool pong_due = false;        // a ping came: write a pong with its payload
  bool corked = false;          // listed in Impl::corked: written at the loop turn's end
  std::uint16_t close_code = 0; // 0: a close frame without a status code
  std::string rx;               // the fragmented message so far
  std::string pong;             // payload of the pong owed
  std::string close_reason;
  FrameQueue queue;             // frames not yet written
  std::size_t queued_bytes = 0; // payload bytes in queue
  std::int64_t last_rx_ms = 0;  // Impl::now_ms when the client was last known alive
  std::int64_t ping_sent_ms = 0;  // when the unanswered ping went out; 0: none
  std::int64_t last_tx_ms = 0;  // while backlogged: when the queue last moved (or the hold began)
};

// The per-session data of the raw protocol. lws zeroes it, so `live` says whether a Conn has
// been constructed in `storage`.
struct ConnSlot {
  bool live;
  alignas(Conn) unsigned char storage[sizeof(Conn)];
  Conn* conn() { return std::launder(reinterpret_cast<Conn*>(storage)); }
};

Conn* live_conn(void* user) {
  auto* slot = static_cast<ConnSlot*>(user);
  return slot && slot->live ? slot->conn() : nullptr;
}

}  // namespace

struct LwsTransport::Impl {
  // Set at construction, read-only after. Any thread.
  Limits limits;
  std::string iface;  // what lws binds to; "" for every interface
  std::uint16_t port = 0;

  // lws configuration; lws keeps pointers into these for the context's lifetime.
  lws_protocols protocols[2];
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
  TlsFiles tls;  // enabled(): the vhost speaks TLS
  // With EventLoop::libuv the context runs on this loop, which the transport owns (lws calls
  // it a foreign loop): uv_run() services it, and it is closed after the context.
  bool use_uv = false;
  uv_loop_t uv_loop;
  bool uv_ready = false;  // uv_loop is initialised and not closed yet
  uv_prepare_t uv_corks;  // runs flush_corked() before each wait for I/O (unref'd)
  bool uv_corks_open = false;
  void* foreign_loops[1] = {&uv_loop};  // lws_context_creation_info::foreign_loops

  // Loop thread only.
  ProxyList proxies;  // trusted reverse proxies (ServerOptions::trusted_proxies)
  router::Hub* hub = nullptr;
  router::HttpRouter* http = nullptr;
  std::unordered_map<ConnId, lws*> conns;  // open WebSocket connections
  std::vector<unsigned char> wbuf;         // LWS_PRE headroom + the bytes being written
  std::vector<ConnId> corked;              // connections send() queued frames for this turn
  std::vector<ConnId> corked_batch;        // flush_corked()'s working copy (kept allocated)
  ConnId next_conn = 1;
  std::uint64_t next_gen = 1;
  bool draining = false;
  Clock::time_point drain_deadline;
  bool closing_all = false;  // libuv: finish_uv() is closing every socket
  Clock::time_point close_all_deadline;
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
    if (use_uv) finish_uv();
  }

  // libuv: once should_stop() holds, every socket is closed while the loop still runs (lws'
  // libuv plugin closes a handle twice, an abort in libuv, when the context is destroyed
  // while connections or their close callbacks are pending), then the loop stops. No
  // connection is accepted meanwhile. Loop thread.
  void finish_uv() {
    if (!should_stop()) return;
    if (!closing_all) {
      closing_all = true;
      close_all_deadline = Clock::now() + std::chrono::milliseconds(kCloseAllTimeoutMs);
      const std::vector<lws*> left(live_wsis.begin(), live_wsis.end());  // RAW_CLOSE erases
      for (lws* wsi : left)
        if (live_wsis.count(wsi)) lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
    if (live_wsis.empty() || Clock::now() >= close_all_deadline) uv_stop(&uv_loop);
  }

  // Whether run_until_stopped() should end its loop now. Loop thread.
  bool should_stop() const {
    return stop_requested.load() ||
           (draining && (conns.empty() || Clock::now() >= drain_deadline));
  }

  static std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }

  // Heartbeats: a client silent for ping_interval_s gets a ping, and is hung up on unless a
  // pong (or any frame) comes within pong_timeout_s. Done here, once a second over every
  // connection, instead of by lws' per-connection timers: lws 4.1 keeps every connection's
  // timer in one sorted list, and (re)scheduling one walks that list, a cost per new
  // connection that grows with the number already open.
  //
  // A backlogged connection (see hold_reads) cannot be heard: what it sends, pongs too, waits
  // unread. Its sign of life is the queue moving instead: every write that goes out means the
  // client read (with that much queued, the kernel's buffers are full). Stuck for as long as
  // a silent client is given, it is a slow consumer: closed 4003, like one whose queue
  // overflows.
  void heartbeats() {
    const std::int64_t ping_after = std::int64_t{limits.ping_interval_s} * 1000;
    const std::int64_t pong_within = std::int64_t{limits.pong_timeout_s} * 1000;
    for (const auto& [id, wsi] : conns) {
      Conn* c = live_conn(lws_wsi_user(wsi));
      if (!c || c->closing) continue;
      if (c->backlogged) {
        if (now_ms - c->last_tx_ms >= ping_after + pong_within) close_slow_consumer(*c);
        continue;
      }
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
    // What the tick sent goes now: on the poll loop lws runs timers before it waits, and
    // the flush after lws_service() would come only after the next wake-up. (A connection
    // lws closes from its own timers, a heartbeat or close timeout, tells the others at the
    // next turn or tick at the latest.)
    self->flush_corked();
    if (self->use_uv) self->finish_uv();
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
    close_corks();
    destroy_lws(ctx);
    {
      std::lock_guard<std::mutex> lock(post_mu);
      context = nullptr;
      vhost = nullptr;
    }
    close_uv_loop();
  }

  // Destroys an lws context. On our own (foreign) libuv loop lws 4.1.6 only starts: its
  // handles close in the loop, and a second lws_context_destroy() frees the context (else
  // it leaks, as LeakSanitizer showed). Loop thread, or the destructor.
  void destroy_lws(lws_context* ctx) {
    lws_context_destroy(ctx);
    if (!uv_ready) return;
    uv_run(&uv_loop, UV_RUN_DEFAULT);
    lws_context_destroy(ctx);
  }

  void close_corks() {
    if (!uv_corks_open) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&uv_corks), nullptr);
    uv_corks_open = false;
  }

  // After the context is destroyed: closes the loop (and any handle still open in it). Loop
  // thread, or the destructor.
  void close_uv_loop() {
    if (!uv_ready) return;
    close_corks();
    uv_run(&uv_loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&uv_loop) != 0) {
      // A handle lws left open: close what is left and try once more, rather than leak it.
      uv_walk(
          &uv_loop,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&uv_loop, UV_RUN_DEFAULT);
      if (uv_loop_close(&uv_loop) != 0) log_error("closing the event loop", "handles still open");
    }
    uv_ready = false;
  }

  // --- connections ---------------------------------------------------------------------

  Conn* find_ws(ConnId id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : live_conn(lws_wsi_user(it->second));
  }

  void pause_rx(Conn& c) {
    if (c.rx_paused) return;
    lws_rx_flow_control(c.wsi, 0);
    c.rx_paused = true;
  }

  void resume_rx(Conn& c) {
    if (!c.rx_paused) return;
    lws_rx_flow_control(c.wsi, 1);
    c.rx_paused = false;
  }

  // A WebSocket client that does not read what is sent (its queue is over half of
  // max_outbound_bytes) is not read from either, until it catches up (a quarter): the
  // requests it keeps sending would only grow its queue. Counted in the metrics' gauge.
  void hold_reads(Conn& c) {
    if (c.backlogged) return;
    c.backlogged = true;
    c.last_tx_ms = now_ms;
    if (auto* m = metrics()) ++m->connections_backlogged;
    pause_rx(c);
  }

  // Ends the hold, or forgets it when the connection closes (which reads nothing more).
  void release_reads(Conn& c, bool resume) {
    if (!c.backlogged) return;
    c.backlogged = false;
    if (auto* m = metrics()) --m->connections_backlogged;
    if (!resume) return;
    resume_rx(c);
    // It could not be heard while held: its silence, and any ping out, count from now.
    c.last_rx_ms = now_ms;
    c.ping_sent_ms = 0;
  }

  int on_adopt(lws* wsi, void* user) {
    auto* slot = static_cast<ConnSlot*>(user);
    if (!slot) return -1;
    Conn* c = new (slot->storage) Conn();
    slot->live = true;
    c->wsi = wsi;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, kHttpHeadTimeoutS);
    return 0;
  }

  void on_closed(void* user) {
    auto* slot = static_cast<ConnSlot*>(user);
    if (!slot || !slot->live) return;
    Conn* c = slot->conn();
    const bool was_ws = c->mode == Conn::Mode::websocket;
    const ConnId id = c->id;
    release_reads(*c, false);
    c->~Conn();
    slot->live = false;
    if (!was_ws) return;
    conns.erase(id);
    if (!hub) return;
    --hub->metrics().connections_open;
    hub->on_close(id);
  }

  int on_rx(Conn& c, const char* data, std::size_t len) {
    if (c.lingering || c.closing) return 0;  // closing: what it says now does not matter
    c.in.append(data, len);
    int r = c.mode == Conn::Mode::http ? process_http(c) : process_ws(c);
    if (c.in.empty() && c.in.capacity() > kKeptBufferBytes) std::string().swap(c.in);
    return r;
  }

  int on_writeable(Conn& c) {
    if (c.lingering) return 0;
    if (c.close_sent) return linger(c);
    if (c.mode == Conn::Mode::websocket) return write_ws(c);
    return write_http(c);
  }

  // The last bytes are written. Once lws holds none of them, shut the write side and read
  // (and drop) until the client closes or kCloseTimeoutS passes: closing at once, with the
  // client's bytes unread, would make the kernel send a reset, and the client could lose
  // the answer (a close frame, a 413) that explains why.
  int linger(Conn& c) {
    if (lws_partial_buffered(c.wsi)) {
      lws_callback_on_writable(c.wsi);
      return 0;
    }
    c.lingering = true;
    c.in.clear();
    resume_rx(c);
    ::shutdown(lws_get_socket_fd(c.wsi), SHUT_WR);
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kCloseTimeoutS);
    return 0;
  }

  // --- HTTP ----------------------------------------------------------------------------

  // Reads requests one at a time: a pipelined request waits in `in` until the one before it
  // is answered (and the connection is kept alive).
  int process_http(Conn& c) {
    while (!c.closing) {
      if (c.http) {
        HttpExchange& ex = *c.http;
        if (ex.body_left > 0 && !c.in.empty()) {
          const std::size_t take =
              static_cast<std::size_t>(std::min<std::uint64_t>(ex.body_left, c.in.size()));
          if (!ex.discard) ex.req.body.append(c.in, 0, take);
          c.in.erase(0, take);
          ex.body_left -= take;
          if (ex.body_left == 0) {
            if (ex.discard)
              answer(c, 413, kTooLargeBody, false);
            else
              dispatch(c);
          }
        }
        // Bytes behind a request in progress wait; hold no more than a head and a body.
        if (c.in.size() > kMaxHttpHeadBytes + limits.max_http_body_bytes) pause_rx(c);
        return 0;
      }
      if (c.in.empty()) return 0;
      http1::RequestHead head;
      std::size_t used = 0;
      switch (http1::parse_request_head(c.in, kMaxHttpHeadBytes, head, used)) {
        case http1::ParseStatus::incomplete:
          return 0;
        case http1::ParseStatus::bad:
          start_exchange(c, false);
          answer(c, 400, kBadRequest, false);
          return 0;
        case http1::ParseStatus::too_large:
          start_exchange(c, false);
          answer(c, 431, kHeadTooLarge, false);
          return 0;
        case http1::ParseStatus::complete:
          break;
      }
      c.in.erase(0, used);
      // Other upgrades (h2c) are ignored: the request is served as HTTP/1.1 (RFC 9110 7.8).
      if (head.has_token("upgrade", "websocket")) return upgrade(c, head);
      start_request(c, head);
    }
    return 0;
  }

  HttpExchange& start_exchange(Conn& c, bool keep_alive) {
    c.http = std::make_unique<HttpExchange>();
    c.http->gen = next_gen++;
    c.http->keep_alive = keep_alive;
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kHttpResponseTimeoutS);
    return *c.http;
  }

  // The address a request is counted under: the peer's, or behind a trusted proxy the one
  // its X-Forwarded-For names.
  std::string client_address(Conn& c, const http1::RequestHead& head) {
    char peer[64];
    const char* address = lws_get_peer_simple(c.wsi, peer, sizeof peer);
    return proxies.client_address(address ? address : "", head.field("x-forwarded-for"));
  }

  void start_request(Conn& c, const http1::RequestHead& head) {
    HttpExchange& ex = start_exchange(c, http1::keep_alive(head));
    ex.req.method = head.method;
    ex.req.path = head.path;
    ex.req.query = head.query;
    if (const std::string* auth = head.field("authorization")) ex.req.authorization = *auth;
    ex.req.address = client_address(c, head);
    ex.head_only = head.method == "HEAD";
    ex.is_api = ex.req.path == "/api" || ex.req.path.compare(0, 5, "/api/") == 0;
    const http1::BodyFraming framing = http1::body_framing(head);
    if (framing.kind == http1::BodyFraming::refuse) {
      answer(c, framing.status, framing.error, false);
      return;
    }
    if (!http) {
      answer(c, 503, kNotReady, false);
      return;
    }
    if (framing.kind == http1::BodyFraming::none) {
      dispatch(c);
      return;
    }
    ex.body_left = framing.length;
    if (framing.length > limits.max_http_body_bytes) {
      if (framing.length > kHttpDiscardFactor * limits.max_http_body_bytes) {
        answer(c, 413, kTooLargeBody, false);
        return;
      }
      ex.discard = true;
    } else {
      ex.req.body.reserve(static_cast<std::size_t>(framing.length));
    }
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kHttpHeadTimeoutS);
  }

  // The transport's own answer; `keep_alive` false closes the connection after it.
  void answer(Conn& c, int status, const char* json_error, bool keep_alive,
              std::string extra_fields = {}) {
    HttpExchange& ex = *c.http;
    if (auto* m = metrics()) ++m->http_requests;
    ex.keep_alive = ex.keep_alive && keep_alive;
    ex.resp = router::HttpResponse{};
    ex.resp.status = status;
    ex.resp.body = json_error;
    ex.extra_fields = std::move(extra_fields);
    ex.body_left = 0;
    ex.responded = true;
    if (!ex.keep_alive) c.closing = true;  // read nothing more
    lws_callback_on_writable(c.wsi);
  }

  void dispatch(Conn& c) {
    if (auto* m = metrics()) ++m->http_requests;
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kHttpResponseTimeoutS);
    HttpExchange& ex = *c.http;
    router::HttpRequest req = std::move(ex.req);
    const std::uint64_t gen = ex.gen;
    lws* wsi = c.wsi;
    // `ex` may not survive handle(): the router may answer at once, and the answer may be
    // written only later; deliver() looks the exchange up again by wsi and generation.
    http->handle(req, [this, wsi, gen](router::HttpResponse resp) {
      deliver(wsi, gen, std::move(resp));
    });
  }

  // The router's answer to request `gen` on `wsi`; dropped if that connection or request is
  // gone (a new connection at the same address has other generations).
  void deliver(lws* wsi, std::uint64_t gen, router::HttpResponse resp) {
    if (!live_wsis.count(wsi)) return;
    Conn* c = live_conn(lws_wsi_user(wsi));
    if (!c || !c->http || c->http->gen != gen || c->http->responded) return;
    c->http->resp = std::move(resp);
    c->http->responded = true;
    lws_callback_on_writable(wsi);
  }

  // Opens the file a static-file response names; when it is gone since the router looked,
  // the response becomes a 404.
  void open_response_file(HttpExchange& ex) {
    router::HttpResponse& r = ex.resp;
    ex.file.reset(std::fopen(r.file_path.c_str(), "rb"));
    struct stat st;
    if (ex.file && fstat(fileno(ex.file.get()), &st) == 0 && S_ISREG(st.st_mode)) {
      ex.out_left = static_cast<std::uint64_t>(st.st_size);
      return;
    }
    ex.file.reset();
    r.status = 404;
    r.content_type = "application/json";
    r.body = kFileGone;
    r.file_path.clear();
    ex.out_left = r.body.size();
  }

  // Head and body of the response, a chunk per WRITEABLE (the head with the first one).
  int write_http(Conn& c) {
    if (!c.http || !c.http->responded) return 0;  // spurious
    HttpExchange& ex = *c.http;
    std::string head;
    if (!ex.head_sent) {
      // Durability, as for WebSocket frames: a 201 must not leave before its lobby is stored.
      if (hub) hub->flush();
      if (ex.resp.file_path.empty())
        ex.out_left = ex.resp.body.size();
      else
        open_response_file(ex);
      std::string extra = std::move(ex.extra_fields);
      if (ex.is_api) extra.append("cache-control: no-store\r\n");
      head = http1::response_head(ex.resp.status, ex.resp.content_type, ex.out_left,
                                  ex.keep_alive, extra);
      ex.head_sent = true;
      if (ex.head_only) ex.out_left = 0;
    }
    const std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(ex.out_left, kHttpChunkBytes));
    const std::size_t total = head.size() + chunk;
    if (wbuf.size() < LWS_PRE + total) wbuf.resize(LWS_PRE + total);
    unsigned char* data = wbuf.data() + LWS_PRE;
    std::memcpy(data, head.data(), head.size());
    if (chunk) {
      char* body = reinterpret_cast<char*>(data + head.size());
      if (ex.file) {
        // A file that shrank while it was sent: hang up, the client sees a short body.
        if (std::fread(body, 1, chunk, ex.file.get()) != chunk) return -1;
      } else {
        const std::string& b = ex.resp.body;
        std::memcpy(body, b.data() + (b.size() - ex.out_left), chunk);
      }
    }
    if (lws_write(c.wsi, data, total, LWS_WRITE_RAW) < static_cast<int>(total)) return -1;
    if (wbuf.size() > LWS_PRE + kKeptBufferBytes) std::vector<unsigned char>().swap(wbuf);
    ex.out_left -= chunk;
    if (ex.out_left > 0) {
      lws_callback_on_writable(c.wsi);
      return 0;
    }
    // The response is out.
    const bool keep = ex.keep_alive && !c.closing;
    c.http.reset();
    if (!keep) {
      c.close_sent = true;
      return linger(c);
    }
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kHttpIdleTimeoutS);
    resume_rx(c);
    return process_http(c);  // a pipelined request may be waiting
  }

  // An upgrade request (RFC 6455 4.2): WebSocket only on /ws, only version 13.
  int upgrade(Conn& c, const http1::RequestHead& head) {
    start_exchange(c, false);
    if (head.path != "/ws") {
      answer(c, 404, kWsOnlyOnWs, false);
      return 0;
    }
    switch (ws::check_upgrade(head)) {
      case 0:
        break;
      case 426:
        answer(c, 426, kWsVersion, false, "sec-websocket-version: 13\r\n");
        return 0;
      default:
        answer(c, 400, kBadHandshake, false);
        return 0;
    }
    if (!hub) {
      answer(c, 503, kNotReady, false);
      return 0;
    }
    if (hub->draining()) {
      answer(c, 503, kDraining, false, "retry-after: 1\r\n");
      return 0;
    }
    c.http.reset();
    c.out = ws::accept_response(head);
    c.mode = Conn::Mode::websocket;
    c.id = next_conn++;
    c.last_rx_ms = now_ms;
    conns.emplace(c.id, c.wsi);
    lws_set_timeout(c.wsi, NO_PENDING_TIMEOUT, 0);  // heartbeats() watches it from now on
    auto& m = hub->metrics();
    ++m.connections_total;
    ++m.connections_open;
    lws_callback_on_writable(c.wsi);
    hub->on_open(c.id, client_address(c, head));
    return process_ws(c);  // frames the client sent right behind its handshake
  }

  // --- WebSocket -----------------------------------------------------------------------

  // Reads every complete frame in `in`; a partial one waits for the rest.
  int process_ws(Conn& c) {
    std::size_t pos = 0;
    while (!c.closing && !c.peer_closed && pos < c.in.size()) {
      ws::FrameHead h;
      std::uint16_t code = 0;
      const std::string_view rest(c.in.data() + pos, c.in.size() - pos);
      const ws::HeadStatus st = ws::parse_frame_head(rest, limits.max_message_bytes, h, code);
      if (st == ws::HeadStatus::incomplete) break;
      if (st == ws::HeadStatus::error) {
        fail(c, static_cast<protocol::CloseCode>(code),
             code == 1009 ? "message too big" : "WebSocket protocol error");
        break;
      }
      if (rest.size() - h.head_bytes < h.length) break;  // the payload is still coming
      char* payload = c.in.data() + pos + h.head_bytes;
      const std::size_t n = static_cast<std::size_t>(h.length);
      ws::unmask(payload, n, h.mask);
      pos += h.head_bytes + n;
      c.last_rx_ms = now_ms;
      c.ping_sent_ms = 0;  // a frame answers a ping as well as its pong does
      on_frame(c, h, std::string_view(payload, n));
    }
    c.in.erase(0, pos);
    if (c.closing || c.peer_closed) c.in.clear();
    return 0;
  }

  void on_frame(Conn& c, const ws::FrameHead& h, std::string_view payload) {
    switch (h.opcode) {
      case ws::kText:
        if (hub) hub->metrics().bytes_in += payload.size();
        if (c.in_message) return fail(c, protocol::CloseCode::protocol_error, "unfinished message");
        if (!h.fin) {
          c.rx.assign(payload);
          c.in_message = true;
          return;
        }
        return deliver_message(c, payload);
      case ws::kContinuation:
        if (hub) hub->metrics().bytes_in += payload.size();
        if (!c.in_message) return fail(c, protocol::CloseCode::protocol_error, "no message to continue");
        if (c.rx.size() + payload.size() > limits.max_message_bytes)
          return fail(c, protocol::CloseCode::too_big, "message too big");
        c.rx.append(payload);
        if (!h.fin) return;
        c.in_message = false;
        deliver_message(c, c.rx);
        if (c.rx.capacity() > kKeptBufferBytes)
          std::string().swap(c.rx);
        else
          c.rx.clear();
        return;
      case ws::kBinary:
        return fail(c, protocol::CloseCode::unsupported_data, "binary frames are not accepted");
      case ws::kPing:
        c.pong.assign(payload);
        c.pong_due = true;
        lws_callback_on_writable(c.wsi);
        return;
      case ws::kPong:
        return;  // process_ws() noted it
      case ws::kClose: {
        c.peer_closed = true;
        const std::uint16_t bad = protocol::close_payload_error(payload);
        if (bad) return fail(c, static_cast<protocol::CloseCode>(bad), "malformed close frame");
        // Answer with the same code (RFC 6455 5.5.1); none when the client gave none.
        const std::uint16_t code =
            payload.size() >= 2 ? static_cast<std::uint16_t>(
                                      (static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]))
                                : 0;
        begin_close(c, code, {}, false);
        return;
      }
      default:
        return;
    }
  }

  void deliver_message(Conn& c, std::string_view text) {
    if (hub) hub->on_message(c.id, text);
  }

  // A close decided while reading (protocol error, oversize, binary): read nothing more, let
  // the replies already queued go out, then the close frame.
  void fail(Conn& c, protocol::CloseCode code, std::string_view reason) {
    pause_rx(c);
    begin_close(c, static_cast<std::uint16_t>(code), reason, true);
  }

  void begin_close(Conn& c, std::uint16_t code, std::string_view reason, bool count) {
    if (c.closing) return;
    c.closing = true;
    release_reads(c, false);
    c.close_code = code;
    c.close_reason.assign(reason.substr(0, kCloseReasonBytes));
    if (count)
      if (auto* m = metrics()) ++m->closes_by_code[code];
    // A client that stops reading must not hold the close up forever.
    lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, kCloseTimeoutS);
    lws_callback_on_writable(c.wsi);
  }

  // What is queued is dropped: the close frame goes out as soon as the client reads.
  void close_slow_consumer(Conn& c) {
    c.queue.clear();
    c.queued_bytes = 0;
    begin_close(c, static_cast<std::uint16_t>(protocol::CloseCode::slow_consumer),
                "slow consumer", true);
  }

  // Appends one server frame to the write buffer at `at`; returns the new end.
  std::size_t put_frame(std::size_t at, std::uint8_t opcode, std::string_view payload) {
    const std::size_t need = LWS_PRE + at + ws::kMaxServerHeadBytes + payload.size();
    if (wbuf.size() < need) wbuf.resize(std::max(need, wbuf.size() * 2));
    unsigned char* p = wbuf.data() + LWS_PRE + at;
    const std::size_t h = ws::write_frame_head(p, opcode, payload.size());
    if (!payload.empty()) std::memcpy(p + h, payload.data(), payload.size());
    return at + h + payload.size();
  }

  // Everything owed, in one write: the 101 answer, a pong, a ping, queued frames up to
  // kWsBatchBytes, and the close frame once the queue is empty.
  int write_ws(Conn& c) {
    std::size_t n = 0;
    if (!c.out.empty()) {
      if (wbuf.size() < LWS_PRE + c.out.size()) wbuf.resize(LWS_PRE + c.out.size());
      std::memcpy(wbuf.data() + LWS_PRE, c.out.data(), c.out.size());
      n = c.out.size();
      std::string().swap(c.out);
    }
    if (c.pong_due) {
      n = put_frame(n, ws::kPong, c.pong);
      c.pong_due = false;
      std::string().swap(c.pong);
    }
    if (c.ping_due && !c.closing) {
      // With a payload, so a pong can be told from an unsolicited one if ever needed.
      n = put_frame(n, ws::kPing,
                    std::string_view(reinterpret_cast<const char*>(kPingPayload),
                                     sizeof kPingPayload));
      c.ping_due = false;
      c.ping_sent_ms = now_ms;
    }
    std::uint64_t save_point = 0;
    std::size_t payload_bytes = 0;
    while (!c.queue.empty() && (payload_bytes == 0 || n < kWsBatchBytes)) {
      FrameQueue::Queued& q = c.queue.front();
      n = put_frame(n, ws::kText, *q.frame);
      save_point = std::max(save_point, q.save_point);
      payload_bytes += q.frame->size();
      c.queued_bytes -= q.frame->size();
      c.queue.pop_front();
    }
    if (c.closing && c.queue.empty()) {
      std::string body;
      if (c.close_code) {
        body.push_back(static_cast<char>(c.close_code >> 8));
        body.push_back(static_cast<char>(c.close_code & 0xff));
        body.append(c.close_reason);
      }
      n = put_frame(n, ws::kClose, body);
      c.close_sent = true;
    }
    // Durability: nothing leaves before the store holds what it acknowledges, that is what
    // was written before it was queued.
    if (save_point && hub) hub->flush_to(save_point);
    if (n && lws_write(c.wsi, wbuf.data() + LWS_PRE, n, LWS_WRITE_RAW) < static_cast<int>(n))
      return -1;  // the connection is gone
    if (auto* m = metrics()) m->bytes_out += payload_bytes;
    if (wbuf.size() > LWS_PRE + kKeptBufferBytes) std::vector<unsigned char>().swap(wbuf);
    if (c.close_sent) return linger(c);
    if (c.backlogged) {
      c.last_tx_ms = now_ms;
      if (c.queued_bytes <= limits.max_outbound_bytes / 4) release_reads(c, true);
    }
    if (!c.queue.empty() || c.closing || c.pong_due) lws_callback_on_writable(c.wsi);
    return 0;
  }

  void send(ConnId id, Frame frame) {
    Conn* c = find_ws(id);
    if (!c || c->closing || !frame) return;
    if (c->queued_bytes + frame->size() > limits.max_outbound_bytes) {
      close_slow_consumer(*c);
      return;
    }
    const bool was_empty = c->queue.empty();
    c->queued_bytes += frame->size();
    c->queue.push_back(FrameQueue::Queued{std::move(frame), hub ? hub->save_point() : 0});
    if (c->queued_bytes > limits.max_outbound_bytes / 2) hold_reads(*c);
    if (was_empty && !c->corked) {
      c->corked = true;
      corked.push_back(id);
    }
  }

  // Writes are corked for one turn of the loop: send() lists the connection, and this,
  // called once everything the turn read has been handled (before the loop waits again),
  // writes each listed queue at once. Against asking lws for a WRITEABLE callback per send,
  // that saves a wake-up and two epoll_ctl() per write (libuv loop), and frames sent to one
  // connection in one turn share a write. A connection whose earlier write lws still holds
  // in part is left to its WRITEABLE callback, which lws asks for once that part is out.
  void flush_corked() {
    while (!corked.empty()) {
      corked_batch.swap(corked);
      for (ConnId id : corked_batch) {
        Conn* c = find_ws(id);
        if (!c || !c->corked) continue;
        c->corked = false;
        if (c->lingering || c->close_sent || c->queue.empty()) continue;
        if (lws_partial_buffered(c->wsi)) {
          lws_callback_on_writable(c->wsi);
          continue;
        }
        // Outside a callback lws cannot close on our -1: hang up as WRITEABLE would have. A
        // store error in write_ws' flush fails this connection, as it would in a callback,
        // not the loop.
        bool failed = false;
        try {
          failed = write_ws(*c) < 0;
        } catch (const std::exception& e) {
          log_error("a connection failed", e.what());
          failed = true;
        }
        if (failed) lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      }
      corked_batch.clear();
    }
  }

  void close(ConnId id, protocol::CloseCode code, std::string_view reason) {
    Conn* c = find_ws(id);
    if (!c || c->closing) return;
    begin_close(*c, static_cast<std::uint16_t>(code), reason, true);
  }

  // Every connection between RAW_ADOPT and RAW_CLOSE, for deliver(): an answer may come
  // after its connection is gone (and lws may reuse the address for a new one).
  std::unordered_set<lws*> live_wsis;
};

namespace {

LwsTransport::Impl* impl_of(lws* wsi) {
  return static_cast<LwsTransport::Impl*>(lws_context_user(lws_get_context(wsi)));
}

// The one protocol: raw sockets, and the loop's own events (posted work). Loop thread.
int callback_raw(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
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
      case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
        // A new TCP connection, before lws makes anything of it: refused (lws closes the
        // socket) once the server is stopping. Refusing later, in RAW_ADOPT, makes lws 4.1.6
        // on libuv close that socket's descriptor twice, the second time when the context is
        // destroyed: by then the number may belong to another socket of the process.
        LwsTransport::Impl* d = impl_of(wsi);
        return d->draining || d->closing_all ? 1 : 0;
      }
      case LWS_CALLBACK_RAW_ADOPT: {
        LwsTransport::Impl* d = impl_of(wsi);
        d->live_wsis.insert(wsi);
        return d->on_adopt(wsi, user);
      }
      case LWS_CALLBACK_RAW_RX: {
        Conn* c = live_conn(user);
        if (!c) return -1;
        return impl_of(wsi)->on_rx(*c, static_cast<const char*>(in), len);
      }
      case LWS_CALLBACK_RAW_WRITEABLE: {
        Conn* c = live_conn(user);
        return c ? impl_of(wsi)->on_writeable(*c) : 0;
      }
      case LWS_CALLBACK_RAW_CLOSE: {
        LwsTransport::Impl* d = impl_of(wsi);
        d->live_wsis.erase(wsi);
        d->on_closed(user);
        if (d->closing_all && d->live_wsis.empty()) uv_stop(&d->uv_loop);
        return 0;
      }
      default:
        return 0;
    }
  } catch (const std::exception& e) {
    log_error("a connection failed", e.what());
  } catch (...) {
    log_error("a connection failed", "unknown exception");
  }
  // RAW_CLOSE must still release the connection; any other failure closes it.
  if (reason == LWS_CALLBACK_RAW_CLOSE) {
    auto* slot = static_cast<ConnSlot*>(user);
    if (slot && slot->live) {
      slot->conn()->~Conn();
      slot->live = false;
    }
    return 0;
  }
  return -1;
}

}  // namespace

LwsTransport::LwsTransport(const std::string& host, std::uint16_t port, const Limits& limits,
                           EventLoop event_loop, const TlsFiles& tls)
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
  d.protocols[0].name = "lobbykit";
  d.protocols[0].callback = callback_raw;
  d.protocols[0].per_session_data_size = sizeof(ConnSlot);
  d.protocols[0].rx_buffer_size = 16 * 1024;

  // No lws validity timers: heartbeats() pings and hangs up instead. The policy is still
  // set: without one the vhost would take the context's default, which has them.
  std::memset(&d.retry, 0, sizeof d.retry);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  if (!ipv6) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  d.tls = tls;
  if (d.tls.enabled()) info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.user = &d;
  info.gid = -1;
  info.uid = -1;
  // libuv: lws loads its event-library plugin (libwebsockets-evlib-uv) and runs on our loop.
  if (event_loop == EventLoop::libuv) {
    if (uv_loop_init(&d.uv_loop) != 0)
      throw StartError("cannot start the network service: the libuv event loop did not start");
    d.use_uv = true;
    d.uv_ready = true;
    info.options |= LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = d.foreign_loops;
    // Before every wait for I/O; unref'd, so it never keeps the loop running by itself.
    uv_prepare_init(&d.uv_loop, &d.uv_corks);
    d.uv_corks.data = &d;
    uv_prepare_start(&d.uv_corks, [](uv_prepare_t* h) {
      static_cast<LwsTransport::Impl*>(h->data)->flush_corked();
    });
    uv_unref(reinterpret_cast<uv_handle_t*>(&d.uv_corks));
    d.uv_corks_open = true;
  }
  d.context = lws_create_context(&info);
  if (!d.context) {
    d.close_uv_loop();
    throw StartError("cannot start the network service for " + shown + ":" +
                     std::to_string(port) + " (libwebsockets context creation failed" +
                     (d.use_uv ? "; is the package libwebsockets-evlib-uv installed?)" : ")"));
  }

  lws_context_creation_info vinfo;
  std::memset(&vinfo, 0, sizeof vinfo);
  vinfo.vhost_name = "lobbykit";
  vinfo.port = port;
  vinfo.iface = d.iface.empty() ? nullptr : d.iface.c_str();
  vinfo.protocols = d.protocols;
  vinfo.retry_and_idle_policy = &d.retry;
  vinfo.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_ONLY_RAW;
  if (!ipv6) vinfo.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  vinfo.user = &d;
  if (d.tls.enabled()) {
    // lws adopts every accepted socket with TLS on such a vhost; RAW_RX then carries the
    // decrypted bytes and lws_write(LWS_WRITE_RAW) encrypts. TLS 1.2 and 1.3 only.
    vinfo.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;  // read per vhost too
    vinfo.ssl_cert_filepath = d.tls.cert_path.c_str();
    vinfo.ssl_private_key_filepath = d.tls.key_path.c_str();
    vinfo.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                            SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION |
                            SSL_OP_CIPHER_SERVER_PREFERENCE;
    vinfo.ssl_cipher_list = kTls12Ciphers;
  }
  d.vhost = lws_create_vhost(d.context, &vinfo);
  if (!d.vhost) {
    d.destroy_lws(d.context);
    d.context = nullptr;
    d.close_uv_loop();
    throw StartError("cannot listen on " + shown + ":" + std::to_string(port) +
                     (d.tls.enabled() ? ": the port is in use, the address is not local, or "
                                        "TLS could not be set up"
                                      : ": the port is in use or the address is not local"));
  }
  int bound = lws_get_vhost_listen_port(d.vhost);
  d.port = static_cast<std::uint16_t>(bound > 0 ? bound : port);

  d.tick.self = &d;
  lws_sul_schedule(d.context, 0, &d.tick.sul, Impl::on_tick, kTickUs);
}

LwsTransport::~LwsTransport() { impl_->destroy_context(); }

std::uint16_t LwsTransport::port() const { return impl_->port; }

bool LwsTransport::tls() const { return impl_->tls.enabled(); }

bool LwsTransport::reload_tls() {
  Impl& d = *impl_;
  if (!d.tls.enabled() || !d.context) return false;
  // Reloads every vhost whose files are these: the new pair goes into the vhost's SSL_CTX,
  // which the next accepted connection's SSL object is made from.
  lws_tls_cert_updated(d.context, d.tls.cert_path.c_str(), d.tls.key_path.c_str(), nullptr, 0,
                       nullptr, 0);
  return true;
}

void LwsTransport::set_trusted_proxies(ProxyList proxies) {
  impl_->proxies = std::move(proxies);
}

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
  if (d.use_uv) {
    // Ends at uv_stop(), which drain_posts() and the tick call once should_stop() holds.
    if (!d.should_stop()) uv_run(&d.uv_loop, UV_RUN_DEFAULT);
    d.flush_corked();
  } else {
    while (!d.should_stop()) {
      if (lws_service(d.context, 0) < 0) break;
      d.flush_corked();
    }
  }
  if (d.use_uv) {
    // finish_uv() closed every socket (the hub heard on_close for each) unless its deadline
    // passed first. A closed socket is freed by its libuv close callback, which runs in the
    // loop's next iteration: the context must not be destroyed before (lws would close it
    // twice).
    if (!d.live_wsis.empty())
      log_error("stopping", (std::to_string(d.live_wsis.size()) +
                             " connections did not close in time").c_str());
    for (int i = 0; i < kCloseIterations; ++i) uv_run(&d.uv_loop, UV_RUN_NOWAIT);
  } else {
    // What is still open is closed now, so the hub hears on_close for every connection.
    std::vector<lws*> left;
    left.reserve(d.conns.size());
    for (auto& [id, wsi] : d.conns) left.push_back(wsi);
    for (lws* wsi : left) lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  }
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
