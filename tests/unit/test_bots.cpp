// Tests for core::BotManager (docs/bots.md): providers, dispatches and jobs on a manual
// clock and a MemoryStore, its actions recorded. A "restart" is a second BotManager loading
// the same store.
#include "core/bot_manager.hpp"
#include "core/clock.hpp"
#include "core/event_bus.hpp"
#include "store/store.hpp"

#include <lobbykit/events.hpp>
#include <lobbykit/options.hpp>

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace lobbykit::core {
namespace {

// What the BotManager asked for, as lines ("offer p1 j-… assistant", "cancel …").
class Recorded final : public BotActions {
 public:
  struct Offer {
    std::string provider, job, dispatch;
  };
  void offer(const BotProviderState& p, const Dispatch& d, const BotJob& job) override {
    offers.push_back({p.id, job.id, d.id});
  }
  void cancel(const std::string& provider, const std::string& job, std::string_view reason) override {
    cancels.push_back(provider + " " + job + " " + std::string(reason));
  }
  void drain(const std::string& provider) override { drains.push_back(provider); }
  void close_provider(const std::string& provider) override { closed.push_back(provider); }
  void remove_bot(const PeerId& bot, std::string_view reason) override {
    removed_bots.push_back(bot + " " + std::string(reason));
  }
  std::vector<Offer> offers;
  std::vector<std::string> cancels, drains, closed, removed_bots;
};

struct Rig {
  explicit Rig(Limits l = {}) : limits(l) { start(); }
  void start() {
    bus = std::make_unique<EventBus>();
    bus->subscribe([this](const Event& e) {
      if (auto* u = std::get_if<event::BotDispatchUpdated>(&e)) updates.push_back(*u);
      if (auto* r = std::get_if<event::BotDispatchRemoved>(&e)) removals.push_back(*r);
    });
    bots = std::make_unique<BotManager>(limits, clock, *store, *bus);
    bots->set_actions(&actions);
    bots->set_keys({"secret-key"});
  }
  std::vector<PeerId> restart() {
    store->flush();
    actions = Recorded{};
    start();
    return bots->load(store->load(10).dispatches);
  }

  // A provider that registered and can be offered jobs.
  std::string provider(const std::string& name, std::uint32_t max_jobs = 2,
                       std::vector<std::string> kinds = {"assistant"}) {
    BotManager::Hello h;
    h.key = "secret-key";
    h.name = name;
    h.max_jobs = max_jobs;
    for (const auto& k : kinds) h.kinds.push_back({k, k + " bot"});
    auto r = bots->hello(h);
    REQUIRE(std::holds_alternative<BotManager::Registered>(r));
    auto& reg = std::get<BotManager::Registered>(r);
    tokens[reg.provider->id] = reg.token;
    const std::string id = reg.provider->id;
    bots->status(id, 0, {}, true);
    return id;
  }

  Dispatch& add(const LobbyId& lobby = "lobby-1", const std::string& kind = "assistant",
                const std::string& key = "") {
    auto r = bots->add(lobby, kind, key, "{}");
    REQUIRE(std::holds_alternative<BotManager::Added>(r));
    return *std::get<BotManager::Added>(r).dispatch;
  }

  // Accepts the current offer of d and brings its bot into the lobby.
  PeerId run(Dispatch& d, const PeerId& bot) {
    REQUIRE(d.job);
    auto a = bots->accept(d.job->provider_id, d.job->id);
    REQUIRE(std::holds_alternative<BotManager::Accepted>(a));
    Dispatch* found = bots->credential(std::get<BotManager::Accepted>(a).credential);
    REQUIRE(found == &d);
    bots->bot_authenticated(d, bot);
    bots->bot_joined(bot);
    REQUIRE(d.state == DispatchState::running);
    return bot;
  }

  void advance(TimeMs ms) {
    clock.advance(ms);
    bots->tick();
  }

  Limits limits;
  ManualClock clock;
  std::unique_ptr<store::Store> store = store::make_memory_store();
  std::unique_ptr<EventBus> bus;
  Recorded actions;
  std::unique_ptr<BotManager> bots;
  std::map<std::string, std::string> tokens;
  std::vector<event::BotDispatchUpdated> updates;
  std::vector<event::BotDispatchRemoved> removals;
};

TEST_CASE("BotManager: a wrong provider key is refused, a dispatch of an unknown kind too") {
  Rig rig;
  BotManager::Hello h;
  h.key = "wrong";
  h.name = "x";
  h.kinds = {{"assistant", ""}};
  auto r = rig.bots->hello(h);
  REQUIRE(std::holds_alternative<protocol::Error>(r));
  CHECK(std::get<protocol::Error>(r).code == protocol::ErrorCode::unauthorized);

  auto added = rig.bots->add("lobby-1", "assistant", "", "{}");
  REQUIRE(std::holds_alternative<protocol::Error>(added));
  CHECK(std::get<protocol::Error>(added).code == protocol::ErrorCode::unknown_kind);
}

TEST_CASE("BotManager: keys configured as sha256:HEX work like the key itself") {
  Rig rig;
  BotManager::Hello h;
  h.key = "secret-key";
  h.name = "x";
  h.kinds = {{"assistant", ""}};
  // Another key's hash: refused.
  rig.bots->set_keys({"sha256:" + std::string(64, '0')});
  CHECK(std::holds_alternative<protocol::Error>(rig.bots->hello(h)));
  // SHA-256 of "secret-key" (sha256sum), in capitals: accepted.
  rig.bots->set_keys({"sha256:85DBE15D75EF9308C7AE0F33C7A324CC6F4BF519A2ED2F3027BD33C140A4F9AA"});
  CHECK(std::holds_alternative<BotManager::Registered>(rig.bots->hello(h)));
}

TEST_CASE("BotManager: an offer goes to the least busy provider with room, one at a time") {
  Rig rig;
  const auto p1 = rig.provider("one", 2);
  const auto p2 = rig.provider("two", 2);
  rig.bots->status(p1, 0.5, {}, true);
  Dispatch& d = rig.add();
  REQUIRE(rig.actions.offers.size() == 1);
  CHECK(rig.actions.offers[0].provider == p2);
  CHECK(d.state == DispatchState::starting);
  CHECK(d.job->state == JobState::offered);
}

TEST_CASE("BotManager: no answer within the offer deadline -> the next provider") {
  Rig rig;
  const auto p1 = rig.provider("one");
  const auto p2 = rig.provider("two");
  Dispatch& d = rig.add();
  const std::string first = rig.actions.offers.at(0).provider;
  rig.advance(rig.limits.bot_offer_timeout_ms - 1);
  CHECK(rig.actions.offers.size() == 1);
  rig.advance(1);
  REQUIRE(rig.actions.offers.size() == 2);
  CHECK(rig.actions.offers[1].provider != first);
  CHECK((rig.actions.offers[1].provider == p1 || rig.actions.offers[1].provider == p2));
  CHECK(d.attempts == 1);
  CHECK(rig.actions.cancels.size() == 1);  // the late provider is told
  CHECK(rig.updates.back().dispatch.state == "starting");
}

TEST_CASE("BotManager: a decline goes to the next provider and costs no attempt") {
  Rig rig;
  rig.provider("one");
  rig.provider("two");
  Dispatch& d = rig.add();
  const auto first = rig.actions.offers.at(0);
  CHECK_FALSE(rig.bots->decline(first.provider, first.job));
  REQUIRE(rig.actions.offers.size() == 2);
  CHECK(rig.actions.offers[1].provider != first.provider);
  CHECK(d.attempts == 0);
  // Both declined: waiting with that reason, and tried again after bot_retry_ms.
  const auto second = rig.actions.offers[1];
  CHECK_FALSE(rig.bots->decline(second.provider, second.job));
  CHECK(d.state == DispatchState::waiting);
  CHECK(d.reason == "declined");
  rig.advance(rig.limits.bot_retry_ms);
  CHECK(rig.actions.offers.size() == 3);
  // A decline of a job that is not offered to that provider is job_not_found.
  auto e = rig.bots->decline(first.provider, second.job);
  REQUIRE(e);
  CHECK(e->code == protocol::ErrorCode::job_not_found);
}

TEST_CASE("BotManager: a provider's heartbeats do not put off the retry of what it declined") {
  // The provider declines (it was still finishing a job), then keeps sending its status more
  // often than bot_retry_ms, as with the defaults (5 s against 10 s). Each status places the
  // waiting dispatches again; that must not wind their retry clock again, or the dispatch
  // waits for as long as the provider lives. The server ticks once a second; the statuses
  // come between ticks, also between the retry's due time and the tick that runs it.
  Rig rig;
  const auto p = rig.provider("one", 1);
  Dispatch& d = rig.add();
  const auto offer = rig.actions.offers.at(0);
  const TimeMs declined_at = rig.clock.now_ms();
  CHECK_FALSE(rig.bots->decline(offer.provider, offer.job));
  CHECK(d.reason == "declined");
  REQUIRE(rig.actions.offers.size() == 1);
  // Ticks 0.9 s after the decline and every second from then; statuses at 0.25 s and every
  // half second: one comes 250 ms after the retry is due, before the tick.
  TimeMs offered_at = -1;
  while (offered_at < 0 && rig.clock.now_ms() - declined_at < 3 * rig.limits.bot_retry_ms) {
    rig.clock.advance(50);
    const TimeMs since = rig.clock.now_ms() - declined_at;
    if (since % 1000 == 900) rig.bots->tick();
    if (since % 500 == 250) rig.bots->status(p, 0, {}, true);
    if (rig.actions.offers.size() > 1) offered_at = rig.clock.now_ms();
  }
  REQUIRE(offered_at >= 0);
  CHECK(rig.actions.offers[1].provider == p);
  CHECK(d.state == DispatchState::starting);
  CHECK(offered_at - declined_at >= rig.limits.bot_retry_ms);
  CHECK(offered_at - declined_at <= rig.limits.bot_retry_ms + 1000);  // the next tick
}

TEST_CASE("BotManager: a declined dispatch is retried even while its reason keeps flipping") {
  // The provider that declined fills and empties with other lobbies' offers: the waiting
  // dispatch is placed again each time, as no_capacity while the decliner is full and as
  // declined when it has room. Neither flip may wind its retry clock again.
  Rig rig;
  const auto p = rig.provider("one", 1, {"assistant"});
  const auto q = rig.provider("two", 1, {"reader"});
  Dispatch& a = rig.add("lobby-a");
  const auto offer = rig.actions.offers.at(0);
  REQUIRE(offer.provider == p);
  const TimeMs declined_at = rig.clock.now_ms();
  CHECK_FALSE(rig.bots->decline(p, offer.job));
  CHECK(a.reason == "declined");
  auto offers_of_a = [&] {
    int n = 0;
    for (const auto& o : rig.actions.offers) n += o.dispatch == a.id;
    return n;
  };
  TimeMs offered_at = -1;
  bool flipped = false;
  for (int round = 0; offered_at < 0 && round < 30; ++round) {
    // Another lobby's assistant fills p; a reader job ending on q places what waits.
    const std::string lobby = "lobby-" + std::to_string(round);
    Dispatch& x = rig.add(lobby, "assistant");
    Dispatch& y = rig.add(lobby, "reader");
    if (x.job && x.job->provider_id == p && y.job && y.job->provider_id == q) {
      CHECK_FALSE(rig.bots->decline(q, y.job->id));
      flipped = flipped || a.reason == "no_capacity";
      CHECK_FALSE(rig.bots->decline(p, x.job->id));  // p has room again
    }
    rig.bots->remove(x.id, "removed");
    rig.bots->remove(y.id, "removed");
    for (const auto& provider : {p, q}) {  // the providers' heartbeats
      rig.bots->seen(provider);
      rig.bots->status(provider, 0, {}, true);
    }
    rig.advance(1'000);  // a tick a second
    if (offers_of_a() > 1) offered_at = rig.clock.now_ms();
  }
  CHECK(flipped);
  REQUIRE(offered_at >= 0);
  CHECK(offered_at - declined_at <= rig.limits.bot_retry_ms + 1000);
}

TEST_CASE("BotManager: capacity is respected, a freed slot serves the waiting dispatch") {
  Rig rig;
  const auto p = rig.provider("one", 1);
  Dispatch& a = rig.add("lobby-1");
  Dispatch& b = rig.add("lobby-2");
  CHECK(a.state == DispatchState::starting);
  CHECK(b.state == DispatchState::waiting);
  CHECK(b.reason == "no_capacity");
  CHECK(rig.actions.offers.size() == 1);
  rig.run(a, "bot-a");
  CHECK(rig.actions.offers.size() == 1);
  // The provider ends a's job: the dispatch is done, and b gets the slot.
  CHECK_FALSE(rig.bots->end_job(p, a.job->id, "bye", false));
  REQUIRE(rig.actions.offers.size() == 2);
  CHECK(b.state == DispatchState::starting);
  CHECK(rig.removals.back().reason == "ended_by_bot");
  CHECK(rig.actions.removed_bots == std::vector<std::string>{"bot-a left"});
}

TEST_CASE("BotManager: a kind no provider offers waits as no_provider until one registers") {
  Rig rig;
  rig.provider("one", 2, {"assistant", "reader"});
  Dispatch& d = rig.add("lobby-1", "reader");
  const std::string p = d.job->provider_id;
  // The only reader provider goes away for good.
  rig.bots->disconnected(p, "closed");
  rig.advance(rig.limits.bot_reclaim_ms);
  CHECK(d.state == DispatchState::waiting);
  CHECK(d.reason == "no_provider");
  rig.provider("two", 1, {"reader"});
  CHECK(d.state == DispatchState::starting);
}

TEST_CASE("BotManager: a closed provider's jobs go elsewhere after the reclaim window") {
  Rig rig;
  const auto p1 = rig.provider("one");
  Dispatch& d = rig.add();
  rig.run(d, "bot-1");
  const auto p2 = rig.provider("two");
  rig.bots->disconnected(p1, "closed");
  rig.advance(rig.limits.bot_reclaim_ms - 1);
  CHECK(d.state == DispatchState::running);
  CHECK(rig.actions.removed_bots.empty());
  rig.advance(1);
  // The old bot leaves cleanly, the job is offered to the second provider.
  CHECK(rig.actions.removed_bots == std::vector<std::string>{"bot-1 bot_replaced"});
  REQUIRE(d.job);
  CHECK(d.job->provider_id == p2);
  CHECK(d.attempts == 1);
  CHECK(rig.bots->provider(p1) == nullptr);
}

TEST_CASE("BotManager: a silent provider is closed, then loses its jobs like a closed one") {
  Rig rig;
  const auto p1 = rig.provider("one");
  Dispatch& d = rig.add();
  rig.run(d, "bot-1");
  rig.advance(rig.limits.bot_silence_ms / 2);
  rig.bots->seen(p1);
  rig.advance(rig.limits.bot_silence_ms - 1);
  CHECK(rig.actions.closed.empty());
  rig.advance(1);
  CHECK(rig.actions.closed == std::vector<std::string>{p1});
  rig.advance(rig.limits.bot_reclaim_ms);
  // Its job ended provider_lost; with no provider left the dispatch waits for one.
  CHECK(d.state == DispatchState::waiting);
  CHECK(d.reason == "no_provider");
  CHECK(d.attempts == 1);
  bool lost = false;
  for (const auto& u : rig.updates) lost = lost || u.job_reason == "provider_lost";
  CHECK(lost);
}

TEST_CASE("BotManager: a step of the wall clock neither silences providers nor holds deadlines up") {
  Rig rig;
  const auto p1 = rig.provider("one");
  Dispatch& d = rig.add();
  REQUIRE(rig.actions.offers.size() == 1);

  rig.clock.step_wall(3'600'000);  // forward: nobody fell silent, no offer is late
  rig.bots->tick();
  CHECK(rig.actions.closed.empty());
  CHECK(rig.actions.cancels.empty());
  CHECK(d.job->state == JobState::offered);

  rig.clock.step_wall(-7'200'000);  // back: the offer's deadline still comes on time
  rig.advance(rig.limits.bot_offer_timeout_ms);
  CHECK(rig.actions.cancels.size() == 1);
  CHECK(d.attempts == 1);
  // And a silent provider is still closed bot_silence_ms after it was last seen.
  rig.advance(rig.limits.bot_silence_ms - rig.limits.bot_offer_timeout_ms);
  CHECK(rig.actions.closed == std::vector<std::string>{p1});
}

TEST_CASE("BotManager: a provider that resumes within the reclaim window keeps its jobs") {
  Rig rig;
  const auto p1 = rig.provider("one");
  Dispatch& d = rig.add();
  rig.run(d, "bot-1");
  const std::string job = d.job->id;
  rig.bots->disconnected(p1, "closed");
  rig.advance(rig.limits.bot_reclaim_ms - 1);
  BotManager::Hello h;
  h.key = "secret-key";
  h.name = "one";
  h.kinds = {{"assistant", ""}};
  h.max_jobs = 2;
  h.resume_id = p1;
  h.resume_token = rig.tokens[p1];
  auto r = rig.bots->hello(h);
  REQUIRE(std::holds_alternative<BotManager::Registered>(r));
  CHECK(std::get<BotManager::Registered>(r).resumed);
  rig.advance(rig.limits.bot_reclaim_ms * 2);
  CHECK(d.state == DispatchState::running);
  CHECK(d.job->id == job);
  CHECK(rig.actions.removed_bots.empty());

  // A wrong token is a fresh provider, not a resume.
  h.resume_token = "nope";
  auto fresh = rig.bots->hello(h);
  REQUIRE(std::holds_alternative<BotManager::Registered>(fresh));
  CHECK_FALSE(std::get<BotManager::Registered>(fresh).resumed);
  CHECK(std::get<BotManager::Registered>(fresh).provider->id != p1);
}

TEST_CASE("BotManager: a job listed in status that the provider does not hold is cancelled") {
  Rig rig;
  const auto p = rig.provider("one");
  rig.bots->status(p, 0, {"j-ghost"}, true);
  CHECK(rig.actions.cancels == std::vector<std::string>{p + " j-ghost unknown_job"});
}

TEST_CASE("BotManager: max attempts -> failed with the last reason, add again restarts it") {
  Limits l;
  l.bot_max_attempts = 2;
  l.bot_silence_ms = 60'000;  // the provider stays, only its bots fail
  Rig rig(l);
  rig.provider("one");
  Dispatch& d = rig.add();
  // Accepted, but the bot never joins: join_timeout, twice (the second offer comes at once).
  for (int i = 0; i < 2; ++i) {
    REQUIRE(d.job);
    REQUIRE(std::holds_alternative<BotManager::Accepted>(
        rig.bots->accept(d.job->provider_id, d.job->id)));
    rig.advance(rig.limits.bot_join_timeout_ms);
  }
  CHECK(d.state == DispatchState::failed);
  CHECK(d.reason == "join_timeout");
  CHECK(d.attempts == 2);
  CHECK_FALSE(d.job);
  auto again = rig.bots->add("lobby-1", "assistant", "", "{}");
  REQUIRE(std::holds_alternative<BotManager::Added>(again));
  CHECK_FALSE(std::get<BotManager::Added>(again).created);
  CHECK(d.state == DispatchState::starting);
  CHECK(d.attempts == 0);
}

TEST_CASE("BotManager: a used or late credential does not work") {
  Rig rig;
  rig.provider("one");
  Dispatch& d = rig.add();
  auto a = rig.bots->accept(d.job->provider_id, d.job->id);
  const std::string credential = std::get<BotManager::Accepted>(a).credential;
  CHECK(rig.bots->credential("not-it") == nullptr);
  REQUIRE(rig.bots->credential(credential) == &d);
  rig.bots->bot_authenticated(d, "bot-1");
  CHECK(rig.bots->credential(credential) == nullptr);

  Dispatch& e = rig.add("lobby-2");
  auto b = rig.bots->accept(e.job->provider_id, e.job->id);
  const std::string late = std::get<BotManager::Accepted>(b).credential;
  rig.clock.advance(rig.limits.bot_join_timeout_ms);
  CHECK(rig.bots->credential(late) == nullptr);
}

TEST_CASE("BotManager: a bot that leaves its lobby fails its job, which is offered again") {
  Rig rig;
  rig.provider("one");
  Dispatch& d = rig.add();
  rig.run(d, "bot-1");
  rig.bots->bot_gone("bot-1");
  CHECK(d.attempts == 1);
  CHECK(d.state == DispatchState::starting);
  // The leaving session is not removed a second time.
  CHECK(rig.actions.removed_bots.empty());
}

TEST_CASE("BotManager: drain stops offers, running jobs go on") {
  Rig rig;
  const auto p = rig.provider("one", 4);
  Dispatch& d = rig.add("lobby-1");
  rig.run(d, "bot-1");
  CHECK(rig.bots->drain(p, true));
  CHECK(rig.actions.drains == std::vector<std::string>{p});
  Dispatch& e = rig.add("lobby-2");
  CHECK(e.state == DispatchState::waiting);
  CHECK(e.reason == "no_capacity");
  CHECK(d.state == DispatchState::running);
  CHECK_FALSE(rig.bots->drain("p-unknown", true));
}

TEST_CASE("BotManager: removing a lobby ends its jobs and removes its dispatches") {
  Rig rig;
  const auto p = rig.provider("one", 4);
  Dispatch& d = rig.add("lobby-1", "assistant", "a");
  rig.run(d, "bot-1");
  const std::string job = d.job->id;
  rig.add("lobby-1", "assistant", "b");
  rig.add("lobby-2", "assistant", "a");
  rig.bots->remove_lobby("lobby-1", "lobby_removed");
  CHECK(rig.bots->in_lobby("lobby-1").empty());
  CHECK(rig.bots->in_lobby("lobby-2").size() == 1);
  CHECK(rig.actions.removed_bots == std::vector<std::string>{"bot-1 left"});
  CHECK(rig.actions.cancels.at(0) == p + " " + job + " lobby_removed");
  CHECK(rig.removals.size() == 2);
  CHECK(rig.removals[0].reason == "lobby_removed");
  CHECK(rig.bots->provider(p)->jobs.size() == 1);
}

TEST_CASE("BotManager: keys are per lobby, and quotas hold") {
  Limits l;
  l.max_bots_per_lobby = 2;
  l.max_dispatches = 3;
  Rig rig(l);
  rig.provider("one", 10);
  Dispatch& a = rig.add("lobby-1", "assistant", "");
  CHECK(a.key == "assistant");
  auto same = rig.bots->add("lobby-1", "assistant", "assistant", "{}");
  CHECK(std::get<BotManager::Added>(same).dispatch == &a);
  rig.add("lobby-1", "assistant", "second");
  auto third = rig.bots->add("lobby-1", "assistant", "third", "{}");
  REQUIRE(std::holds_alternative<protocol::Error>(third));
  CHECK(std::get<protocol::Error>(third).code == protocol::ErrorCode::bot_quota);
  rig.add("lobby-2");
  auto over = rig.bots->add("lobby-3", "assistant", "", "{}");
  REQUIRE(std::holds_alternative<protocol::Error>(over));
  CHECK(std::get<protocol::Error>(over).code == protocol::ErrorCode::too_many_dispatches);
}

TEST_CASE("BotManager: after a restart dispatches are restored waiting, old bots named") {
  Rig rig;
  rig.provider("one", 4);
  Dispatch& d = rig.add("lobby-1", "assistant", "a");
  rig.run(d, "bot-1");
  const std::string id = d.id;
  rig.add("lobby-2", "assistant", "b");
  const auto stale = rig.restart();
  CHECK(stale == std::vector<PeerId>{"bot-1"});
  REQUIRE(rig.bots->count() == 2);
  Dispatch* restored = rig.bots->find(id);
  REQUIRE(restored);
  CHECK(restored->state == DispatchState::waiting);
  CHECK(restored->key == "a");
  // Jobs did not survive: a provider gets both offers once it registers.
  rig.provider("two", 4);
  CHECK(rig.actions.offers.size() == 2);
  CHECK(restored->state == DispatchState::starting);
}

}  // namespace
}  // namespace lobbykit::core

namespace lobbykit::core {
namespace {

TEST_CASE("BotManager: a bot that fails right after joining ends failed, one that ran starts anew") {
  Limits l;
  l.bot_max_attempts = 3;
  l.bot_silence_ms = 10 * 60'000;
  Rig rig(l);
  rig.provider("one", 4);
  Dispatch& d = rig.add();
  // Crashes at once, three times: failed (not restarted forever).
  for (int i = 0; i < 3; ++i) {
    REQUIRE(d.job);
    rig.run(d, "bot-" + std::to_string(i));
    rig.bots->bot_gone("bot-" + std::to_string(i));
  }
  CHECK(d.state == DispatchState::failed);
  CHECK(d.reason == "bot_left");
  // Started again; this time the bot runs a while before it fails: a fresh count.
  rig.bots->add("lobby-1", "assistant", "", "{}");
  rig.run(d, "bot-a");
  rig.bots->bot_gone("bot-a");
  CHECK(d.attempts == 1);
  rig.run(d, "bot-b");
  rig.clock.advance(kStableJobMs);
  rig.bots->bot_gone("bot-b");
  CHECK(d.attempts == 1);
  CHECK(d.state == DispatchState::starting);
}

}  // namespace
}  // namespace lobbykit::core
