#include "core/auth_manager.hpp"

#include "core/password.hpp"
#include "protocol/messages.hpp"

#include <algorithm>
#include <exception>

namespace lobbykit::core {

using protocol::Error;
using protocol::ErrorCode;
using protocol::make_error;

AuthManager::AuthManager(const Limits& limits, Clock& clock, store::Store& store,
                         Worker& worker, SessionManager& sessions, EventBus& bus)
    : limits_(limits), clock_(clock), store_(store), worker_(worker), sessions_(sessions),
      bus_(bus) {}

void AuthManager::load(const std::vector<store::NameRecord>& records) {
  for (const auto& r : records) claims_[r.key] = Claim{r.name, r.owner, r.password_hash};
}

bool AuthManager::is_protected(const std::string& name) const {
  auto it = claims_.find(protocol::name_key(name));
  return it != claims_.end() && !it->second.password_hash.empty();
}

void AuthManager::persist(const std::string& key) {
  auto it = claims_.find(key);
  if (it == claims_.end()) {
    store_.delete_name(key);
  } else {
    const Claim& c = it->second;
    store_.put_name(store::NameRecord{key, c.name, c.owner, c.password_hash});
  }
}

AuthManager::Outcome AuthManager::assign(const std::string& key, const std::string& name,
                                         const PeerId& peer,
                                         std::optional<std::string> password_hash) {
  Outcome out;
  Session* s = sessions_.find(peer);
  if (!s) {
    out.error = make_error(ErrorCode::session_not_found, "The session no longer exists.");
    return out;
  }
  // Let go of the name the session held under another key.
  if (!s->name.empty()) {
    std::string old_key = protocol::name_key(s->name);
    if (old_key != key) {
      auto old = claims_.find(old_key);
      if (old != claims_.end() && old->second.owner == peer) {
        if (old->second.password_hash.empty()) claims_.erase(old);
        else old->second.owner.clear();
        persist(old_key);
      }
    }
  }
  Claim& claim = claims_[key];
  // A previous holder loses the name (it was taken over with the password).
  if (!claim.owner.empty() && claim.owner != peer) {
    if (Session* prev = sessions_.find(claim.owner)) {
      std::string prev_name = prev->name;
      sessions_.set_name(*prev, "");
      bus_.publish(event::NameChanged{prev->peer_id, prev_name, ""});
      out.renamed.push_back(prev->peer_id);
    }
  }
  claim.name = name;
  claim.owner = peer;
  if (password_hash) claim.password_hash = std::move(*password_hash);
  out.is_protected = !claim.password_hash.empty();
  persist(key);

  std::string old_name = s->name;
  if (old_name != name) {
    sessions_.set_name(*s, name);
    bus_.publish(event::NameChanged{peer, old_name, name});
  }
  out.renamed.push_back(peer);
  return out;
}

std::optional<Error> AuthManager::throttled(const std::string& key) {
  auto it = throttle_.find(key);
  if (it == throttle_.end()) return std::nullopt;
  TimeMs now = clock_.steady_ms();
  if (it->second.locked_until > now) {
    Error e = make_error(ErrorCode::too_many_attempts,
                  "Too many wrong passwords for this name; try again later.");
    e.retry_after_ms = it->second.locked_until - now;
    return e;
  }
  if (it->second.verifying) {
    Error e = make_error(ErrorCode::too_many_attempts,
                  "A password check for this name is already running; try again shortly.");
    e.retry_after_ms = 1000;
    return e;
  }
  return std::nullopt;
}

void AuthManager::record_failure(const std::string& key) {
  Throttle& t = throttle_[key];
  ++t.failures;
  if (t.failures >= limits_.password_attempts) {
    std::uint32_t extra = std::min<std::uint32_t>(t.failures - limits_.password_attempts, 10);
    t.locked_until = clock_.steady_ms() + (static_cast<TimeMs>(limits_.password_lockout_ms) << extra);
  }
}

void AuthManager::set_name(const PeerId& peer, const std::string& name,
                           std::optional<std::string> password, Done done) {
  if (!sessions_.find(peer)) {
    done(Outcome{make_error(ErrorCode::session_not_found, "The session no longer exists."), {}, false});
    return;
  }
  if (busy_.count(peer)) {
    Error e = make_error(ErrorCode::too_many_attempts,
                  "A name change for this session is already in progress.");
    e.retry_after_ms = 1000;
    done(Outcome{e, {}, false});
    return;
  }
  const std::string key = protocol::name_key(name);
  auto it = claims_.find(key);
  const bool mine = it != claims_.end() && it->second.owner == peer;
  const bool free = it == claims_.end();

  if (free || mine) {
    if (!password) {
      done(assign(key, name, peer, std::nullopt));
      return;
    }
    // Protect the name (or change its password): hash off the loop thread.
    busy_.insert(peer);
    PasswordCost cost{limits_.argon2_memory_kib, limits_.argon2_iterations};
    std::weak_ptr<bool> alive = alive_;
    worker_.submit([this, alive, peer, key, name, pw = std::move(*password), cost,
                    done = std::move(done)]() mutable -> Completion {
      std::string hash;
      try {
        hash = hash_password(pw, cost);
      } catch (const std::exception&) {
        hash.clear();  // reported below, on the loop thread
      }
      return [this, alive, peer, key, name, hash = std::move(hash),
              done = std::move(done)]() mutable {
        if (alive.expired()) return;
        busy_.erase(peer);
        if (hash.empty()) {
          done(Outcome{make_error(ErrorCode::internal_error, "The password could not be hashed."),
                       {}, false});
          return;
        }
        auto now = claims_.find(key);
        if (now != claims_.end() && !now->second.owner.empty() && now->second.owner != peer) {
          done(Outcome{make_error(ErrorCode::name_taken, "Someone else took that name meanwhile."),
                       {}, false});
          return;
        }
        if (now != claims_.end() && now->second.owner.empty() &&
            !now->second.password_hash.empty()) {
          done(Outcome{make_error(ErrorCode::password_required,
                           "That name is protected by a password."), {}, false});
          return;
        }
        done(assign(key, name, peer, std::move(hash)));
      };
    });
    return;
  }

  Claim& claim = it->second;
  if (claim.password_hash.empty()) {
    done(Outcome{make_error(ErrorCode::name_taken, "That name is already in use."), {}, false});
    return;
  }
  if (!password) {
    done(Outcome{make_error(ErrorCode::password_required,
                     "That name is protected by a password; give the password to use it."),
                 {}, false});
    return;
  }
  if (auto e = throttled(key)) {
    done(Outcome{*e, {}, false});
    return;
  }
  throttle_[key].verifying = true;
  busy_.insert(peer);
  std::weak_ptr<bool> alive = alive_;
  worker_.submit([this, alive, peer, key, name, pw = std::move(*password),
                  hash = claim.password_hash, done = std::move(done)]() mutable -> Completion {
    bool ok = verify_password(pw, hash);
    return [this, alive, peer, key, name, ok, hash, done = std::move(done)]() mutable {
      if (alive.expired()) return;
      busy_.erase(peer);
      throttle_[key].verifying = false;
      auto now = claims_.find(key);
      if (now == claims_.end() || now->second.password_hash != hash) {
        done(Outcome{make_error(ErrorCode::wrong_password,
                         "The name's password changed meanwhile; try again."), {}, false});
        return;
      }
      if (!ok) {
        record_failure(key);
        done(Outcome{make_error(ErrorCode::wrong_password, "Wrong password for that name."), {},
                     false});
        return;
      }
      throttle_.erase(key);
      done(assign(key, name, peer, std::nullopt));
    };
  });
}

AuthManager::Outcome AuthManager::admin_rename(const PeerId& peer, const std::string& name) {
  const std::string key = protocol::name_key(name);
  auto it = claims_.find(key);
  if (it != claims_.end() && it->second.owner != peer &&
      (!it->second.owner.empty() || !it->second.password_hash.empty())) {
    return Outcome{make_error(ErrorCode::name_taken, "That name is already in use."), {}, false};
  }
  return assign(key, name, peer, std::nullopt);
}

void AuthManager::admin_set_password(const std::string& name,
                                     std::optional<std::string> password, Done done) {
  const std::string key = protocol::name_key(name);
  if (!claims_.count(key)) {
    done(Outcome{make_error(ErrorCode::name_not_found, "Nobody holds that name."), {}, false});
    return;
  }
  if (!password) {
    Claim& c = claims_[key];
    c.password_hash.clear();
    if (c.owner.empty()) claims_.erase(key);
    throttle_.erase(key);
    persist(key);
    done(Outcome{std::nullopt, {}, false});
    return;
  }
  PasswordCost cost{limits_.argon2_memory_kib, limits_.argon2_iterations};
  std::weak_ptr<bool> alive = alive_;
  worker_.submit([this, alive, key, pw = std::move(*password), cost,
                  done = std::move(done)]() mutable -> Completion {
    std::string hash;
    try {
      hash = hash_password(pw, cost);
    } catch (const std::exception&) {
      hash.clear();  // reported below, on the loop thread
    }
    return [this, alive, key, hash = std::move(hash), done = std::move(done)]() mutable {
      if (alive.expired()) return;
      if (hash.empty()) {
        done(Outcome{make_error(ErrorCode::internal_error, "The password could not be hashed."),
                     {}, false});
        return;
      }
      auto it = claims_.find(key);
      if (it == claims_.end()) {
        done(Outcome{make_error(ErrorCode::name_not_found, "Nobody holds that name."), {}, false});
        return;
      }
      it->second.password_hash = std::move(hash);
      throttle_.erase(key);
      persist(key);
      done(Outcome{std::nullopt, {}, true});
    };
  });
}

void AuthManager::release(const PeerId& peer) {
  for (auto it = claims_.begin(); it != claims_.end(); ++it) {
    if (it->second.owner != peer) continue;
    std::string key = it->first;
    if (it->second.password_hash.empty()) claims_.erase(it);
    else it->second.owner.clear();
    persist(key);
    return;
  }
}

}  // namespace lobbykit::core
