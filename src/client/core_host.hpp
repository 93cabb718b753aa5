// CoreHost: what the Client's and the BotProvider's Impl have in common. A LoopHost that
// drives one sans-IO core (ClientCore, ProviderCore): every report of the loop goes to the
// core with the time, and after each the core's next deadline sets the loop's timer. It also
// keeps the facade's subscribers and hands them the core's events, and the connection state
// any thread may read.
#pragma once

#include <lobbykit/client.hpp>

#include "client/link.hpp"
#include "client/loop_host.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

namespace lobbykit::client {

template <class Core, class Event>
class CoreHost : public LoopHost {
 public:
  // `what` names the facade in the log line of an event handler that throws.
  template <class Options>
  CoreHost(Options options, std::unique_ptr<Loop> loop, const char* what)
      : LoopHost(std::move(loop)), what_(what) {
    core_ = std::make_unique<Core>(
        std::move(options), this->loop(), [this](const Event& e) { dispatch(e); },
        [this] { return unit_(rng_); });
    core_->set_state_observer([this](ConnectionState s) { state_.store(s); });
  }

  static SteadyMs now() { return steady_now_ms(); }

  // The core belongs to the loop thread, or to whoever holds the host's lock while no loop
  // runs (LoopHost::on_loop).
  Core& core() { return *core_; }
  // After every core call on the loop thread: its next deadline is the loop's timer.
  void rearm() { loop().wake_at(core_->next_deadline()); }

  // Any thread.
  ConnectionState state() const { return state_.load(); }
  std::uint64_t subscribe(std::function<void(const Event&)> handler) {
    return on_loop<std::uint64_t>([this, handler = std::move(handler)]() mutable {
      const std::uint64_t id = next_sub_++;
      subs_.push_back(std::make_shared<Sub>(Sub{id, std::move(handler), true}));
      return id;
    });
  }
  void unsubscribe(std::uint64_t id) {
    on_loop<void>([this, id] {
      for (auto it = subs_.begin(); it != subs_.end(); ++it) {
        if ((*it)->id != id) continue;
        (*it)->active = false;  // a dispatch under way skips it from now on
        subs_.erase(it);
        return;
      }
    });
  }

  // LinkListener: the loop reports; loop thread.
  void on_open() override {
    core_->on_open(now());
    rearm();
  }
  void on_text(std::string_view text) override {
    core_->on_text(text, now());
    rearm();
  }
  void on_closed(std::uint16_t code, std::string_view reason) override {
    core_->on_closed(code, reason, now());
    rearm();
  }
  void on_wakeup() override {
    core_->tick(now());
    rearm();
  }

 protected:
  // LoopHost; loop thread.
  void begin() override {
    core_->start(now());
    rearm();
  }
  void halt() override {
    core_->stop(now());
    rearm();
  }

 private:
  struct Sub {
    std::uint64_t id;
    std::function<void(const Event&)> fn;
    bool active = true;
  };

  void dispatch(const Event& e) {
    const auto list = subs_;  // a handler may subscribe or unsubscribe
    for (const auto& s : list) {
      if (!s->active) continue;
      try {
        s->fn(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "lobbykit: a %s event handler threw: %s\n", what_, ex.what());
      } catch (...) {
        std::fprintf(stderr, "lobbykit: a %s event handler threw an unknown exception\n",
                     what_);
      }
    }
  }

  // Loop thread (or under the host's lock while no loop runs), but state_.
  std::unique_ptr<Core> core_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  std::vector<std::shared_ptr<Sub>> subs_;
  std::uint64_t next_sub_ = 1;
  std::atomic<ConnectionState> state_{ConnectionState::disconnected};
  const char* what_;
};

}  // namespace lobbykit::client
