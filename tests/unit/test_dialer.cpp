// Tests for Dialer: the connection lifecycle ClientCore and ProviderCore share, against an
// in-memory link, a manual clock and an Owner that records what it is told. The cores' own
// tests cover what each stage means for their protocol; these cover the stages.
#include "client/dialer.hpp"
#include "client/client_core.hpp"  // make_client_error
#include "support/fake_link.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lobbykit::client {
namespace {

using testing::FakeLink;

struct Recorder final : Dialer::Owner {
  std::vector<std::string> calls;  // "opened", "ended", "gave_up:<code>"
  std::vector<ConnectionState> states;
  std::uint16_t refuse_code = 0;  // no_retry_after refuses this close code

  void link_opened(SteadyMs) override { calls.push_back("opened"); }
  void link_ended(SteadyMs) override { calls.push_back("ended"); }
  std::optional<ClientError> no_retry_after(std::uint16_t code) override {
    if (refuse_code && code == refuse_code) return make_client_error("refused", "No.");
    return std::nullopt;
  }
  void gave_up(const ClientError& e) override { calls.push_back("gave_up:" + e.code); }
  void state_changed(ConnectionState s) override { states.push_back(s); }
};

struct Rig {
  static constexpr std::uint32_t kAcceptWithinMs = 5000;
  FakeLink link;
  Recorder owner;
  ReconnectPolicy policy;
  SteadyMs now = 1'000'000;
  Dialer dialer;

  explicit Rig(ReconnectPolicy p = {})
      : policy(p), dialer(owner, link, policy, kAcceptWithinMs, [] { return 0.5; }) {}

  ConnectionState state() const {
    REQUIRE_FALSE(owner.states.empty());
    return owner.states.back();
  }
  // The server (or the network) ends the connection.
  void drop(std::uint16_t code) {
    link.busy = false;
    dialer.on_closed(code, now);
  }
  // Nothing is due, and a minute later it has opened nothing more.
  void check_idle() {
    CHECK_FALSE(dialer.next_deadline());
    const int opens = link.opens;
    dialer.tick(now + 60'000, "late");
    CHECK(link.opens == opens);
  }
  // Opens and accepts a connection the dialer has asked for.
  void accept() {
    REQUIRE(link.busy);
    dialer.on_open(now);
    dialer.accepted();
  }
};

TEST_CASE("Dialer: the first attempt is connecting, every later one reconnecting") {
  Rig r;
  r.dialer.start(r.now);
  CHECK(r.link.opens == 1);
  CHECK(r.state() == ConnectionState::connecting);
  r.dialer.on_open(r.now);
  CHECK(r.owner.calls == std::vector<std::string>{"opened"});
  CHECK(r.dialer.open());
  CHECK_FALSE(r.dialer.is_accepted());
  r.dialer.accepted();
  CHECK(r.dialer.is_accepted());

  r.drop(kCloseAbnormal);
  CHECK(r.owner.calls.back() == "ended");
  CHECK(r.state() == ConnectionState::reconnecting);
  CHECK_FALSE(r.dialer.busy());
  // Retry 0 of the backoff: floor(0.5 * 250) ms.
  REQUIRE(r.dialer.retry_at());
  CHECK(*r.dialer.retry_at() == r.now + 125);
  CHECK(r.dialer.next_deadline() == r.dialer.retry_at());
  r.dialer.tick(r.now + 124, "late");
  CHECK(r.link.opens == 1);
  r.dialer.tick(r.now + 125, "late");
  CHECK(r.link.opens == 2);
  CHECK(r.state() == ConnectionState::reconnecting);
}

TEST_CASE("Dialer: the backoff grows until a connection is accepted, then starts over") {
  Rig r;
  r.dialer.start(r.now);
  for (std::uint32_t n = 0; n < 3; ++n) {
    r.drop(kCloseAbnormal);
    REQUIRE(r.dialer.retry_at());
    CHECK(*r.dialer.retry_at() - r.now == (125 << n));  // 0.5 * 250 * 2^n
    r.now = *r.dialer.retry_at();
    r.dialer.tick(r.now, "late");
  }
  CHECK(r.dialer.attempt() == 3);
  r.accept();
  CHECK(r.dialer.attempt() == 0);
  r.drop(kCloseAbnormal);
  CHECK(*r.dialer.retry_at() - r.now == 125);
}

TEST_CASE("Dialer: a connection not accepted in time is abandoned and tried again") {
  Rig r;
  r.dialer.start(r.now);
  r.dialer.on_open(r.now);
  CHECK(r.dialer.next_deadline() == r.now + Rig::kAcceptWithinMs);
  r.dialer.tick(r.now + Rig::kAcceptWithinMs - 1, "no welcome in time");
  CHECK(r.link.closes.empty());
  r.dialer.tick(r.now + Rig::kAcceptWithinMs, "no welcome in time");
  REQUIRE(r.link.closes.size() == 1);
  CHECK(r.link.closes[0] == std::make_pair(std::uint16_t{1000}, std::string("no welcome in time")));
  CHECK(r.owner.calls.back() == "ended");
  CHECK(r.state() == ConnectionState::reconnecting);
  CHECK(r.dialer.retry_at());

  // Accepted in time, no deadline is left.
  r.now = *r.dialer.retry_at();
  r.dialer.tick(r.now, "no welcome in time");
  r.accept();
  CHECK_FALSE(r.dialer.next_deadline());
}

TEST_CASE("Dialer: a close code the owner refuses ends the retrying, with its reason") {
  Rig r;
  r.owner.refuse_code = 4007;
  r.dialer.start(r.now);
  r.accept();
  r.drop(1001);  // not refused: retried
  CHECK(r.dialer.retry_at());
  r.now = *r.dialer.retry_at();
  r.dialer.tick(r.now, "late");
  r.accept();
  r.drop(4007);
  CHECK(r.owner.calls.back() == "gave_up:refused");
  CHECK(r.state() == ConnectionState::disconnected);
  CHECK_FALSE(r.dialer.retry_at());
  CHECK_FALSE(r.dialer.next_deadline());
  // reconnect() is the user's way back.
  r.dialer.reconnect(r.now);
  CHECK(r.link.opens == 3);
  CHECK(r.state() == ConnectionState::reconnecting);
}

TEST_CASE("Dialer: max_attempts used up gives up with gave_up") {
  ReconnectPolicy p;
  p.max_attempts = 2;
  Rig r(p);
  r.dialer.start(r.now);
  for (int n = 0; n < 2; ++n) {
    r.drop(kCloseAbnormal);
    REQUIRE(r.dialer.retry_at());
    r.now = *r.dialer.retry_at();
    r.dialer.tick(r.now, "late");
  }
  r.drop(kCloseAbnormal);
  CHECK(r.owner.calls.back() == "gave_up:gave_up");
  CHECK(r.state() == ConnectionState::disconnected);
  CHECK(r.link.opens == 3);
}

TEST_CASE("Dialer: end() closes and wants no other connection, without giving up") {
  Rig r;
  r.dialer.start(r.now);
  r.dialer.on_open(r.now);
  r.dialer.end("auth failed", r.now);
  CHECK(r.link.closes.back() == std::make_pair(std::uint16_t{1000}, std::string("auth failed")));
  // No gave_up: the core says why.
  CHECK(r.owner.calls == std::vector<std::string>{"opened", "ended"});
  CHECK(r.state() == ConnectionState::disconnected);
  r.check_idle();
  CHECK(r.link.opens == 1);
}

TEST_CASE("Dialer: reconnect() in backoff tries at once, and while connecting does nothing") {
  Rig r;
  r.dialer.start(r.now);
  r.dialer.reconnect(r.now);  // a connection is being opened already
  CHECK(r.link.opens == 1);
  r.drop(kCloseAbnormal);
  REQUIRE(r.dialer.retry_at());
  r.dialer.reconnect(r.now);
  CHECK(r.link.opens == 2);
  CHECK_FALSE(r.dialer.retry_at());
}

TEST_CASE("Dialer: stop() is final") {
  Rig r;
  r.dialer.start(r.now);
  r.accept();
  CHECK(r.dialer.stop("client stopped"));
  CHECK(r.link.closes.back() == std::make_pair(std::uint16_t{1000}, std::string("client stopped")));
  CHECK(r.dialer.stopped());
  CHECK_FALSE(r.dialer.busy());
  CHECK_FALSE(r.dialer.is_accepted());
  CHECK_FALSE(r.dialer.next_deadline());
  const std::size_t states = r.owner.states.size();
  CHECK_FALSE(r.dialer.stop("again"));
  r.dialer.start(r.now);
  r.dialer.reconnect(r.now);
  r.dialer.on_closed(kCloseAbnormal, r.now);  // the link's late report of the close
  CHECK(r.link.opens == 1);
  CHECK(r.link.closes.size() == 1);
  CHECK(r.owner.states.size() == states);  // the core reports stopping itself
  CHECK(r.owner.calls == std::vector<std::string>{"opened"});
}

TEST_CASE("Dialer: stop() in backoff cancels the retry") {
  Rig r;
  r.dialer.start(r.now);
  r.drop(kCloseAbnormal);
  REQUIRE(r.dialer.retry_at());
  CHECK(r.dialer.stop("client stopped"));
  CHECK(r.link.closes.empty());  // no connection to close
  r.check_idle();
  CHECK(r.link.opens == 1);
}

TEST_CASE("Dialer: reports of a connection it is not on are ignored") {
  Rig r;
  r.dialer.on_open(r.now);
  r.dialer.on_closed(kCloseAbnormal, r.now);
  CHECK(r.owner.calls.empty());
  CHECK(r.owner.states.empty());
  r.dialer.start(r.now);
  r.dialer.on_open(r.now);
  r.dialer.on_open(r.now);  // twice
  CHECK(r.owner.calls == std::vector<std::string>{"opened"});
}

}  // namespace
}  // namespace lobbykit::client
