// LwsClientLoop: a Client's loop and WebSocket link over its own libwebsockets client
// context (no listening socket). One connection at a time to one URL, ws:// or wss://
// (OpenSSL); pings from lws keep idle connections honest.
//
// This header does not include libwebsockets.h: only src/transport/ may.
#pragma once

#include "client/link.hpp"
#include "client/ws_url.hpp"

#include <cstddef>
#include <memory>

namespace lobbykit::transport {

// Largest message a client accepts from its server (a welcome carries up to 500 chat
// messages of up to 4 KiB); above it the client closes with 1009.
constexpr std::size_t kMaxServerMessageBytes = 16 * 1024 * 1024;
// Bytes queued for one connection before the client gives the connection up.
constexpr std::size_t kMaxClientQueuedBytes = 4 * 1024 * 1024;

class LwsClientLoop final : public client::Loop {
 public:
  // Creates the lws context. Throws std::runtime_error when lws cannot start. Any thread.
  // ca_path: a PEM file of CAs to verify a wss:// server against instead of the system's.
  explicit LwsClientLoop(client::WsUrl url, std::string ca_path = {});
  // Destroys the context if run() did not. Not while run() runs.
  ~LwsClientLoop() override;
  LwsClientLoop(const LwsClientLoop&) = delete;
  LwsClientLoop& operator=(const LwsClientLoop&) = delete;

  void run(client::LinkListener& listener) override;
  bool post(std::function<void()> fn) override;
  void request_stop() override;
  void wake_at(std::optional<client::SteadyMs> at) override;

  void open() override;
  void send(std::string text) override;
  void close(std::uint16_t code, std::string_view reason) override;
  bool retarget(const std::string& url) override;

  struct Impl;  // lws state; defined in lws_client.cpp

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit::transport
