// Tests for ProviderCore: the bot provider's protocol state machine (docs/bots.md) against an
// in-memory link and a manual clock. The test plays the server: it reads the frames the
// core sends and answers with frames of its own. No sockets, no threads, no sleeps.
#include "client/provider_core.hpp"
#include "support/fake_link.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lobbykit::client {
namespace {

using Frame = testing::SentFrame;
using testing::FakeLink;

ProviderOptions provider_options() {
  ProviderOptions o;
  o.key = "secret-key";
  o.name = "host-1";
  o.version = "1.2";
  o.kinds = {{"assistant", "Answers questions"}, {"reader", "Reads aloud"}};
  o.max_jobs = 2;
  o.reconnect.initial_delay_ms = 1000;
  o.reconnect.max_delay_ms = 8000;
  o.request_timeout_ms = 3000;
  o.connect_timeout_ms = 4000;
  return o;
}

std::string hello_result(bool resumed = false, const std::string& jobs = "[]",
                         std::uint32_t interval = 2000) {
  return R"({"provider_id":"p-1","token":"tok-1","resumed":)" +
         std::string(resumed ? "true" : "false") + R"(,"jobs":)" + jobs +
         R"(,"status_interval_ms":)" + std::to_string(interval) + R"(,"silence_ms":15000})";
}

std::string offer(const std::string& job_id) {
  return R"({"job_id":")" + job_id +
         R"(","dispatch_id":"d-1","kind":"assistant","lobby_id":"L1","lobby_name":"Room",)"
         R"("metadata":{"voice":"en","n":3},"attempt":2,"timeout_ms":5000})";
}

std::string assignment(const std::string& job_id) {
  return R"({"job_id":")" + job_id +
         R"(","credential":"cred-)" + job_id +
         R"(","lobby_id":"L1","bot_name":"assistant 2","join_timeout_ms":15000})";
}

struct Harness {
  FakeLink link;
  std::vector<ProviderEvent> events;
  double random = 0.5;
  SteadyMs now = 1'000'000;
  std::unique_ptr<ProviderCore> core;

  explicit Harness(ProviderOptions options = provider_options()) {
    core = std::make_unique<ProviderCore>(
        std::move(options), link, [this](const ProviderEvent& e) { events.push_back(e); },
        [this] { return random; });
  }

  Frame take(const std::string& type) {
    INFO("expected a ", type, " frame");
    REQUIRE_FALSE(link.sent.empty());
    Frame f = std::move(link.sent.front());
    link.sent.pop_front();
    INFO("frame: ", f.text);
    REQUIRE(f.type() == type);
    return f;
  }
  bool nothing_sent() const { return link.sent.empty(); }

  void frame(const std::string& text) { core->on_text(text, now); }
  void reply(const Frame& req, const std::string& data, const std::string& type = "result") {
    frame(R"({"type":")" + type + R"(","id":)" + std::to_string(req.id()) + R"(,"data":)" +
          data + "}");
  }
  void error(const Frame& req, const std::string& code) {
    reply(req, R"({"code":")" + code + R"(","error":"no"})", "error");
  }
  void push(const std::string& type, const std::string& data) {
    frame(R"({"type":")" + type + R"(","data":)" + data + "}");
  }

  // The link is being opened: open it, answer the hello, take the first status.
  Frame connect(const std::string& result = hello_result()) {
    REQUIRE(link.busy);
    core->on_open(now);
    Frame hello = take("provider_hello");
    reply(hello, result);
    take("provider_status");
    return hello;
  }
  void drop(std::uint16_t code = kCloseAbnormal) {
    link.busy = false;
    core->on_closed(code, "", now);
  }
  void advance_to(SteadyMs t) {
    now = t;
    core->tick(now);
  }

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events)
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }

  // Accepts job_id through the server: returns the reply the callback got.
  AcceptReply accept(const std::string& job_id) {
    std::optional<AcceptReply> got;
    core->accept(job_id, [&](const AcceptReply& r) { got = r; }, now);
    Frame f = take("job_accept");
    CHECK(f.str("job_id") == job_id);
    reply(f, assignment(job_id));
    REQUIRE(got);
    return *got;
  }
};

TEST_CASE("provider: hello carries key, name, version, kinds and max_jobs, a status follows") {
  Harness h;
  h.core->start(h.now);
  CHECK(h.core->state() == ConnectionState::connecting);
  h.core->on_open(h.now);
  Frame hello = h.take("provider_hello");
  CHECK(hello.str("key") == "secret-key");
  CHECK(hello.str("name") == "host-1");
  CHECK(hello.str("version") == "1.2");
  CHECK(hello.data()["max_jobs"].GetUint() == 2);
  const auto& kinds = hello.data()["kinds"];
  REQUIRE(kinds.Size() == 2);
  CHECK(std::string(kinds[0]["kind"].GetString()) == "assistant");
  CHECK(std::string(kinds[0]["description"].GetString()) == "Answers questions");
  CHECK(std::string(kinds[1]["kind"].GetString()) == "reader");
  CHECK_FALSE(hello.has("resume"));
  h.reply(hello, hello_result());

  CHECK(h.core->state() == ConnectionState::connected);
  auto reg = h.all<provider_event::Registered>();
  REQUIRE(reg.size() == 1);
  CHECK(reg[0].provider_id == "p-1");
  CHECK_FALSE(reg[0].resumed);
  Frame status = h.take("provider_status");
  CHECK_FALSE(status.has_id());  // no reply needed
  CHECK(status.data()["load"].GetDouble() == 0.0);
  CHECK(status.strings("jobs").empty());
  CHECK(status.data()["accepting"].GetBool());
  CHECK(h.core->snapshot().provider_id == "p-1");
}

TEST_CASE("provider: an empty version is left out") {
  ProviderOptions o = provider_options();
  o.version.clear();
  Harness h(o);
  h.core->start(h.now);
  h.core->on_open(h.now);
  CHECK_FALSE(h.take("provider_hello").has("version"));
}

TEST_CASE("provider: provider_status every status_interval_ms the server gives") {
  Harness h;
  h.core->start(h.now);
  h.connect(hello_result(false, "[]", 2000));
  CHECK(h.core->status_interval_ms() == 2000);
  CHECK(h.core->next_deadline() == h.now + 2000);
  h.advance_to(h.now + 1999);
  CHECK(h.nothing_sent());
  h.advance_to(h.now + 1);
  h.take("provider_status");
  CHECK(h.core->next_deadline() == h.now + 2000);
  h.advance_to(h.now + 2000);
  h.take("provider_status");
  CHECK(h.nothing_sent());
}

TEST_CASE("provider: status_interval_ms in the options overrides the server's") {
  ProviderOptions o = provider_options();
  o.status_interval_ms = 700;
  Harness h(o);
  h.core->start(h.now);
  h.connect(hello_result(false, "[]", 2000));
  CHECK(h.core->status_interval_ms() == 700);
  h.advance_to(h.now + 700);
  h.take("provider_status");
}

TEST_CASE("provider: an offer is an event, accept yields the credential and counts the job") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.push("job_offer", offer("j-1"));
  auto offers = h.all<provider_event::Offer>();
  REQUIRE(offers.size() == 1);
  const JobOffer& o = offers[0].offer;
  CHECK(o.job_id == "j-1");
  CHECK(o.dispatch_id == "d-1");
  CHECK(o.kind == "assistant");
  CHECK(o.lobby_id == "L1");
  CHECK(o.lobby_name == "Room");
  CHECK(o.metadata_json == R"({"voice":"en","n":3})");
  CHECK(o.attempt == 2);
  CHECK(o.timeout_ms == 5000);

  AcceptReply r = h.accept("j-1");
  REQUIRE(r.ok());
  CHECK(r.job.job_id == "j-1");
  CHECK(r.job.credential == "cred-j-1");
  CHECK(r.job.lobby_id == "L1");
  CHECK(r.job.bot_name == "assistant 2");
  CHECK(r.job.join_timeout_ms == 15000);
  // The next heartbeat lists the job, load running / max_jobs (the server counts running
  // jobs itself: no status of its own for that).
  CHECK(h.nothing_sent());
  h.advance_to(h.now + 2000);
  Frame status = h.take("provider_status");
  CHECK(status.strings("jobs") == std::vector<std::string>{"j-1"});
  CHECK(status.data()["load"].GetDouble() == doctest::Approx(0.5));
  CHECK(h.core->snapshot().jobs == std::vector<std::string>{"j-1"});
}

TEST_CASE("provider: a refused accept does not count the job") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  std::optional<AcceptReply> got;
  h.core->accept("j-9", [&](const AcceptReply& r) { got = r; }, h.now);
  h.error(h.take("job_accept"), "job_not_found");
  REQUIRE(got);
  REQUIRE(got->error);
  CHECK(got->error->code == "job_not_found");
  CHECK(h.core->snapshot().jobs.empty());
  CHECK(h.nothing_sent());
}

TEST_CASE("provider: decline sends the reason and reports the result") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  std::optional<Reply> got;
  h.core->decline("j-1", "busy", [&](const Reply& r) { got = r; }, h.now);
  Frame f = h.take("job_decline");
  CHECK(f.str("job_id") == "j-1");
  CHECK(f.str("reason") == "busy");
  CHECK_FALSE(got);
  h.reply(f, "{}");
  REQUIRE(got);
  CHECK(got->ok());
}

TEST_CASE("provider: job_cancel removes the job and frees its place") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.accept("j-1");
  h.push("job_cancel", R"({"job_id":"j-1","reason":"removed"})");
  auto cancels = h.all<provider_event::Cancel>();
  REQUIRE(cancels.size() == 1);
  CHECK(cancels[0].job_id == "j-1");
  CHECK(cancels[0].reason == "removed");
  CHECK(h.core->snapshot().jobs.empty());
  h.advance_to(h.now + 2000);
  CHECK(h.take("provider_status").strings("jobs").empty());
}

TEST_CASE("provider: job_end tells the server and frees the place once it answers") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.accept("j-1");
  std::optional<Reply> got;
  h.core->end_job("j-1", "asked to leave", false, [&](const Reply& r) { got = r; }, h.now);
  Frame f = h.take("job_end");
  CHECK(f.str("job_id") == "j-1");
  CHECK(f.str("reason") == "asked to leave");
  CHECK_FALSE(f.data()["retry"].GetBool());
  CHECK_FALSE(got);
  CHECK(h.core->snapshot().jobs == std::vector<std::string>{"j-1"});  // until answered
  h.reply(f, "{}");
  REQUIRE(got);
  CHECK(got->ok());
  CHECK(h.core->snapshot().jobs.empty());
  CHECK(h.all<provider_event::Cancel>().empty());
  h.advance_to(h.now + 2000);
  CHECK(h.take("provider_status").strings("jobs").empty());
}

TEST_CASE("provider: end_job of a job it does not run fails at once") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  std::optional<Reply> got;
  h.core->end_job("nope", "", true, [&](const Reply& r) { got = r; }, h.now);
  REQUIRE(got);
  REQUIRE(got->error);
  CHECK(got->error->code == "job_not_found");
  CHECK(h.nothing_sent());
}

TEST_CASE("provider: a draining server's reconnect hint says where and when") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.push("reconnect", R"({"reason":"draining","after_ms":40,"url":"ws://10.0.0.2:9000/ws"})");
  h.drop(1001);
  CHECK(h.link.targets == std::vector<std::string>{"ws://10.0.0.2:9000/ws"});
  REQUIRE(h.core->retry_at());
  CHECK(*h.core->retry_at() == h.now + 40);  // not the backoff's 500 (0.5 * 1000)
  CHECK(h.core->state() == ConnectionState::reconnecting);
  const int opens = h.link.opens;
  h.advance_to(h.now + 40);
  CHECK(h.link.opens == opens + 1);
}

TEST_CASE("provider: a drop reconnects with backoff and resumes with provider id and token") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.accept("j-1");
  h.random = 0.25;
  h.drop();
  CHECK(h.core->state() == ConnectionState::reconnecting);
  REQUIRE(h.core->retry_at());
  CHECK(*h.core->retry_at() == h.now + 250);  // floor(0.25 * 1000)
  h.advance_to(h.now + 249);
  CHECK(h.link.opens == 1);
  h.advance_to(h.now + 1);
  CHECK(h.link.opens == 2);

  h.core->on_open(h.now);
  Frame hello = h.take("provider_hello");
  REQUIRE(hello.has("resume"));
  CHECK(std::string(hello.data()["resume"]["provider_id"].GetString()) == "p-1");
  CHECK(std::string(hello.data()["resume"]["token"].GetString()) == "tok-1");
  h.reply(hello,
          hello_result(true, R"([{"job_id":"j-1","provider_id":"p-1","state":"joined",)"
                             R"("attempt":1,"since_ms":5}])"));
  auto reg = h.all<provider_event::Registered>();
  REQUIRE(reg.size() == 2);
  CHECK(reg[1].resumed);
  REQUIRE(reg[1].jobs.size() == 1);
  CHECK(reg[1].jobs[0].job_id == "j-1");
  CHECK(reg[1].jobs[0].state == "joined");
  CHECK(reg[1].jobs[0].attempt == 1);
  // The jobs it runs go back to the server at once.
  CHECK(h.take("provider_status").strings("jobs") == std::vector<std::string>{"j-1"});
}

TEST_CASE("provider: backoff grows exponentially to the cap and a hello result resets it") {
  Harness h;
  h.random = 0.999;
  h.core->start(h.now);
  std::vector<SteadyMs> delays;
  for (int i = 0; i < 5; ++i) {
    h.drop();
    REQUIRE(h.core->retry_at());
    delays.push_back(*h.core->retry_at() - h.now);
    h.advance_to(*h.core->retry_at());
  }
  CHECK(delays == std::vector<SteadyMs>{999, 1998, 3996, 7992, 7992});
  h.connect();
  h.drop();
  CHECK(*h.core->retry_at() - h.now == 999);
}

TEST_CASE("provider: a job_end the connection lost is sent again after the next hello") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.accept("j-1");
  std::optional<Reply> got;
  h.core->end_job("j-1", "done", true, [&](const Reply& r) { got = r; }, h.now);
  h.take("job_end");
  h.drop();
  CHECK_FALSE(got);  // not answered yet: it goes again
  h.advance_to(*h.core->retry_at());
  h.core->on_open(h.now);
  h.reply(h.take("provider_hello"), hello_result(true));
  CHECK(h.take("provider_status").strings("jobs") == std::vector<std::string>{"j-1"});
  Frame again = h.take("job_end");
  CHECK(again.str("job_id") == "j-1");
  CHECK(again.data()["retry"].GetBool());
  h.reply(again, "{}");
  REQUIRE(got);
  CHECK(got->ok());
}

TEST_CASE("provider: job_end while disconnected goes out after the next hello") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.accept("j-1");
  h.drop();
  std::optional<Reply> got;
  h.core->end_job("j-1", "", false, [&](const Reply& r) { got = r; }, h.now);
  CHECK(h.nothing_sent());
  h.advance_to(*h.core->retry_at());
  h.core->on_open(h.now);
  h.reply(h.take("provider_hello"), hello_result(true));
  h.take("provider_status");
  Frame end = h.take("job_end");
  CHECK_FALSE(end.has("reason"));
  h.error(end, "job_not_found");  // the server let it go meanwhile
  REQUIRE(got);
  REQUIRE(got->error);
  CHECK(got->error->code == "job_not_found");
  CHECK(h.core->snapshot().jobs.empty());
}

TEST_CASE("provider: a job_cancel for a job being ended settles its end_job") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.accept("j-1");
  std::optional<Reply> got;
  h.core->end_job("j-1", "", false, [&](const Reply& r) { got = r; }, h.now);
  h.take("job_end");
  h.push("job_cancel", R"({"job_id":"j-1","reason":"removed"})");
  REQUIRE(got);
  CHECK(got->ok());
  CHECK(h.all<provider_event::Cancel>().empty());
  CHECK(h.core->snapshot().jobs.empty());
}

TEST_CASE("provider: drain holds across reconnects, the server's drain is an event") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  std::optional<Reply> got;
  h.core->drain([&](const Reply& r) { got = r; }, h.now);
  Frame d = h.take("provider_drain");
  CHECK_FALSE(h.take("provider_status").data()["accepting"].GetBool());
  h.reply(d, "{}");
  REQUIRE(got);
  CHECK(got->ok());
  CHECK_FALSE(h.core->snapshot().accepting);

  h.drop();
  h.advance_to(*h.core->retry_at());
  h.core->on_open(h.now);
  h.reply(h.take("provider_hello"), hello_result());
  h.take("provider_drain");  // a new connection is told again
  CHECK_FALSE(h.take("provider_status").data()["accepting"].GetBool());
}

TEST_CASE("provider: the server's drain push stops accepting") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.push("drain", "{}");
  CHECK(h.all<provider_event::Drain>().size() == 1);
  CHECK_FALSE(h.take("provider_status").data()["accepting"].GetBool());
  CHECK_FALSE(h.core->snapshot().accepting);
}

TEST_CASE("provider: set_load is what the heartbeat reports") {
  Harness h;
  h.core->start(h.now);
  h.connect(hello_result(false, "[]", 1000));
  h.core->set_load(0.7, h.now);
  h.advance_to(h.now + 1000);
  CHECK(h.take("provider_status").data()["load"].GetDouble() == doctest::Approx(0.7));
  h.core->set_load(3.0, h.now);  // clamped
  h.advance_to(h.now + 1000);
  CHECK(h.take("provider_status").data()["load"].GetDouble() == doctest::Approx(1.0));
  h.core->set_load(std::nullopt, h.now);
  h.advance_to(h.now + 1000);
  CHECK(h.take("provider_status").data()["load"].GetDouble() == 0.0);
}

TEST_CASE("provider: a request refused with rate_limited goes again after retry_after_ms") {
  Harness h;
  h.core->start(h.now);
  h.connect(hello_result(false, "[]", 60000));
  std::optional<AcceptReply> got;
  h.core->accept("j-1", [&](const AcceptReply& r) { got = r; }, h.now);
  Frame first = h.take("job_accept");
  h.reply(first, R"({"code":"rate_limited","error":"slow","retry_after_ms":40})", "error");
  CHECK_FALSE(got);
  CHECK(h.core->next_deadline() == h.now + 40);
  h.advance_to(h.now + 39);
  CHECK(h.nothing_sent());
  h.advance_to(h.now + 1);
  Frame again = h.take("job_accept");
  CHECK(again.str("job_id") == "j-1");
  CHECK(again.id() != first.id());
  h.reply(again, assignment("j-1"));
  REQUIRE(got);
  CHECK(got->ok());
  CHECK(got->job.credential == "cred-j-1");
}

TEST_CASE("provider: a rate-limited request waiting to go again fails when the connection ends") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  std::optional<Reply> got;
  h.core->decline("j-1", "", [&](const Reply& r) { got = r; }, h.now);
  h.reply(h.take("job_decline"), R"({"code":"rate_limited","error":"slow","retry_after_ms":40})",
          "error");
  h.drop();
  REQUIRE(got);
  CHECK(got->error->code == "connection_lost");
}

TEST_CASE("provider: a wrong key gives up without retrying") {
  Harness h;
  h.core->start(h.now);
  h.core->on_open(h.now);
  h.error(h.take("provider_hello"), "unauthorized");
  CHECK(h.core->state() == ConnectionState::disconnected);
  CHECK_FALSE(h.core->retry_at());
  CHECK_FALSE(h.core->next_deadline());
  auto errors = h.all<provider_event::Error>();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].error.code == "unauthorized");
  CHECK(h.core->snapshot().last_error->code == "unauthorized");
  CHECK_FALSE(h.link.busy);
}

TEST_CASE("provider: close 4007 gives up, 4008 (silent) reconnects") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.drop(4008);
  CHECK(h.core->state() == ConnectionState::reconnecting);
  h.advance_to(*h.core->retry_at());
  h.core->on_open(h.now);
  h.take("provider_hello");
  h.drop(4007);
  CHECK(h.core->state() == ConnectionState::disconnected);
  CHECK_FALSE(h.core->retry_at());
  REQUIRE_FALSE(h.all<provider_event::Error>().empty());
  CHECK(h.all<provider_event::Error>().back().error.code == "unauthorized");
}

TEST_CASE("provider: too_many_providers is reported and retried with backoff") {
  Harness h;
  h.core->start(h.now);
  h.core->on_open(h.now);
  h.error(h.take("provider_hello"), "too_many_providers");
  CHECK(h.all<provider_event::Error>().at(0).error.code == "too_many_providers");
  CHECK(h.core->state() == ConnectionState::reconnecting);
  CHECK(h.core->retry_at());
}

TEST_CASE("provider: no hello result in connect_timeout_ms: the connection is dropped") {
  Harness h;
  h.core->start(h.now);
  h.core->on_open(h.now);
  h.take("provider_hello");
  CHECK(h.core->next_deadline() == h.now + 3000);  // the request timeout comes first
  h.advance_to(h.now + 3000);
  CHECK(h.core->state() == ConnectionState::reconnecting);
  CHECK_FALSE(h.link.busy);
  CHECK(h.link.closes.size() == 1);
}

TEST_CASE("provider: a request without reply fails with timeout") {
  Harness h;
  h.core->start(h.now);
  h.connect(hello_result(false, "[]", 60000));
  std::optional<AcceptReply> got;
  h.core->accept("j-1", [&](const AcceptReply& r) { got = r; }, h.now);
  h.take("job_accept");
  h.advance_to(h.now + 2999);
  CHECK_FALSE(got);
  h.advance_to(h.now + 1);
  REQUIRE(got);
  REQUIRE(got->error);
  CHECK(got->error->code == "timeout");
}

TEST_CASE("provider: before the hello result requests fail with not_connected") {
  Harness h;
  h.core->start(h.now);
  std::optional<AcceptReply> got;
  h.core->accept("j-1", [&](const AcceptReply& r) { got = r; }, h.now);
  REQUIRE(got);
  CHECK(got->error->code == "not_connected");
}

TEST_CASE("provider: stop closes, fails what is open with stopped, and is final") {
  Harness h;
  h.core->start(h.now);
  h.connect();
  h.accept("j-1");
  std::optional<Reply> ended;
  std::optional<AcceptReply> accepted;
  h.core->end_job("j-1", "", false, [&](const Reply& r) { ended = r; }, h.now);
  h.core->accept("j-2", [&](const AcceptReply& r) { accepted = r; }, h.now);
  h.core->stop(h.now);
  REQUIRE(ended);
  CHECK(ended->error->code == "stopped");
  REQUIRE(accepted);
  CHECK(accepted->error->code == "stopped");
  REQUIRE(h.link.closes.size() == 1);
  CHECK(h.link.closes[0].first == 1000);
  CHECK(h.core->state() == ConnectionState::disconnected);
  CHECK_FALSE(h.core->next_deadline());
  h.core->reconnect(h.now);
  CHECK(h.link.opens == 1);
}

TEST_CASE("provider: handlers may call back into the core") {
  std::optional<AcceptReply> got;
  FakeLink link;
  SteadyMs now = 5;
  std::unique_ptr<ProviderCore> core;
  core = std::make_unique<ProviderCore>(
      provider_options(), link,
      [&](const ProviderEvent& e) {  // accepts every offer from the event handler
        if (auto* o = std::get_if<provider_event::Offer>(&e))
          core->accept(o->offer.job_id, [&](const AcceptReply& r) { got = r; }, now);
      },
      [] { return 0.0; });
  core->start(now);
  core->on_open(now);
  Frame hello(link.sent.front().text);
  link.sent.clear();
  core->on_text(R"({"type":"result","id":)" + std::to_string(hello.id()) +
                    R"(,"data":)" + hello_result() + "}",
                now);
  link.sent.clear();
  core->on_text(R"({"type":"job_offer","data":)" + offer("j-7") + "}", now);
  REQUIRE(link.sent.size() == 1);
  Frame acc(link.sent.front().text);
  CHECK(acc.type() == "job_accept");
  CHECK(acc.str("job_id") == "j-7");
}

}  // namespace
}  // namespace lobbykit::client
