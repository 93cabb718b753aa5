// InProcessLoop: the loop of a Client attached to a Server in the same process. A plain
// task queue with a timer stands in for the network loop; the link is an in-process
// connection (transport/in_process.hpp): frames go to the server's loop as posted tasks and
// the server's frames come back to this loop as tasks.
#pragma once

#include "client/link.hpp"

#include <memory>

namespace lobbykit::transport {
class InProcessTransport;
}

namespace lobbykit::client {

class InProcessLoop final : public Loop {
 public:
  // server: from detail::ServerAccess; may be closed already (every open then fails).
  explicit InProcessLoop(std::shared_ptr<transport::InProcessTransport> server);
  ~InProcessLoop() override;  // not while run() runs
  InProcessLoop(const InProcessLoop&) = delete;
  InProcessLoop& operator=(const InProcessLoop&) = delete;

  void run(LinkListener& listener) override;
  bool post(std::function<void()> fn) override;
  void request_stop() override;
  void wake_at(std::optional<SteadyMs> at) override;

  void open() override;
  void send(std::string text) override;
  void close(std::uint16_t code, std::string_view reason) override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit::client
