// PyClient: what the Python Client object holds. A lobbykit::Client plus the Python
// callbacks subscribed to it, so they can be dropped under the GIL before the client goes.
#pragma once

#include <cstdint>
#include <lobbykit/client.hpp>
#include <map>
#include <memory>
#include <string>

#include "py_callback.hpp"

namespace lobbykit::python {

class PyServer;

class PyClient {
 public:
  explicit PyClient(ClientOptions options);           // GIL held; a client of options.url
  PyClient(PyServer& server, ClientOptions options);  // GIL held; in-process
  ~PyClient();                                        // GIL held; stops (GIL released)
  PyClient(const PyClient&) = delete;
  PyClient& operator=(const PyClient&) = delete;

  Client& client() { return *client_; }

  // GIL held for all of these; they release it around lobbykit calls.
  std::uint64_t subscribe(py::object callback);
  void unsubscribe(std::uint64_t id);
  void drop_callbacks();
  // callback(error, data_json) once, on the loop thread (or at once on this thread when no
  // loop runs); error is None or (code, message, field, retry_after_ms).
  void request(const std::string& type, const std::string& data_json, py::object callback);
  // callback(error, data_json) once with the outcome of starting (Client::ready), as above.
  void ready(py::object callback);
  // Waits for the reply with the GIL released; returns (error, data_json) as above.
  py::tuple request_blocking(const std::string& type, const std::string& data_json);

 private:
  std::unique_ptr<Client> client_;
  std::map<std::uint64_t, std::shared_ptr<PyCallback>> callbacks_;  // GIL
};

}  // namespace lobbykit::python
