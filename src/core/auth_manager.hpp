// AuthManager: display names. Names are unique per server under ASCII case folding; a name
// may be protected by a password (Argon2id, hashed and verified on the Worker, never on the
// loop thread). Failed password attempts on a name are throttled.
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/session_manager.hpp"
#include "core/worker.hpp"
#include "protocol/error_code.hpp"
#include "store/store.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lobbykit::core {

class AuthManager {
 public:
  AuthManager(const Limits& limits, Clock& clock, store::Store& store, Worker& worker,
              SessionManager& sessions, EventBus& bus);

  void load(const std::vector<store::NameRecord>& records);

  // The outcome of a name change: an error, or the sessions whose name changed (the caller,
  // and a previous holder that lost a protected name to its password).
  struct Outcome {
    std::optional<protocol::Error> error;
    std::vector<PeerId> renamed;
    bool is_protected = false;
  };
  using Done = std::function<void(Outcome)>;

  // Gives `name` (already validated) to the session. With a password: protects a free name
  // or changes the password of one the session holds, or takes over a protected name when
  // the password matches. done runs on the loop thread, now or after the Worker finished.
  // If the session is gone by then, done still runs, with session_not_found.
  void set_name(const PeerId& peer, const std::string& name,
                std::optional<std::string> password, Done done);

  // Admin: renames a session; fails with name_taken if another session holds the name.
  Outcome admin_rename(const PeerId& peer, const std::string& name);
  // Admin: sets (hashing on the Worker) or clears the password of a claimed name.
  void admin_set_password(const std::string& name, std::optional<std::string> password,
                          Done done);
  // The session is going away: releases its unprotected name. A protected name stays
  // claimed (by nobody) so only its password can take it again.
  void release(const PeerId& peer);

  bool is_protected(const std::string& name) const;

 private:
  struct Claim {
    std::string name;
    PeerId owner;  // "" when the owner session is gone (protected names only)
    std::string password_hash;
  };
  struct Throttle {
    std::uint32_t failures = 0;
    TimeMs locked_until = 0;  // steady
    bool verifying = false;  // one verification in flight per name
  };

  // Moves the name to `peer`, unsetting it from any previous holder; persists.
  Outcome assign(const std::string& key, const std::string& name, const PeerId& peer,
                 std::optional<std::string> password_hash);
  std::optional<protocol::Error> throttled(const std::string& key);
  void record_failure(const std::string& key);
  void persist(const std::string& key);

  const Limits& limits_;
  Clock& clock_;
  store::Store& store_;
  Worker& worker_;
  SessionManager& sessions_;
  EventBus& bus_;
  std::unordered_map<std::string, Claim> claims_;     // by name key
  std::unordered_map<std::string, Throttle> throttle_;
  std::unordered_set<PeerId> busy_;  // sessions with a name change in flight
  // Lets completions that outlive this object notice it is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace lobbykit::core
