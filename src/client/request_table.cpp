#include "client/request_table.hpp"

#include "client/client_core.hpp"
#include "protocol/client_decode.hpp"
#include "protocol/json.hpp"

#include <charconv>
#include <utility>
#include <vector>

namespace lobbykit::client {

ClientError read_client_error(const rapidjson::Value& data) {
  ClientError e;
  e.code = protocol::read_string(data, "code");
  if (e.code.empty()) e.code = "internal_error";
  e.message = protocol::read_string(data, "error");
  if (e.message.empty()) e.message = "The server reported an error.";
  e.field = protocol::read_string(data, "field");
  e.retry_after_ms = protocol::read_int(data, "retry_after_ms", -1);
  e.reason = protocol::read_string(data, "reason");
  return e;
}

void write_client_error_fields(protocol::JsonBuilder& b, const ClientError& e) {
  b.str("code", e.code).str("message", e.message);
  if (!e.field.empty()) b.str("field", e.field);
  if (e.retry_after_ms >= 0) b.num("retry_after_ms", e.retry_after_ms);
  if (!e.reason.empty()) b.str("reason", e.reason);
}

const rapidjson::Value& empty_json_object() {
  static const rapidjson::Value kEmpty(rapidjson::kObjectType);
  return kEmpty;
}

namespace {

std::string to_json(const rapidjson::Value& v) {
  protocol::JsonBuilder b;
  v.Accept(b.w());
  return b.take();
}

}  // namespace

std::string RequestTable::add(std::string_view type, std::string data_json, SteadyMs deadline,
                              Done done) {
  const std::int64_t id = next_id_++;
  protocol::JsonBuilder b;
  b.begin_object().str("type", type).num("id", id).raw("data", data_json).end_object();
  pending_.emplace(id, Pending{std::string(type), deadline, std::move(done)});
  return b.take();
}

bool RequestTable::settle(const protocol::Envelope& env, SteadyMs now) {
  if (env.id_raw.empty()) return false;
  std::int64_t id = 0;
  const char* first = env.id_raw.data();
  const char* last = first + env.id_raw.size();
  auto [end, ec] = std::from_chars(first, last, id);
  if (ec != std::errc() || end != last) return true;  // not an id of ours
  auto it = pending_.find(id);
  if (it == pending_.end()) return true;  // timed out already: dropped
  Pending p = std::move(it->second);
  pending_.erase(it);
  Reply r;
  r.data_json = to_json(*env.data);
  if (env.type == "error") r.error = read_client_error(*env.data);
  p.done(r, *env.data, now);
  return true;
}

void RequestTable::expire(SteadyMs now) {
  std::vector<std::int64_t> late;
  for (const auto& [id, p] : pending_)
    if (p.deadline <= now) late.push_back(id);
  for (std::int64_t id : late) {
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;  // an earlier timeout's continuation settled it
    Pending p = std::move(it->second);
    pending_.erase(it);
    Reply r;
    r.error = make_client_error("timeout", "The server did not answer " + p.type + " in time.");
    p.done(r, empty_json_object(), now);
  }
}

void RequestTable::fail_all(const char* code, const char* message, SteadyMs now) {
  std::map<std::int64_t, Pending> failed;
  failed.swap(pending_);
  for (auto& [id, p] : failed) {
    Reply r;
    r.error = make_client_error(code, message);
    p.done(r, empty_json_object(), now);
  }
}

std::optional<SteadyMs> RequestTable::next_deadline() const {
  std::optional<SteadyMs> next;
  for (const auto& [id, p] : pending_)
    if (!next || p.deadline < *next) next = p.deadline;
  return next;
}

}  // namespace lobbykit::client
