// Fuzz target "client_decode": what the C++ Client does with the frames a server sends — the
// lenient decoders of src/protocol/client_decode.* and the client's protocol state machine
// (ClientCore) that applies them — against a hostile or broken server.
//
// Input: one byte of client options (bits: 1 a name, 2 a password, 4 a resume token, 8 a
// bot, 16 at most two reconnect attempts; '@' is none, 'A' a name), then lines ('\n').
// A line starting with a byte from 0x01 to 0x06 is an event:
//   0x01 the connection closed        (the next byte picks the close code)
//   0x02 time passes, then tick()     (the next byte picks how much)
//   0x03 the connection opened        (after the client asked for one)
//   0x04 a user request               (the next byte picks the type; the rest is its data)
//   0x05 reconnect()
//   0x06 stop()
// Any other line is one text frame from the server. The client starts connected: its auth
// request has id 1, so a seed begins with {"type":"welcome","id":1,...}.
//
// Beyond no crash, leak or undefined behaviour, it checks:
// - every frame goes through every decoder, whatever its type;
// - the client opens only when it has no connection and sends only on an open one, and
//   every frame it sends is an envelope with an integer id and an object as data;
// - the snapshot keeps its documented shape: chat ordered by offset with no duplicates and
//   no more than chat_history messages, last_offset at least the newest offset, the lobby's
//   participant count equal to its list, and no participants or chat without a lobby;
// - every request callback runs exactly once (at the latest when the client is stopped).
#include "fuzz_support.hpp"

#include <lobbykit/client.hpp>

#include "client/client_core.hpp"
#include "client/link.hpp"
#include "protocol/client_decode.hpp"
#include "protocol/envelope.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace lobbykit;
using client::SteadyMs;
using fuzz::Input;

// Every decoder over one frame: whatever a server sends must decode without harm.
void decode_everything(std::string_view text) {
  rapidjson::Document doc;
  protocol::Envelope env;
  if (protocol::parse_envelope(text, doc, env)) return;
  const rapidjson::Value& d = *env.data;
  protocol::Welcome w = protocol::read_welcome(d);
  if (w.lobby) {
    const auto* lobby = protocol::read_object(d, "lobby");
    FUZZ_CHECK(lobby != nullptr, text);
    const auto* parts = protocol::read_array(*lobby, "participants");
    FUZZ_CHECK(w.lobby->participants.size() <= (parts ? parts->Size() : 0), text);
  }
  protocol::LobbySnapshot s = protocol::read_lobby_snapshot(d);
  const auto* history = protocol::read_array(d, "history");
  FUZZ_CHECK(s.history.size() <= (history ? history->Size() : 0), text);
  for (const auto& m : s.history) FUZZ_CHECK(m.lobby_id == s.lobby.id, text);
  std::vector<ChatMessage> page =
      protocol::read_chat_messages(protocol::read_array(d, "messages"), "L");
  for (const char* key : {"participant", "message", "lobby", "description", "candidate"}) {
    if (const rapidjson::Value* v = protocol::read_object(d, key)) {
      protocol::read_participant(*v);
      protocol::read_chat_message(*v, "L");
      protocol::read_lobby(*v);
    }
  }
  // The readers accept any value, objects or not.
  protocol::read_participant(d);
  protocol::read_lobby(doc);
  protocol::read_string(doc, "type");
  protocol::read_uint(d, "offset");
  protocol::read_int(d, "time_ms", -1);
  protocol::read_bool(d, "resumed", true);
}

// The link, in memory, checking how the client uses it.
class CheckedLink final : public client::Link {
 public:
  void open() override {
    FUZZ_CHECK(!busy, "open() over a current connection");
    busy = true;
    opened = false;
  }
  void send(std::string text) override {
    FUZZ_CHECK(busy && opened, "send() without an open connection: " + text);
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), text);
    FUZZ_CHECK(doc.HasMember("type") && doc["type"].IsString(), text);
    FUZZ_CHECK(doc.HasMember("id") && doc["id"].IsInt64(), text);
    FUZZ_CHECK(doc.HasMember("data") && doc["data"].IsObject(), text);
  }
  void close(std::uint16_t, std::string_view) override {
    busy = false;
    opened = false;
  }

  bool busy = false;    // a connection was asked for and not closed or reported closed
  bool opened = false;  // ... and on_open was delivered
};

class Run {
 public:
  explicit Run(std::uint8_t options_byte) {
    ClientOptions o;
    if (options_byte & 1) o.name = "Ada";
    if (options_byte & 2) o.password = "secret";
    if (options_byte & 4) o.token = "0123456789abcdef0123456789abcdef";
    o.is_bot = options_byte & 8;
    o.reconnect.max_attempts = options_byte & 16 ? 2 : 0;
    core_ = std::make_unique<client::ClientCore>(
        o, link_, [](const ClientEvent&) {}, [] { return 0.5; });
    core_->start(now_);
    opened();
  }

  void line(std::string_view text) {
    if (!text.empty() && text[0] >= 0x01 && text[0] <= 0x06) {
      Input in(reinterpret_cast<const std::uint8_t*>(text.data()) + 1, text.size() - 1);
      event(text[0], in);
    } else {
      decode_everything(text);
      note_limits(text);
      if (link_.opened) core_->on_text(text, now_);
    }
    check_snapshot();
  }

  void finish() {
    core_->stop(now_);
    for (int calls : *callbacks_) FUZZ_CHECK(calls == 1, "a request callback did not run once");
  }

 private:
  void opened() {
    if (!link_.busy || link_.opened) return;
    link_.opened = true;
    core_->on_open(now_);
  }

  void event(char kind, Input& in) {
    switch (kind) {
      case 0x01: {
        static constexpr std::uint16_t kCodes[] = {1000, 1001, 1006, 1009, 1011,
                                                   4000, 4001, 4002, 4003, 4004};
        if (!link_.busy) return;
        link_.busy = link_.opened = false;
        core_->on_closed(in.pick(kCodes), "closed", now_);
        break;
      }
      case 0x02: {
        static constexpr SteadyMs kSteps[] = {1, 100, 249, 1'000, 9'999, 10'000, 10'001, 60'000};
        now_ += in.pick(kSteps);
        core_->tick(now_);
        break;
      }
      case 0x03: opened(); break;
      case 0x04: {
        static constexpr const char* kTypes[] = {"set_name",     "join_lobby",   "leave_lobby",
                                                 "chat",         "chat_history", "update_media",
                                                 "create_lobby", "ping"};
        const std::string type = in.pick(kTypes);
        const std::size_t slot = callbacks_->size();
        callbacks_->push_back(0);
        // The counts outlive the core: a callback may run from stop() in finish().
        core_->request(type, std::string(in.rest()),
                       [counts = callbacks_, slot](const Reply&) { ++(*counts)[slot]; }, now_);
        break;
      }
      case 0x05: core_->reconnect(now_); break;
      case 0x06: core_->stop(now_); break;
    }
  }

  void check_snapshot() {
    for (int calls : *callbacks_) FUZZ_CHECK(calls <= 1, "a request callback ran twice");
    const ClientSnapshot& s = core_->snapshot();
    std::uint64_t prev = 0;
    for (const ChatMessage& m : s.chat) {
      FUZZ_CHECK(m.offset > prev, "chat not ordered by offset, or a duplicate");
      prev = m.offset;
    }
    FUZZ_CHECK(s.chat.size() <= std::max<std::size_t>(client::kDefaultChatKept, max_kept_),
               "more chat than chat_history");
    if (!s.chat.empty()) FUZZ_CHECK(s.last_offset >= s.chat.back().offset, "last_offset");
    if (s.lobby) {
      FUZZ_CHECK(s.lobby->participant_count == s.participants.size(), "participant count");
    } else {
      FUZZ_CHECK(s.participants.empty() && s.chat.empty(), "participants or chat without a lobby");
    }
  }

  // Any chat_history a welcome may have told the client.
  void note_limits(std::string_view text) {
    rapidjson::Document doc;
    protocol::Envelope env;
    if (protocol::parse_envelope(text, doc, env)) return;
    if (const auto* limits = protocol::read_object(*env.data, "limits"))
      max_kept_ = std::max<std::uint64_t>(max_kept_, protocol::read_uint(*limits, "chat_history"));
  }

  CheckedLink link_;
  SteadyMs now_ = 1'000'000;
  std::uint64_t max_kept_ = 0;
  std::shared_ptr<std::vector<int>> callbacks_ = std::make_shared<std::vector<int>>();
  std::unique_ptr<client::ClientCore> core_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  Run run(in.byte());
  std::string_view rest = in.rest();
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find('\n'), rest.size());
    run.line(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  run.finish();
  return 0;
}
