// PyProvider: what the Python BotProvider object holds. A lobbykit::BotProvider plus the
// Python callbacks subscribed to it, so they can be dropped under the GIL before it goes.
#pragma once

#include <cstdint>
#include <lobbykit/provider.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "py_callback.hpp"

namespace lobbykit::python {

class PyServer;

class PyProvider {
 public:
  PyProvider(ProviderOptions options);                    // GIL held; a provider of options.url
  PyProvider(PyServer& server, ProviderOptions options);  // GIL held; in-process
  ~PyProvider();                                          // GIL held; stops (GIL released)
  PyProvider(const PyProvider&) = delete;
  PyProvider& operator=(const PyProvider&) = delete;

  BotProvider& provider() { return *provider_; }

  // GIL held for all of these; they release it around lobbykit calls. Callbacks run once,
  // on the loop thread (or at once on this thread when no loop runs), with
  // (error, data_json); error is None or (code, message, field, retry_after_ms).
  std::uint64_t subscribe(py::object callback);
  void unsubscribe(std::uint64_t id);
  void drop_callbacks();
  void accept(const std::string& job_id, py::object callback);
  void decline(const std::string& job_id, const std::string& reason, py::object callback);
  void end_job(const std::string& job_id, const std::string& reason, bool retry,
               py::object callback);
  void drain(py::object callback);

 private:
  std::unique_ptr<BotProvider> provider_;
  std::map<std::uint64_t, std::shared_ptr<PyCallback>> callbacks_;  // GIL
};

}  // namespace lobbykit::python
