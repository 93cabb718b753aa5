// The one JSON helper: a RapidJSON writer with short calls for the shapes lobbykit writes,
// and the envelope framing every outbound message shares.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lobbykit::protocol {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace detail {
// Spare output buffers, per thread: a builder takes one and gives it back cleared, so a
// frame is written into memory that is already there instead of a buffer grown afresh.
// One that grew past kKeepBytes (a big snapshot) is freed rather than kept.
class BufferPool {
 public:
  static rapidjson::StringBuffer* take() {
    auto& spare = pool();
    if (spare.empty()) return new rapidjson::StringBuffer();
    rapidjson::StringBuffer* b = spare.back().release();
    spare.pop_back();
    return b;
  }
  static void give(rapidjson::StringBuffer* b) {
    auto& spare = pool();
    if (b->GetSize() > kKeepBytes || spare.size() >= kMaxSpare) {
      delete b;
      return;
    }
    b->Clear();
    spare.emplace_back(b);
  }

 private:
  static constexpr std::size_t kKeepBytes = 64 * 1024;
  static constexpr std::size_t kMaxSpare = 8;  // builders alive at once on one thread
  static std::vector<std::unique_ptr<rapidjson::StringBuffer>>& pool() {
    thread_local std::vector<std::unique_ptr<rapidjson::StringBuffer>> spare;
    return spare;
  }
};
}  // namespace detail

// Builds one JSON text. Keys and strings are copied; nothing is escaped twice.
class JsonBuilder {
 public:
  JsonBuilder() : buf_(detail::BufferPool::take()), w_(*buf_) {}
  ~JsonBuilder() { detail::BufferPool::give(buf_); }
  JsonBuilder(const JsonBuilder&) = delete;
  JsonBuilder& operator=(const JsonBuilder&) = delete;
  Writer& w() { return w_; }

  JsonBuilder& begin_object() { w_.StartObject(); return *this; }
  JsonBuilder& end_object() { w_.EndObject(); return *this; }
  JsonBuilder& begin_array(std::string_view k) { key(k); w_.StartArray(); return *this; }
  JsonBuilder& end_array() { w_.EndArray(); return *this; }
  JsonBuilder& key(std::string_view k) {
    w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    return *this;
  }
  JsonBuilder& str(std::string_view k, std::string_view v) { key(k); return value(v); }
  JsonBuilder& boolean(std::string_view k, bool v) { key(k); w_.Bool(v); return *this; }
  JsonBuilder& num(std::string_view k, std::int64_t v) { key(k); w_.Int64(v); return *this; }
  JsonBuilder& unum(std::string_view k, std::uint64_t v) { key(k); w_.Uint64(v); return *this; }
  JsonBuilder& value(std::string_view v) {
    w_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  // Inserts already-serialized JSON (validated elsewhere) as the value of k.
  JsonBuilder& raw(std::string_view k, std::string_view json) {
    key(k);
    w_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }

  std::string take() { return std::string(buf_->GetString(), buf_->GetSize()); }
  std::string_view view() const { return {buf_->GetString(), buf_->GetSize()}; }

 private:
  rapidjson::StringBuffer* buf_;  // from the pool, back to it when done
  Writer w_;
};

// A JSON value as compact text. For values that passed parse_object / parse_envelope (which
// refuse infinite numbers); write_json says whether the value could be written at all.
inline std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

// Writes v as compact text into out. False when RapidJSON's Writer stopped part way, which
// it does at an infinite or NaN number (out is then incomplete).
inline bool write_json(const rapidjson::Value& v, std::string& out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  const bool complete = v.Accept(w);
  out.assign(sb.GetString(), sb.GetSize());
  return complete;
}

// Serializes a complete envelope {"type": type, "id"?: id, "data": {...}}. write_data gets
// the builder positioned inside the data object. id_raw is the request id as raw JSON
// ("" for none).
template <typename F>
std::shared_ptr<const std::string> envelope(std::string_view type, std::string_view id_raw,
                                            F&& write_data) {
  JsonBuilder b;
  b.begin_object().str("type", type);
  if (!id_raw.empty()) b.raw("id", id_raw);
  b.key("data").begin_object();
  write_data(b);
  b.end_object().end_object();
  return std::make_shared<const std::string>(b.take());
}

}  // namespace lobbykit::protocol
