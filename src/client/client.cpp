// The public Client: a ClientCore on a loop (libwebsockets, or in-process) through a
// CoreHost, which also keeps the loop thread's life (start / run / stop), and the doors
// other threads come in by.
#include <lobbykit/client.hpp>
#include <lobbykit/server.hpp>

#include "client/client_core.hpp"
#include "client/core_host.hpp"
#include "client/in_process_link.hpp"
#include "client/loop_host.hpp"
#include "client/ws_url.hpp"
#include "protocol/json.hpp"
#include "server_access.hpp"
#include "transport/lws_client.hpp"

#include <future>
#include <memory>
#include <stdexcept>
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

struct Client::Impl final : client::CoreHost<client::ClientCore, ClientEvent> {
  Impl(ClientOptions options, std::unique_ptr<client::Loop> loop)
      : CoreHost(std::move(options), std::move(loop), "client") {}
};

Client::Client(ClientOptions options) {
  std::optional<client::WsUrl> url = client::parse_ws_url(options.url);
  if (!url)
    throw std::invalid_argument("lobbykit::Client: not a ws:// or wss:// URL: " + options.url);
  auto loop = std::make_unique<transport::LwsClientLoop>(std::move(*url), options.tls_ca_path);
  impl_ = std::make_unique<Impl>(std::move(options), std::move(loop));
}

Client::Client(Server& server, ClientOptions options)
    : impl_(std::make_unique<Impl>(
          std::move(options),
          std::make_unique<client::InProcessLoop>(detail::ServerAccess::in_process(server)))) {}

Client::~Client() { client::LoopHost::dispose(std::unique_ptr<client::LoopHost>(impl_.release())); }

void Client::run() {
  Impl* d = impl_.get();
  d->run();  // may free *d (destroyed from a handler); `this` may be gone too
}

std::future<Reply> Client::start() {
  std::future<Reply> outcome = ready();
  impl_->start();
  return outcome;
}

void Client::ready(ReplyCallback cb) {
  Impl& d = *impl_;
  d.on_loop<void>([&d, cb = std::move(cb)]() mutable { d.core().when_ready(std::move(cb)); });
}

std::future<Reply> Client::ready() {
  auto promise = std::make_shared<std::promise<Reply>>();
  std::future<Reply> result = promise->get_future();
  ready([promise](const Reply& r) { promise->set_value(r); });
  return result;
}

void Client::stop() {
  impl_->stop();
  // A client that never ran has a core that never started: stop it too, which settles
  // ready() with "stopped" (after a loop ran, the core is stopped already: nothing to do).
  Impl& d = *impl_;
  d.on_loop<void>([&d] { d.core().stop(Impl::now()); });
}

void Client::reconnect() {
  Impl& d = *impl_;
  d.call_soon([impl = &d] {
    impl->core().reconnect(Impl::now());
    impl->rearm();
  });  // not taken when no loop runs: nothing to do then
}

ConnectionState Client::state() const { return impl_->state(); }

ClientSnapshot Client::snapshot() const {
  Impl& d = *impl_;
  return d.on_loop<ClientSnapshot>([&d] { return d.core().snapshot(); });
}

std::uint64_t Client::subscribe(std::function<void(const ClientEvent&)> handler) {
  return impl_->subscribe(std::move(handler));
}

void Client::unsubscribe(std::uint64_t id) { impl_->unsubscribe(id); }

void Client::request(const std::string& type, const std::string& data_json, ReplyCallback cb) {
  Impl& d = *impl_;
  switch (d.call_soon([impl = &d, type, data_json, cb] {
    impl->core().request(type, data_json, cb, Impl::now());
    impl->rearm();
  })) {
    case client::LoopHost::Call::here:
    case client::LoopHost::Call::posted:
      return;
    case client::LoopHost::Call::idle:
      // The wish it states still counts (watch_lobbies: subscribe once connected).
      d.on_loop<void>([&d, &type, &data_json] { d.core().remember_wish(type, data_json); });
      fail_now(cb, "not_connected", "The client is not started.");
      return;
    case client::LoopHost::Call::stopped:
      fail_now(cb, "stopped", "The client was stopped.");
      return;
  }
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
std::future<Reply> Client::watch_lobbies(bool watch) {
  return request("watch_lobbies", watch ? R"({"watch":true})" : R"({"watch":false})");
}

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

std::future<Reply> Client::send_app_message(const std::string& name,
                                            const std::string& payload_json, const PeerId& to) {
  JsonBuilder b;
  b.begin_object().str("name", name);
  if (!to.empty()) b.str("to", to);
  b.raw("payload", payload_json.empty() ? std::string_view("null") : std::string_view(payload_json));
  b.end_object();
  return request("app_message", b.take());  // a payload that is not JSON: bad_json
}

std::future<Reply> Client::set_metadata(const std::string& target,
                                        const std::string& metadata_json) {
  JsonBuilder b;
  b.begin_object().str("target", target)
      .raw("metadata", metadata_json.empty() ? std::string_view("{}") : std::string_view(metadata_json))
      .end_object();
  return request("set_metadata", b.take());
}

std::future<Reply> Client::update_media(std::optional<bool> has_media,
                                        std::optional<bool> audio_muted,
                                        std::optional<bool> video_muted,
                                        std::optional<bool> screen_sharing) {
  JsonBuilder b;
  b.begin_object();
  if (has_media) b.boolean("has_media", *has_media);
  if (audio_muted) b.boolean("audio_muted", *audio_muted);
  if (video_muted) b.boolean("video_muted", *video_muted);
  if (screen_sharing) b.boolean("screen_sharing", *screen_sharing);
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
