// The client-side unit tests' link (tests/unit/test_client_core.cpp, test_provider_core.cpp):
// FakeLink is a Link in memory that keeps what a core sends, SentFrame one sent frame parsed
// back. Uses doctest's REQUIRE: a core that opens over a current connection, sends with
// none, or retargets during one fails the test.
#pragma once

#include "client/link.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lobbykit::testing {

// A frame the core sent, parsed.
struct SentFrame {
  std::string text;
  std::shared_ptr<rapidjson::Document> doc = std::make_shared<rapidjson::Document>();

  explicit SentFrame(std::string t) : text(std::move(t)) {
    doc->Parse(text.data(), text.size());
    INFO("frame: ", text);
    REQUIRE_FALSE(doc->HasParseError());
  }
  std::string type() const { return (*doc)["type"].GetString(); }
  bool has_id() const { return doc->HasMember("id"); }
  std::int64_t id() const { return (*doc)["id"].GetInt64(); }
  const rapidjson::Value& data() const { return (*doc)["data"]; }
  bool has(const char* key) const { return data().HasMember(key); }
  const rapidjson::Value& at(const char* key) const {
    INFO("frame: ", text, " key ", key);
    REQUIRE(has(key));
    return data()[key];
  }
  std::string str(const char* key) const { return at(key).GetString(); }
  std::uint64_t num(const char* key) const { return at(key).GetUint64(); }
  bool flag(const char* key) const { return at(key).GetBool(); }
  std::vector<std::string> strings(const char* key) const {
    std::vector<std::string> out;
    for (const auto& v : at(key).GetArray()) out.emplace_back(v.GetString());
    return out;
  }
};

class FakeLink final : public client::Link {
 public:
  void open() override {
    REQUIRE_FALSE(busy);  // a core never opens over a current connection
    busy = true;
    ++opens;
  }
  void send(std::string text) override {
    REQUIRE(busy);
    sent.emplace_back(std::move(text));
  }
  void close(std::uint16_t code, std::string_view reason) override {
    busy = false;
    closes.emplace_back(code, std::string(reason));
  }
  bool retarget(const std::string& url) override {
    REQUIRE_FALSE(busy);  // only between connections
    targets.push_back(url);
    return true;
  }

  bool busy = false;
  int opens = 0;
  std::deque<SentFrame> sent;
  std::vector<std::pair<std::uint16_t, std::string>> closes;
  std::vector<std::string> targets;  // retarget() calls
};

}  // namespace lobbykit::testing
