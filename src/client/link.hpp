// The seams between the client's protocol state machine (ClientCore) and what carries its
// frames: a Link is one connection at a time to a server; a Loop is the client's thread of
// control with its Link (over libwebsockets in transport/lws_client, or in-process in
// client/in_process_link). Tests implement Link in memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace lobbykit::client {

// Monotonic milliseconds: the client's clock for timeouts and backoff.
using SteadyMs = std::int64_t;

inline SteadyMs steady_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Close code a Link reports when the connection ended without a close frame (WebSocket's
// "abnormal closure": refused, reset, timed out, or never opened).
constexpr std::uint16_t kCloseAbnormal = 1006;
// Close code a Link reports when the server's TLS certificate was refused (WebSocket's "TLS
// handshake" code; never sent on the wire). The reason says why.
constexpr std::uint16_t kCloseTlsRefused = 1015;

// One connection at a time. Loop thread only. No call reports back synchronously: what a
// call causes (a failed open, say) is reported later, from the loop.
class Link {
 public:
  virtual ~Link() = default;
  // Starts a connection. LinkListener::on_open or on_closed follows. Only when there is no
  // current connection (none yet, or close() was called, or on_closed was reported).
  virtual void open() = 0;
  // One text frame on the open connection.
  virtual void send(std::string text) = 0;
  // Closes the current connection with code (frames already given to send() go first,
  // best effort). Nothing more is reported about that connection.
  virtual void close(std::uint16_t code, std::string_view reason) = 0;
  // Later connections go to url (a draining server's hint), when it is a ws:// or wss:// URL
  // of the same scheme as the current one; false (and nothing changes) otherwise, or when
  // this link has no URL (in-process). Only between connections.
  virtual bool retarget(const std::string& url) {
    (void)url;
    return false;
  }
};

// What a Loop reports, on the loop thread, about the current connection and its timer.
class LinkListener {
 public:
  virtual ~LinkListener() = default;
  virtual void on_open() = 0;
  virtual void on_text(std::string_view text) = 0;  // one complete message
  // The connection ended: the server's close code, or kCloseAbnormal.
  virtual void on_closed(std::uint16_t code, std::string_view reason) = 0;
  virtual void on_wakeup() = 0;  // the time given to Loop::wake_at has come
};

class Loop : public Link {
 public:
  // Serves on the calling thread until request_stop() and the closing connection is gone
  // (or a short grace has passed). Before returning it runs every task posted so far; posts
  // after that are refused. Runs once.
  virtual void run(LinkListener& listener) = 0;
  // Any thread: runs fn on the loop thread soon, in posting order (a task posted before
  // run() waits for it). False once the loop has ended: fn was not taken.
  virtual bool post(std::function<void()> fn) = 0;
  // Loop thread: ends run() once the connection being closed is gone, or after a grace.
  virtual void request_stop() = 0;
  // Loop thread: calls on_wakeup at (or soon after) `at`; nullopt cancels.
  virtual void wake_at(std::optional<SteadyMs> at) = 0;
};

}  // namespace lobbykit::client
