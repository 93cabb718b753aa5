// lobbykit-inproc-cost: the in-process cost of one message through the Hub, for callgrind.
//
// A real Hub (memory store, ManualClock, ManualWorker) on a minimal in-memory Outbox that
// queues frames per connection the way the transport does (one shared_ptr reference per
// recipient) and then "writes" them: Hub::flush() before every frame, as
// LwsServer::on_ws_writeable does, after which the frame is dropped. Sessions and lobbies are
// set up through the protocol (auth, set_name, create_lobby, join_lobby). Only the measured
// section is instrumented and collected: run under valgrind --tool=callgrind
// --instr-atstart=no --collect-atstart=no; the section is bracketed by
// CALLGRIND_START_INSTRUMENTATION + CALLGRIND_ZERO_STATS + CALLGRIND_TOGGLE_COLLECT ...
// CALLGRIND_TOGGLE_COLLECT + CALLGRIND_DUMP_STATS_AT, so it is dump part 1 (FILE.1).
// Per message it covers: rate bucket, UTF-8 check, envelope parse, route, decode/validate,
// serialize, event publish, queue to every recipient, the result reply, flush and dequeue.
//
// usage: lobbykit-inproc-cost CASE [COUNT]
//   relay-sdp200 | relay-sdp4k | relay-candidate   COUNT relays between two media members
//   chat-10 | chat-100 | chat-1000                 COUNT chat broadcasts into a lobby of n
// It prints one line of key=value facts (messages, frames, bytes) that run.sh checks.
#include "core/clock.hpp"
#include "core/worker.hpp"
#include "router/address.hpp"
#include "router/hub.hpp"
#include "store/store.hpp"

#include <lobbykit/options.hpp>

#include <valgrind/callgrind.h>

#include <alloca.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace lobbykit;
using router::ConnId;
using router::Frame;

#ifndef INPROC_COST_SYSTEM_RANDOM
// Deterministic peer ids, tokens and lobby ids. They key the Hub's hash maps, so random ones
// change bucket collisions, and with them the instruction count, from run to run. This
// definition takes the place of libcrypto's for the whole program (nothing else here needs
// real randomness: no passwords are set). Build with -DINPROC_COST_SYSTEM_RANDOM to compare.
extern "C" int RAND_bytes(unsigned char* buf, int num) {
  static std::uint64_t state = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < num; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    buf[i] = static_cast<unsigned char>(state >> 24);
  }
  return 1;
}
#endif

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "lobbykit-inproc-cost: %s\n", what.c_str());
  std::exit(2);
}

// The transport, reduced to its queues: per connection a deque of frames (one reference per
// recipient), a byte count, and a list of connections that asked for a write.
class QueueOutbox final : public router::Outbox {
 public:
  explicit QueueOutbox(std::size_t max_conns) : conns_(max_conns + 1) {}

  // noinline (also write_all): the harness's own share stays a separate entry in the profile.
  __attribute__((noinline)) void send(ConnId id, Frame frame) override {
    if (id >= conns_.size() || !frame) return;
    Conn& c = conns_[id];
    if (c.closed) return;
    const bool was_empty = c.queue.empty();
    c.queued_bytes += frame->size();
    c.queue.push_back(std::move(frame));
    if (was_empty) writable_.push_back(id);  // lws_callback_on_writable
  }
  void close(ConnId id, protocol::CloseCode, std::string_view reason) override {
    if (id < conns_.size()) conns_[id].closed = true;
    die("the hub closed connection " + std::to_string(id) + ": " + std::string(reason));
  }

  // The write phase of one loop iteration: the store is flushed before every frame leaves
  // (the durability rule), then the frame is written (here: counted and released).
  __attribute__((noinline)) void write_all(router::Hub& hub) {
    for (ConnId id : writable_) {
      Conn& c = conns_[id];
      while (!c.queue.empty()) {
        hub.flush();
        const std::size_t n = c.queue.front()->size();
        bytes_out += n;
        ++frames_out;
        c.queued_bytes -= n;
        c.queue.pop_front();
      }
    }
    writable_.clear();
  }

  const std::deque<Frame>& pending(ConnId id) const { return conns_.at(id).queue; }

  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0;

 private:
  struct Conn {
    std::deque<Frame> queue;
    std::size_t queued_bytes = 0;
    bool closed = false;
  };
  std::vector<Conn> conns_;
  std::vector<ConnId> writable_;
};

// A string field of a frame, e.g. field(f, "peer_id"): the first "peer_id":"..." in it.
std::string field(const std::string& frame, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  std::size_t at = frame.find(needle);
  if (at == std::string::npos) die("no " + key + " in " + frame);
  at += needle.size();
  return frame.substr(at, frame.find('"', at) - at);
}

// JSON string literal of plain text (quotes, backslash, CR, LF; nothing else occurs here).
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out + "\"";
}

// A plausible SDP of exactly `bytes` bytes (CRLF line ends, as browsers send them): whole
// lines of an offer, repeated codec lines as needed, the last line cut to fit.
std::string make_sdp(std::size_t bytes) {
  std::string sdp =
      "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n"
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
      "a=ice-ufrag:EsWm\r\na=ice-pwd:3RzHbmXo0Vh9k8kEqUn3gSTw\r\na=ice-options:trickle\r\n"
      "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:"
      "5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\na=setup:actpass\r\na=mid:0\r\n";
  for (int pt = 96; sdp.size() < bytes; ++pt)
    sdp += "a=rtpmap:" + std::to_string(pt) + " VP8/90000\r\na=rtcp-fb:" +
           std::to_string(pt) + " nack pli\r\n";
  sdp.resize(bytes);
  return sdp;
}

constexpr std::size_t kChatTextBytes = 100;
constexpr TimeMs kStepMs = 10;  // clock step per message: 100/s, the default rate limit

struct Bench {
  Limits limits;
  core::ManualClock clock;
  core::ManualWorker worker;
  std::unique_ptr<store::Store> store = store::make_memory_store();
  QueueOutbox out;
  std::unique_ptr<router::Hub> hub;
  ConnId next_conn = 1;
  int next_id = 1;

  Bench(const Limits& l, std::size_t max_conns) : limits(l), out(max_conns) {
    hub = std::make_unique<router::Hub>(limits, clock, *store, out, worker);
  }

  std::string wire(const std::string& type, int id, const std::string& data) const {
    return "{\"type\":\"" + type + "\",\"id\":" + std::to_string(id) + ",\"data\":" + data + "}";
  }

  // One request during setup: sent, its reply found and checked, every queue written out.
  std::string request(ConnId conn, const std::string& type, const std::string& data) {
    const int id = next_id++;
    hub->on_message(conn, wire(type, id, data));
    const std::string tag = ",\"id\":" + std::to_string(id) + ",";
    std::string reply;
    for (const Frame& f : out.pending(conn))
      if (f->find(tag) != std::string::npos) reply = *f;
    out.write_all(*hub);
    if (reply.empty()) die(type + " got no reply");
    if (reply.rfind("{\"type\":\"error\"", 0) == 0) die(type + " failed: " + reply);
    return reply;
  }

  // A connected, authenticated, named session.
  std::pair<ConnId, PeerId> user(const std::string& name) {
    const ConnId conn = next_conn++;
    hub->on_open(conn, router::kInProcessAddress);  // as an in-process client: no per-address caps
    const std::string welcome = request(conn, "auth", "{}");
    request(conn, "set_name", "{\"name\":\"" + name + "\"}");
    return {conn, field(welcome, "peer_id")};
  }

  // Runs the measured section: each message is one loop iteration (clock step, message,
  // write phase with flushes). Only this is collected.
  void measure(const std::vector<std::pair<ConnId, std::string>>& msgs) {
    const std::uint64_t frames0 = out.frames_out, bytes0 = out.bytes_out;
    // Instrumentation starts here (run with --instr-atstart=no): callgrind keeps counting
    // calls while collection is off and CALLGRIND_ZERO_STATS does not reset call counts, so
    // only this keeps setup and warm-up out of the call counts (heap allocations per
    // message). It also makes the setup run several times faster.
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
    for (const auto& [conn, text] : msgs) {
      clock.advance(kStepMs);
      hub->on_message(conn, text);
      out.write_all(*hub);
    }
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT("measured");
    CALLGRIND_STOP_INSTRUMENTATION;
    frames = out.frames_out - frames0;
    bytes = out.bytes_out - bytes0;
  }

  // Replays messages outside the measured section (warm-up: map nodes, history, buffers).
  void replay(const std::vector<std::pair<ConnId, std::string>>& msgs) {
    for (const auto& [conn, text] : msgs) {
      clock.advance(kStepMs);
      hub->on_message(conn, text);
      out.write_all(*hub);
    }
  }

  std::uint64_t frames = 0, bytes = 0;
};

// Fails unless the hub answered every measured message without an error.
void check_no_errors(router::Hub& hub) {
  for (const auto& [code, n] : hub.metrics().errors)
    if (n) die("the hub sent " + std::to_string(n) + " error(s) " + code);
  for (const auto& [type, n] : hub.metrics().messages_in)
    if (type == "rate_limited" || type == "invalid" || type == "unknown")
      die(std::to_string(n) + " message(s) " + type);
}

int run_relay(const std::string& kind, int count) {
  Limits l;
  Bench b(l, 2);
  const auto alice = b.user("alice");
  const auto bob = b.user("bob");
  const ConnId ca = alice.first, cb = bob.first;
  const PeerId pa = alice.second, pb = bob.second;
  const std::string lobby = field(b.request(ca, "create_lobby", "{\"name\":\"pair\"}"), "id");
  for (ConnId c : {ca, cb})
    b.request(c, "join_lobby", "{\"lobby_id\":\"" + lobby + "\",\"has_media\":true}");

  std::string payload;  // the data object minus "to"
  std::size_t payload_bytes = 0;
  if (kind == "candidate") {
    const std::string cand =
        "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr "
        "192.168.1.5 rport 46154 generation 0 ufrag EsWm network-cost 999";
    payload = ",\"candidate\":{\"candidate\":" + json_string(cand) +
              ",\"sdpMid\":\"0\",\"sdpMLineIndex\":0,\"usernameFragment\":\"EsWm\"}";
    payload_bytes = cand.size();
  } else {
    const std::string sdp = make_sdp(kind == "sdp4k" ? 4096 : 200);
    payload = ",\"description\":{\"type\":\"offer\",\"sdp\":" + json_string(sdp) + "}";
    payload_bytes = sdp.size();
  }
  const std::string type = kind == "candidate" ? "relay_candidate" : "relay_description";
  // Alternating directions, as an offer/answer and both sides' candidates would.
  auto make = [&](int n) {
    std::vector<std::pair<ConnId, std::string>> msgs;
    for (int i = 0; i < n; ++i) {
      const bool ab = i % 2 == 0;
      const std::string data = "{\"to\":\"" + (ab ? pb : pa) + "\"" + payload + "}";
      msgs.emplace_back(ab ? ca : cb, b.wire(type, b.next_id++, data));
    }
    return msgs;
  };
  b.replay(make(100));
  const auto msgs = make(count);
  b.measure(msgs);
  check_no_errors(*b.hub);
  std::printf("case=relay-%s messages=%d payload_bytes=%zu inbound_bytes=%zu frames=%llu "
              "frames_per_message=%.2f bytes_out=%llu\n",
              kind.c_str(), count, payload_bytes, msgs.front().second.size(),
              static_cast<unsigned long long>(b.frames), double(b.frames) / count,
              static_cast<unsigned long long>(b.bytes));
  return 0;
}

int run_chat(int members, int count) {
  Limits l;
  // The default (and upper bound) of a lobby's max_participants is 64: raised so that the
  // lobby of 1,000 can exist. Nothing else changes.
  if (static_cast<std::uint32_t>(members) > l.max_participants)
    l.max_participants = static_cast<std::uint32_t>(members);
  Bench b(l, static_cast<std::size_t>(members));
  std::vector<ConnId> conns;
  for (int i = 0; i < members; ++i) conns.push_back(b.user("user" + std::to_string(i)).first);
  const std::string lobby =
      field(b.request(conns[0], "create_lobby",
                      "{\"name\":\"room\",\"max_participants\":" + std::to_string(members) + "}"),
            "id");
  // Broadcast members join without media: a mesh of 1,000 is not what a chat costs.
  for (ConnId c : conns)
    b.request(c, "join_lobby", "{\"lobby_id\":\"" + lobby + "\",\"has_media\":false}");

  auto make = [&](int n, int first) {
    std::vector<std::pair<ConnId, std::string>> msgs;
    for (int i = 0; i < n; ++i) {
      std::string text = "message " + std::to_string(first + i) + " ";
      while (text.size() < kChatTextBytes) text += "lorem ipsum ";
      text.resize(kChatTextBytes);
      msgs.emplace_back(conns[0], b.wire("chat", b.next_id++, "{\"text\":\"" + text + "\"}"));
    }
    return msgs;
  };
  // Warm-up fills the lobby's history to Limits::chat_history, so every measured message
  // also trims the oldest one (steady state).
  const int warm = static_cast<int>(l.chat_history);
  b.replay(make(warm, 0));
  b.measure(make(count, warm));
  check_no_errors(*b.hub);
  std::printf("case=chat-%d messages=%d recipients=%d text_bytes=%zu frames=%llu "
              "frames_per_message=%.2f bytes_out=%llu\n",
              members, count, members, kChatTextBytes, static_cast<unsigned long long>(b.frames),
              double(b.frames) / count, static_cast<unsigned long long>(b.bytes));
  return 0;
}

}  // namespace

__attribute__((noinline)) int run(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr,
                 "usage: %s CASE [COUNT]\n"
                 "  CASE: relay-sdp200 relay-sdp4k relay-candidate chat-10 chat-100 chat-1000\n",
                 argv[0]);
    return 2;
  }
  const std::string c = argv[1];
  const int count = argc == 3 ? std::atoi(argv[2]) : 1000;
  if (count <= 0) die("COUNT must be positive");
  if (c == "relay-sdp200") return run_relay("sdp200", count);
  if (c == "relay-sdp4k") return run_relay("sdp4k", count);
  if (c == "relay-candidate") return run_relay("candidate", count);
  if (c.rfind("chat-", 0) == 0) {
    const int n = std::atoi(c.c_str() + 5);
    if (n >= 1) return run_chat(n, count);
  }
  die("unknown case " + c);
}

int main(int argc, char** argv) {
  // The environment and argv sit above the stack, so their size moves every stack address,
  // and libc's memcmp/memcpy take other paths near a page end: a few instructions more or
  // less per call on stack buffers. Padding the stack to a fixed offset within its page
  // makes the count independent of the environment and of the program's path.
  const auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  volatile char* pad = static_cast<char*>(alloca((sp & 4095) + 1));
  pad[0] = 0;
  return run(argc, argv);
}
