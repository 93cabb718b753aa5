// lobbykit::Server: the signaling server, embeddable in any program.
//
// Threading: a Server owns one loop thread that owns all its state. run() makes the calling
// thread that loop; start() spawns one. stop(), post(), port() and subscribe()/unsubscribe()
// are safe from any thread. Event handlers run on the loop thread and must not block.
#pragma once

#include <lobbykit/events.hpp>
#include <lobbykit/export.hpp>
#include <lobbykit/options.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>

namespace lobbykit {

// Thrown by the Server constructor when it cannot listen or open its store.
class LOBBYKIT_API StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using SubscriptionId = std::uint64_t;

namespace detail {
struct ServerAccess;  // lets a Client in the same process attach (src/server_access.hpp)
}

class LOBBYKIT_API Server {
 public:
  // Opens the store and binds the listening socket (so port() is known on return).
  explicit Server(ServerOptions options);
  ~Server();  // stops the loop if running, flushes the store
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void run();    // serves on the calling thread until stop(); returns after a clean shutdown
  void start();  // serves on a thread of its own
  // Closes every client with 1001, flushes the store, ends run() / joins the thread.
  // Idempotent; safe from any thread, including from an event handler.
  void stop();

  std::uint16_t port() const;  // the bound port (useful with options.port = 0)

  // Runs fn on the loop thread soon. Safe from any thread; after stop() fn is dropped.
  void post(std::function<void()> fn);

  // Handlers run on the loop thread, in subscription order, for every event.
  SubscriptionId subscribe(std::function<void(const Event&)> handler);
  void unsubscribe(SubscriptionId id);

 private:
  friend struct detail::ServerAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit
