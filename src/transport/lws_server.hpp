// LwsTransport: the server's sockets. One libwebsockets context serves WebSocket clients on
// /ws and the HTTP API (and static files) on one port, on one loop thread. It implements the
// router's Outbox and feeds the Hub and the HttpRouter.
//
// This header does not include libwebsockets.h: only src/transport/ may.
#pragma once

#include <lobbykit/options.hpp>

#include "router/outbox.hpp"
#include "transport/forwarded.hpp"
#include "transport/tls_files.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace lobbykit::router {
class Hub;
class HttpRouter;
}  // namespace lobbykit::router

namespace lobbykit::transport {

class LwsTransport final : public router::Outbox {
 public:
  // Creates the lws context on the chosen event loop and binds host:port (port 0: the kernel
  // picks one). Throws lobbykit::StartError when it cannot. Any thread; the loop has not
  // started yet.
  // With tls enabled every connection is TLS (https and wss on the one port); the files
  // must have passed check_tls_files().
  LwsTransport(const std::string& host, std::uint16_t port, const Limits& limits,
               EventLoop event_loop = EventLoop::libuv, const TlsFiles& tls = {});
  // Destroys the context if run_until_stopped() did not. Not while the loop runs.
  ~LwsTransport() override;
  LwsTransport(const LwsTransport&) = delete;
  LwsTransport& operator=(const LwsTransport&) = delete;

  // The bound port. Any thread.
  std::uint16_t port() const;

  // Connections from these proxies are known by their X-Forwarded-For address
  // (transport/forwarded.hpp). Before the loop runs.
  void set_trusted_proxies(ProxyList proxies);
  // Where connection events and HTTP requests go. Before the loop runs.
  void attach(router::Hub& hub, router::HttpRouter& http);
  // Forgets the hub and router, so they can be destroyed first. Not while the loop runs.
  void detach();

  // Services the loop on the calling thread until request_stop(), or until
  // stop_when_drained() sees every WebSocket closed. On the way out it closes what is
  // left (the hub hears on_close for each), flushes the hub's store and destroys the
  // context: a transport runs once.
  void run_until_stopped();
  // Any thread: ends run_until_stopped() at its next wake-up, connections as they are.
  void request_stop();
  // Loop thread: ends the loop once no WebSocket connection is open, or after grace_ms.
  void stop_when_drained(std::uint32_t grace_ms);
  // Loop thread (or before the loop runs): new connections get the certificate and key in
  // the configured files from now on, which must have passed check_tls_files(); open ones
  // keep theirs. False when TLS is off.
  bool reload_tls();
  bool tls() const;
  // Any thread: runs fn on the loop thread soon, in posting order. Before the loop starts,
  // fn waits for it; once the loop has ended fn is dropped and post returns false.
  bool post(std::function<void()> fn);

  // router::Outbox. Loop thread only.
  void send(router::ConnId conn, router::Frame frame) override;
  void close(router::ConnId conn, protocol::CloseCode code, std::string_view reason) override;

  struct Impl;  // lws state; defined in lws_server.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit::transport
