// PyServer: what the Python Server object holds. A lobbykit::Server plus the Python
// callbacks subscribed to it, so they can be dropped under the GIL before the server goes.
#pragma once

#include <cstdint>
#include <lobbykit/server.hpp>
#include <map>
#include <string>
#include <memory>

#include "py_callback.hpp"

namespace lobbykit::python {

class PyServer {
 public:
  explicit PyServer(ServerOptions options);  // GIL held; opens the store, binds the port
  ~PyServer();                               // GIL held; stops the server (GIL released)
  PyServer(const PyServer&) = delete;
  PyServer& operator=(const PyServer&) = delete;

  Server& server() { return *server_; }

  // GIL held for all of these; they release it around lobbykit calls.
  std::uint64_t subscribe(py::object callback);
  void unsubscribe(std::uint64_t id);
  void drop_callbacks();
  // Sets (callback not None) or removes a decision hook by name; callback(request_json,
  // decision) runs on the loop thread. ValueError for an unknown name.
  void set_hook(const std::string& name, py::object callback);
  // The same for the app_message handler of one message name ("" : every other name).
  void set_app_message_hook(const std::string& name, py::object callback);

 private:
  // Hands a JsonHook around callback (None: an empty one) to set, and keeps the callback
  // under key (dropping the one it replaces).
  void install_hook(const std::string& key, py::object callback,
                    const std::function<void(JsonHook)>& set);
  std::unique_ptr<Server> server_;
  std::map<std::uint64_t, std::shared_ptr<PyCallback>> callbacks_;  // GIL
  std::map<std::string, std::shared_ptr<PyCallback>> hooks_;        // GIL
};

}  // namespace lobbykit::python
