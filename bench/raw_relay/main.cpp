// lobbykit-raw-relay: the transport ceiling for the relay benchmark. A libwebsockets server
// with no JSON and no logic: the server numbers connections in order and tells each its
// number in its first frame ("id N"); every later text frame a client sends begins with a
// destination number and a space ("17 ...") and is forwarded to that connection verbatim.
//
// Minimal but correct, and configured like lobbykit-server (src/transport/lws_server.cpp) so
// the comparison is fair: one lws context, one service thread, the same protocol list shape
// (http first, then the WebSocket protocol marked default), rx_buffer_size 16 KiB, no lws
// validity (ping) timers, max_http_header_data 4096; messages reassembled up to 64 KiB (close
// 1009 beyond), writes only from WRITEABLE, one lws_write per callback, a queue per
// connection capped at 1 MiB (close 4003 beyond). Frames are copied once, into a buffer with
// LWS_PRE headroom, and written from it.
//
// Usage: lobbykit-raw-relay [--host 127.0.0.1] [--port N]; prints "listening on port N".
#include <libwebsockets.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::size_t kMaxMessageBytes = 64 * 1024;    // lobbykit's default max_message_bytes
constexpr std::size_t kMaxOutboundBytes = 1024 * 1024;  // lobbykit's default max_outbound_bytes

using Buffer = std::vector<unsigned char>;  // LWS_PRE headroom + payload

struct Conn {
  std::uint32_t id = 0;
  lws* wsi = nullptr;
  std::string rx;
  std::deque<Buffer> queue;
  std::size_t queued_bytes = 0;
  bool closing = false;
  std::uint16_t close_code = 0;
};

struct Slot {
  bool live;
  alignas(Conn) unsigned char storage[sizeof(Conn)];
  Conn* conn() { return std::launder(reinterpret_cast<Conn*>(storage)); }
};

std::unordered_map<std::uint32_t, Conn*> g_conns;
std::uint32_t g_next_id = 1;
volatile std::sig_atomic_t g_stop = 0;

void queue_frame(Conn& c, const char* data, std::size_t len) {
  if (c.closing) return;
  if (c.queued_bytes + len > kMaxOutboundBytes) {
    c.queue.clear();
    c.queued_bytes = 0;
    c.closing = true;
    c.close_code = 4003;
    lws_callback_on_writable(c.wsi);
    return;
  }
  Buffer b(LWS_PRE + len);
  std::memcpy(b.data() + LWS_PRE, data, len);
  const bool was_empty = c.queue.empty();
  c.queue.push_back(std::move(b));
  c.queued_bytes += len;
  if (was_empty) lws_callback_on_writable(c.wsi);
}

void route(const std::string& msg) {
  std::uint32_t dst = 0;
  std::size_t i = 0;
  while (i < msg.size() && msg[i] >= '0' && msg[i] <= '9' && i < 10)
    dst = dst * 10 + static_cast<std::uint32_t>(msg[i++] - '0');
  if (i == 0 || i >= msg.size() || msg[i] != ' ') return;  // not addressed: dropped
  auto it = g_conns.find(dst);
  if (it == g_conns.end()) return;
  queue_frame(*it->second, msg.data(), msg.size());
}

int callback_relay(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                   std::size_t len) {
  auto* slot = static_cast<Slot*>(user);
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
      Conn* c = new (slot->storage) Conn();
      slot->live = true;
      c->id = g_next_id++;
      c->wsi = wsi;
      g_conns.emplace(c->id, c);
      const std::string hello = "id " + std::to_string(c->id);
      queue_frame(*c, hello.data(), hello.size());
      return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
      if (!slot || !slot->live) return -1;
      Conn* c = slot->conn();
      if (c->closing) return 0;
      if (lws_frame_is_binary(wsi)) {
        c->closing = true;
        c->close_code = 1003;
        lws_callback_on_writable(wsi);
        return 0;
      }
      const std::size_t remaining = lws_remaining_packet_payload(wsi);
      if (c->rx.size() + len + remaining > kMaxMessageBytes) {
        c->closing = true;
        c->close_code = 1009;
        lws_callback_on_writable(wsi);
        return 0;
      }
      c->rx.append(static_cast<const char*>(in), len);
      if (!lws_is_final_fragment(wsi) || remaining != 0) return 0;
      route(c->rx);
      c->rx.clear();
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      if (!slot || !slot->live) return 0;
      Conn* c = slot->conn();
      if (c->queue.empty()) {
        if (!c->closing) return 0;
        lws_close_reason(wsi, static_cast<lws_close_status>(c->close_code), nullptr, 0);
        return -1;
      }
      Buffer& b = c->queue.front();
      const std::size_t n = b.size() - LWS_PRE;
      if (lws_write(wsi, b.data() + LWS_PRE, n, LWS_WRITE_TEXT) < static_cast<int>(n))
        return -1;
      c->queued_bytes -= n;
      c->queue.pop_front();
      if (!c->queue.empty() || c->closing) lws_callback_on_writable(wsi);
      return 0;
    }
    case LWS_CALLBACK_CLOSED:
      if (slot && slot->live) {
        g_conns.erase(slot->conn()->id);
        slot->conn()->~Conn();
        slot->live = false;
      }
      return 0;
    default:
      return 0;
  }
}

void on_signal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--host" && i + 1 < argc) host = argv[++i];
    else if (a == "--port" && i + 1 < argc) port = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: lobbykit-raw-relay [--host ADDR] [--port N]\n");
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  lws_set_log_level(LLL_ERR | LLL_WARN, nullptr);

  lws_protocols protocols[3];
  std::memset(protocols, 0, sizeof protocols);
  protocols[0].name = "http";
  protocols[0].callback = lws_callback_http_dummy;
  protocols[1].name = "relay";
  protocols[1].callback = callback_relay;
  protocols[1].per_session_data_size = sizeof(Slot);
  protocols[1].rx_buffer_size = 16 * 1024;

  lws_protocol_vhost_options pvo_default, pvo;
  std::memset(&pvo_default, 0, sizeof pvo_default);
  pvo_default.name = "default";
  pvo_default.value = "1";
  std::memset(&pvo, 0, sizeof pvo);
  pvo.options = &pvo_default;
  pvo.name = "relay";
  pvo.value = "";

  // No lws validity timers, as lobbykit-server (which pings from its own once-a-second
  // sweep instead; this relay lives for one benchmark run and does not ping at all).
  lws_retry_bo_t retry;
  std::memset(&retry, 0, sizeof retry);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
  info.max_http_header_data = 4096;
  info.server_string = "raw-relay";
  info.gid = -1;
  info.uid = -1;
  lws_context* ctx = lws_create_context(&info);
  if (!ctx) return 1;

  lws_context_creation_info vinfo;
  std::memset(&vinfo, 0, sizeof vinfo);
  vinfo.vhost_name = "raw-relay";
  vinfo.port = port;
  vinfo.iface = host.c_str();
  vinfo.protocols = protocols;
  vinfo.pvo = &pvo;
  vinfo.retry_and_idle_policy = &retry;
  vinfo.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_DISABLE_IPV6;
  lws_vhost* vh = lws_create_vhost(ctx, &vinfo);
  if (!vh) {
    std::fprintf(stderr, "lobbykit-raw-relay: cannot listen on %s:%d\n", host.c_str(), port);
    lws_context_destroy(ctx);
    return 1;
  }
  std::printf("lobbykit-raw-relay listening on port %d\n", lws_get_vhost_listen_port(vh));
  std::fflush(stdout);
  while (!g_stop)
    if (lws_service(ctx, 0) < 0) break;
  lws_context_destroy(ctx);
  return 0;
}
