// EventBus: synchronous, in-order publish/subscribe of lobbykit::Event on the loop thread.
// A handler may subscribe or unsubscribe (itself too) while an event is being delivered:
// a new handler gets events from the next one on; once unsubscribe returns, that handler is
// not called again, not even for the event being delivered. A throwing handler is reported
// and skipped.
#pragma once

#include <lobbykit/events.hpp>

#include <cstdint>
#include <functional>
#include <deque>

namespace lobbykit::core {

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;
  using Id = std::uint64_t;

  Id subscribe(Handler h);
  void unsubscribe(Id id);
  void publish(const Event& e);
  // Runs fn once the event being delivered has reached every handler (at once when none
  // is): a handler that reacts by changing state, which publishes events of its own, uses it
  // so that every handler sees events in the order the changes happened.
  void defer(std::function<void()> fn);
  std::size_t subscriber_count() const { return handlers_.size(); }

 private:
  struct Entry {
    Id id;
    Handler handler;
    bool removed = false;
  };
  // A deque: subscribing during delivery appends without moving the running handler.
  std::deque<Entry> handlers_;
  Id next_id_ = 1;
  int depth_ = 0;              // >0 while publishing
  std::deque<std::function<void()>> deferred_;  // defer()red until depth_ is 0
  bool pending_erase_ = false; // some entries were unsubscribed during delivery
};

}  // namespace lobbykit::core
