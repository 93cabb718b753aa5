#include "client/redial.hpp"

#include "client/client_core.hpp"  // make_client_error

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace lobbykit::client {

std::uint32_t backoff_delay_ms(const ReconnectPolicy& policy, std::uint32_t attempt, double r) {
  const double grown = std::ldexp(static_cast<double>(policy.initial_delay_ms),
                                  static_cast<int>(std::min<std::uint32_t>(attempt, 30)));
  const double cap = std::min(static_cast<double>(policy.max_delay_ms), grown);
  if (!(r >= 0.0)) r = 0.0;  // also NaN
  if (r >= 1.0) r = std::nextafter(1.0, 0.0);
  return static_cast<std::uint32_t>(std::floor(r * cap));
}

std::optional<ClientError> Redial::schedule(SteadyMs now, Link& link) {
  if (!policy_.enabled) {
    at_.reset();
    return make_client_error("gave_up", "The connection closed and reconnecting is off.");
  }
  if (hint_) {
    if (!hint_->url.empty()) link.retarget(hint_->url);
    attempt_ = 0;
    at_ = now + hint_->after_ms;
    hint_.reset();
    return std::nullopt;
  }
  if (policy_.max_attempts != 0 && attempt_ >= policy_.max_attempts) {
    at_.reset();
    return make_client_error("gave_up",
                             "No connection after " + std::to_string(attempt_) + " attempts.");
  }
  const std::uint32_t delay = backoff_delay_ms(policy_, attempt_, random_ ? random_() : 0.0);
  ++attempt_;
  at_ = now + delay;
  return std::nullopt;
}

}  // namespace lobbykit::client
