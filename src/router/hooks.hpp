// The host's decision hooks as the hub sees them (include/lobbykit/hooks.hpp is the public
// side; docs/embedding.md "Hooks"). A hook is called on the loop thread; its answer comes
// back through the HookGate's post, on the loop thread again, however late. Only router/ and
// the Server include this.
#pragma once

#include <lobbykit/hooks.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace lobbykit::router {

// Every hook the host set; an empty one is not called (the request goes on as without hooks).
struct Hooks {
  AuthHook authenticate;
  JoinHook join;
  CreateLobbyHook create_lobby;
  ChatHook chat;
  // Asked about a member's app_message when set, unless app_message_wants says it has nothing
  // for that message name (then it is delivered without asking).
  AppMessageHook app_message = {};
  std::function<bool(const std::string& name)> app_message_wants = {};
};

// How an answer from any thread reaches the hub: post() runs a closure on the loop thread.
// The hub closes the gate when it goes, so a late answer is dropped instead of reaching it.
class HookGate {
 public:
  using Post = std::function<void(std::function<void()>)>;
  explicit HookGate(Post post) : post_(std::move(post)) {}

  // Runs fn on the loop thread, unless the gate is closed. Any thread.
  void post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (post_) post_(std::move(fn));
  }
  void set_post(Post post) {
    std::lock_guard<std::mutex> lock(mu_);
    if (open_) post_ = std::move(post);
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    post_ = nullptr;
    open_ = false;
  }
  // On the loop thread: whether the hub is still there.
  bool open() {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  Post post_;
  bool open_ = true;
};

}  // namespace lobbykit::router
