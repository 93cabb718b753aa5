// Hooks in JSON: requests written with the protocol's JsonBuilder, decisions read with
// RapidJSON, strictly (a field of the wrong type makes the whole decision invalid, so a host's
// mistake shows as hook_failed rather than as a silently different decision).
#include "hooks_json.hpp"

#include "protocol/json.hpp"
#include "protocol/messages.hpp"

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lobbykit {

JsonDecision JsonDecision::denied(std::string reason, std::string message) {
  protocol::JsonBuilder b;
  b.begin_object().boolean("allow", false).str("reason", reason).str("message", message).end_object();
  return JsonDecision{b.take()};
}

namespace detail {
namespace {

using protocol::JsonBuilder;

// One decision object, read field by field; ok stays false after the first bad field.
class Reader {
 public:
  explicit Reader(const std::string& json) {
    doc_.Parse(json.c_str(), json.size());
    ok_ = !doc_.HasParseError() && doc_.IsObject();
  }
  bool ok() const { return ok_; }

  void flag(const char* key, bool& out) {
    if (const auto* v = find(key)) {
      if (v->IsBool()) out = v->GetBool();
      else ok_ = false;
    }
  }
  void flag(const char* key, std::optional<bool>& out) {
    if (const auto* v = find(key)) {
      if (v->IsBool()) out = v->GetBool();
      else ok_ = false;
    }
  }
  void text(const char* key, std::string& out) {
    if (const auto* v = find(key)) {
      if (v->IsString()) out.assign(v->GetString(), v->GetStringLength());
      else ok_ = false;
    }
  }
  void text(const char* key, std::optional<std::string>& out) {
    if (const auto* v = find(key)) {
      if (v->IsString()) out.emplace(v->GetString(), v->GetStringLength());
      else ok_ = false;
    }
  }
  void count(const char* key, std::optional<std::uint32_t>& out) {
    if (const auto* v = find(key)) {
      if (v->IsUint()) out = v->GetUint();
      else ok_ = false;
    }
  }
  void words(const char* key, std::optional<std::vector<std::string>>& out) {
    if (const auto* v = find(key)) {
      if (!v->IsArray()) {
        ok_ = false;
        return;
      }
      std::vector<std::string> list;
      for (const auto& item : v->GetArray()) {
        if (!item.IsString()) {
          ok_ = false;
          return;
        }
        list.emplace_back(item.GetString(), item.GetStringLength());
      }
      out = std::move(list);
    }
  }
  // Any JSON value, null included, written compact; whether the key was there.
  bool value(const char* key, std::optional<std::string>& out) {
    if (!ok_) return false;
    auto it = doc_.FindMember(key);
    if (it == doc_.MemberEnd()) return false;
    out = protocol::to_json(it->value);
    return true;
  }
  bool has(const char* key) const { return ok_ && doc_.FindMember(key) != doc_.MemberEnd(); }
  void object(const char* key, std::optional<std::string>& out) {
    if (const auto* v = find(key)) {
      if (v->IsObject()) out = protocol::to_json(*v);
      else ok_ = false;
    }
  }
  // allow, reason and message, common to every decision.
  template <class D>
  void common(D& d) {
    flag("allow", d.allow);
    text("reason", d.denial.reason);
    text("message", d.denial.message);
  }

 private:
  const rapidjson::Value* find(const char* key) const {
    if (!ok_) return nullptr;
    auto it = doc_.FindMember(key);
    return it == doc_.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  }

  rapidjson::Document doc_;
  bool ok_ = false;
};

// Calls the JSON hook with request_json and hands a valid decision to the typed one; an
// invalid decision lets the typed one go unanswered, which refuses with hook_failed.
template <class D, class Read>
void ask_json(const JsonHook& hook, std::string request_json, Decision<D> typed, Read read) {
  hook(request_json, Decision<JsonDecision>([typed, read](std::optional<JsonDecision> answer) {
         if (!answer) return;  // dropped: so is typed, when this closure goes
         D d;
         Reader r(answer->json);
         r.common(d);
         read(r, d);
         if (r.ok()) typed.resolve(std::move(d));
       }));
}

std::string request_json(const char* hook, const std::function<void(JsonBuilder&)>& fields) {
  JsonBuilder b;
  b.begin_object().str("hook", hook);
  fields(b);
  b.end_object();
  return b.take();
}

void write_words(JsonBuilder& b, const char* key, const std::vector<std::string>& words) {
  b.begin_array(key);
  for (const auto& w : words) b.value(w);
  b.end_array();
}

}  // namespace

AuthHook json_auth_hook(JsonHook hook) {
  return [hook = std::move(hook)](const AuthRequest& q, Decision<AuthDecision> d) {
    std::string json = request_json("authenticate", [&](JsonBuilder& b) {
      b.str("address", q.address).raw("data", q.data_json.empty() ? "{}" : q.data_json)
          .boolean("resume", q.resume).str("peer_id", q.peer_id).str("name", q.name)
          .boolean("is_bot", q.is_bot).str("user_id", q.user_id);
      write_words(b, "roles", q.roles);
      b.key("claims");
      if (q.claims) {
        const AccessClaims& c = *q.claims;
        b.begin_object().str("sub", c.user_id).str("name", c.name);
        write_words(b, "roles", c.roles);
        b.raw("metadata", c.metadata_json.empty() ? "{}" : c.metadata_json)
            .str("lobby", c.lobby_id).num("exp", c.expires_s).num("nbf", c.not_before_s)
            .num("iat", c.issued_at_s).end_object();
      } else {
        b.w().Null();
      }
    });
    ask_json(hook, std::move(json), std::move(d), [](Reader& r, AuthDecision& out) {
      r.text("name", out.name);
      r.flag("is_bot", out.is_bot);
      r.words("roles", out.roles);
      r.object("metadata", out.metadata_json);
    });
  };
}

JoinHook json_join_hook(JsonHook hook) {
  return [hook = std::move(hook)](const JoinRequest& q, Decision<JoinDecision> d) {
    std::string json = request_json("join", [&](JsonBuilder& b) {
      b.str("peer_id", q.peer_id).str("user_id", q.user_id).str("name", q.name)
          .boolean("is_bot", q.is_bot);
      write_words(b, "roles", q.roles);
      b.key("lobby");
      protocol::write(b, q.lobby);
      b.boolean("has_media", q.has_media);
    });
    ask_json(hook, std::move(json), std::move(d), [](Reader&, JoinDecision&) {});
  };
}

CreateLobbyHook json_create_lobby_hook(JsonHook hook) {
  return [hook = std::move(hook)](const CreateLobbyRequest& q, Decision<CreateLobbyDecision> d) {
    std::string json = request_json("create_lobby", [&](JsonBuilder& b) {
      b.str("peer_id", q.peer_id).str("address", q.address).str("name", q.name)
          .boolean("private", q.is_private).boolean("persistent", q.persistent)
          .unum("max_participants", q.max_participants);
    });
    ask_json(hook, std::move(json), std::move(d), [](Reader& r, CreateLobbyDecision& out) {
      r.text("name", out.name);
      r.flag("private", out.is_private);
      r.flag("persistent", out.persistent);
      r.count("max_participants", out.max_participants);
    });
  };
}

ChatHook json_chat_hook(JsonHook hook) {
  return [hook = std::move(hook)](const ChatRequest& q, Decision<ChatDecision> d) {
    std::string json = request_json("chat", [&](JsonBuilder& b) {
      b.str("peer_id", q.peer_id).str("user_id", q.user_id).str("name", q.name);
      write_words(b, "roles", q.roles);
      b.str("lobby_id", q.lobby_id).str("text", q.text);
    });
    ask_json(hook, std::move(json), std::move(d),
             [](Reader& r, ChatDecision& out) { r.text("text", out.text); });
  };
}

AppMessageHook json_app_message_hook(JsonHook hook) {
  return [hook = std::move(hook)](const AppMessageRequest& q, Decision<AppMessageDecision> d) {
    std::string json = request_json("app_message", [&](JsonBuilder& b) {
      b.str("peer_id", q.peer_id).str("name", q.name).str("user_id", q.user_id);
      write_words(b, "roles", q.roles);
      b.str("lobby_id", q.lobby_id).str("to", q.to).str("type", q.type)
          .raw("payload", q.payload_json.empty() ? "null" : q.payload_json);
    });
    ask_json(hook, std::move(json), std::move(d), [](Reader& r, AppMessageDecision& out) {
      // A "reply" without "deliver" means the host handled the message: delivered to nobody.
      const bool replied = r.value("reply", out.reply_json);
      if (replied && !r.has("deliver")) out.deliver = false;
      r.flag("deliver", out.deliver);
    });
  };
}

}  // namespace detail
}  // namespace lobbykit
