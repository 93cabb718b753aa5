#include "core/event_bus.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace lobbykit::core {

EventBus::Id EventBus::subscribe(Handler h) {
  Id id = next_id_++;
  handlers_.push_back(Entry{id, std::move(h)});
  return id;
}

void EventBus::unsubscribe(Id id) {
  for (auto& e : handlers_) {
    if (e.id != id) continue;
    if (depth_ > 0) {
      // Delivery is iterating: mark the entry now, erase it after delivery.
      e.removed = true;
      pending_erase_ = true;
    } else {
      handlers_.erase(std::find_if(handlers_.begin(), handlers_.end(),
                                   [id](const Entry& x) { return x.id == id; }));
    }
    return;
  }
}

void EventBus::publish(const Event& e) {
  ++depth_;
  // Index loop: a handler may subscribe (push_back) while we iterate; new handlers get
  // the next event, not this one.
  const std::size_t n = handlers_.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (handlers_[i].removed) continue;
    try {
      handlers_[i].handler(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "lobbykit: event handler for %s threw: %s\n", event_name(e),
                   ex.what());
    } catch (...) {
      std::fprintf(stderr, "lobbykit: event handler for %s threw\n", event_name(e));
    }
  }
  if (--depth_ == 0 && pending_erase_) {
    handlers_.erase(std::remove_if(handlers_.begin(), handlers_.end(),
                                   [](const Entry& x) { return x.removed; }),
                    handlers_.end());
    pending_erase_ = false;
  }
  // Deferred work runs outside any delivery, first deferred first; what it publishes is
  // delivered (and may defer more) before the next one runs.
  while (depth_ == 0 && !deferred_.empty()) {
    std::function<void()> fn = std::move(deferred_.front());
    deferred_.pop_front();
    fn();
  }
}

void EventBus::defer(std::function<void()> fn) {
  if (depth_ == 0) {
    fn();
    return;
  }
  deferred_.push_back(std::move(fn));
}

}  // namespace lobbykit::core
