#include "client/dialer.hpp"

#include <utility>

namespace lobbykit::client {

void Dialer::start(SteadyMs now) {
  if (final_ || active_) return;
  active_ = true;
  redial_.reset_attempts();
  open_connection(now);
}

void Dialer::reconnect(SteadyMs now) {
  if (final_) return;
  if (!active_) {
    active_ = true;
    redial_.reset_attempts();
    if (!busy_) open_connection(now);
  } else if (redial_.pending()) {
    open_connection(now);
  }
}

bool Dialer::stop(std::string_view reason) {
  if (final_) return false;
  final_ = true;
  active_ = false;
  redial_.cancel();
  accept_deadline_.reset();
  if (busy_) link_.close(1000, reason);
  busy_ = open_ = accepted_ = false;
  return true;
}

void Dialer::open_connection(SteadyMs now) {
  redial_.opening();
  busy_ = true;
  open_ = accepted_ = false;
  accept_deadline_ = now + connect_timeout_ms_;
  owner_.state_changed(ever_accepted_ || redial_.attempt() > 0 ? ConnectionState::reconnecting
                                                               : ConnectionState::connecting);
  link_.open();
}

void Dialer::on_open(SteadyMs now) {
  if (!busy_ || open_) return;
  open_ = true;
  owner_.link_opened(now);
}

void Dialer::on_closed(std::uint16_t code, SteadyMs now) {
  if (busy_) ended(code, now);
}

void Dialer::accepted() {
  accepted_ = true;
  ever_accepted_ = true;
  redial_.reset_attempts();
  accept_deadline_.reset();
}

void Dialer::abandon(std::string_view reason, SteadyMs now) {
  link_.close(1000, reason);
  ended(kCloseAbnormal, now);
}

void Dialer::end(std::string_view reason, SteadyMs now) {
  active_ = false;
  redial_.cancel();
  abandon(reason, now);
}

void Dialer::ended(std::uint16_t code, SteadyMs now) {
  busy_ = open_ = accepted_ = false;
  accept_deadline_.reset();
  owner_.link_ended(now);
  if (!active_) {
    owner_.state_changed(ConnectionState::disconnected);
    return;
  }
  std::optional<ClientError> why_not = owner_.no_retry_after(code);
  if (!why_not) why_not = redial_.schedule(now, link_);
  if (why_not) {
    give_up(*why_not);
    return;
  }
  owner_.state_changed(ConnectionState::reconnecting);
}

void Dialer::give_up(const ClientError& e) {
  active_ = false;
  redial_.cancel();
  owner_.state_changed(ConnectionState::disconnected);
  owner_.gave_up(e);
}

void Dialer::tick(SteadyMs now, std::string_view late_reason) {
  if (accept_deadline_ && now >= *accept_deadline_) abandon(late_reason, now);
  if (redial_.due(now)) open_connection(now);
}

std::optional<SteadyMs> Dialer::next_deadline() const {
  std::optional<SteadyMs> next = redial_.at();
  if (accept_deadline_ && (!next || *accept_deadline_ < *next)) next = accept_deadline_;
  return next;
}

}  // namespace lobbykit::client
