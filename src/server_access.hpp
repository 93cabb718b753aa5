// The library's own door into a Server: what an in-process Client needs. Not public API.
#pragma once

#include <lobbykit/server.hpp>

#include "transport/in_process.hpp"

#include <memory>

namespace lobbykit::detail {

struct ServerAccess {
  // The server's in-process connections; shared, so it may outlive the server (closed).
  static std::shared_ptr<transport::InProcessTransport> in_process(Server& server);
};

}  // namespace lobbykit::detail
