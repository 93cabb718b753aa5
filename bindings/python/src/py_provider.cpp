// The BotProvider binding. Event and reply callbacks run on the provider's loop thread with
// the GIL taken there.
#include "py_provider.hpp"

#include <pybind11/stl.h>

#include <utility>
#include <vector>

#include "bindings.hpp"
#include "interpreter.hpp"
#include "py_server.hpp"

namespace lobbykit::python {
namespace {

// GIL held.
py::object error_args(const std::optional<ClientError>& error) {
  if (!error) return py::none();
  const ClientError& e = *error;
  return py::make_tuple(
      e.code, e.message, e.field.empty() ? py::object(py::none()) : py::str(e.field),
      e.retry_after_ms >= 0 ? py::object(py::int_(e.retry_after_ms)) : py::object(py::none()));
}

ReplyCallback reply_to(std::shared_ptr<PyCallback> cb) {
  return [cb](const Reply& r) {
    cb->call([&r] { return py::make_tuple(error_args(r.error), r.data_json); }, /*once=*/true);
  };
}

}  // namespace

PyProvider::PyProvider(ProviderOptions options) {
  GilReleased released;
  provider_ = std::make_unique<BotProvider>(std::move(options));
}

PyProvider::PyProvider(PyServer& server, ProviderOptions options) {
  GilReleased released;
  provider_ = std::make_unique<BotProvider>(server.server(), std::move(options));
}

PyProvider::~PyProvider() {
  drop_callbacks();
  GilReleased released;  // ~BotProvider stops and joins the loop, which may want the GIL
  provider_.reset();
}

std::uint64_t PyProvider::subscribe(py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  std::uint64_t id = 0;
  {
    GilReleased released;
    id = provider_->subscribe([cb](const ProviderEvent& e) {
      const std::string json = provider_event_to_json(e);
      cb->call([&json] { return py::make_tuple(json); });
    });
  }
  callbacks_[id] = std::move(cb);
  return id;
}

void PyProvider::unsubscribe(std::uint64_t id) {
  auto it = callbacks_.find(id);
  if (it != callbacks_.end()) {
    it->second->drop();
    callbacks_.erase(it);
  }
  GilReleased released;
  provider_->unsubscribe(id);
}

void PyProvider::drop_callbacks() {
  for (auto& entry : callbacks_) entry.second->drop();
  callbacks_.clear();
}

void PyProvider::accept(const std::string& job_id, py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  GilReleased released;
  provider_->accept(job_id, [cb](const AcceptReply& r) {
    cb->call(
        [&r] {
          py::object data = py::none();
          if (r.ok())
            data = py::make_tuple(r.job.job_id, r.job.credential, r.job.lobby_id,
                                  r.job.bot_name, r.job.join_timeout_ms);
          return py::make_tuple(error_args(r.error), data);
        },
        /*once=*/true);
  });
}

void PyProvider::decline(const std::string& job_id, const std::string& reason,
                         py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  GilReleased released;
  provider_->decline(job_id, reason, reply_to(cb));
}

void PyProvider::end_job(const std::string& job_id, const std::string& reason, bool retry,
                         py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  GilReleased released;
  provider_->end_job(job_id, reason, retry, reply_to(cb));
}

void PyProvider::drain(py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  GilReleased released;
  provider_->drain(reply_to(cb));
}

namespace {

// ProviderOptions from the Python side's plain values (lobbykit/bots.py builds them).
ProviderOptions make_options(const std::string& url, const std::string& key,
                             const std::string& name, const std::string& version,
                             const std::vector<std::pair<std::string, std::string>>& kinds,
                             std::uint32_t max_jobs, const ReconnectPolicy& reconnect,
                             std::uint32_t request_timeout_ms, std::uint32_t connect_timeout_ms,
                             std::uint32_t status_interval_ms) {
  ProviderOptions o;
  o.url = url;
  o.key = key;
  o.name = name;
  o.version = version;
  for (const auto& [kind, description] : kinds) o.kinds.push_back(BotKind{kind, description});
  o.max_jobs = max_jobs;
  o.reconnect = reconnect;
  o.request_timeout_ms = request_timeout_ms;
  o.connect_timeout_ms = connect_timeout_ms;
  o.status_interval_ms = status_interval_ms;
  return o;
}

}  // namespace

void bind_provider(py::module_& m) {
  py::class_<PyProvider>(m, "BotProvider",
                         "The bot provider (lobbykit.bots.BotProvider is the public class). "
                         "Event and reply callbacks run on the provider's loop thread.")
      .def(py::init([](const std::string& url, const std::string& key, const std::string& name,
                       const std::string& version,
                       const std::vector<std::pair<std::string, std::string>>& kinds,
                       std::uint32_t max_jobs, const ReconnectPolicy& reconnect,
                       std::uint32_t request_timeout_ms, std::uint32_t connect_timeout_ms,
                       std::uint32_t status_interval_ms) {
             return std::make_unique<PyProvider>(
                 make_options(url, key, name, version, kinds, max_jobs, reconnect,
                              request_timeout_ms, connect_timeout_ms, status_interval_ms));
           }),
           py::arg("url"), py::arg("key"), py::arg("name"), py::arg("version"), py::arg("kinds"),
           py::arg("max_jobs"), py::arg("reconnect"), py::arg("request_timeout_ms"),
           py::arg("connect_timeout_ms"), py::arg("status_interval_ms"),
           "A provider of the server at url; ValueError for a bad URL, no kinds or max_jobs 0.")
      .def(py::init([](PyServer& server, const std::string& key, const std::string& name,
                       const std::string& version,
                       const std::vector<std::pair<std::string, std::string>>& kinds,
                       std::uint32_t max_jobs, const ReconnectPolicy& reconnect,
                       std::uint32_t request_timeout_ms, std::uint32_t connect_timeout_ms,
                       std::uint32_t status_interval_ms) {
             return std::make_unique<PyProvider>(
                 server, make_options("", key, name, version, kinds, max_jobs, reconnect,
                                      request_timeout_ms, connect_timeout_ms,
                                      status_interval_ms));
           }),
           py::arg("server"), py::arg("key"), py::arg("name"), py::arg("version"),
           py::arg("kinds"), py::arg("max_jobs"), py::arg("reconnect"),
           py::arg("request_timeout_ms"), py::arg("connect_timeout_ms"),
           py::arg("status_interval_ms"), py::keep_alive<1, 2>(),
           "A provider of a Server in this process, without a socket.")
      .def(
          "start",
          [](const py::object& self) {
            register_live(self);
            GilReleased released;
            self.cast<PyProvider&>().provider().start();
          },
          "Connects and serves on a thread of its own.")
      .def(
          "stop", [](PyProvider& p) { p.provider().stop(); }, py::call_guard<GilReleased>(),
          "Closes the connection, fails open requests with 'stopped', ends the loop.")
      .def(
          "reconnect", [](PyProvider& p) { p.provider().reconnect(); },
          py::call_guard<GilReleased>(), "Connects again after it stopped trying.")
      .def_property_readonly(
          "state", [](PyProvider& p) { return std::string(to_string(p.provider().state())); },
          "'disconnected', 'connecting', 'connected' or 'reconnecting'.")
      .def(
          "snapshot_json",
          [](PyProvider& p) {
            std::string json;
            {
              GilReleased released;
              json = provider_snapshot_to_json(p.provider().snapshot());
            }
            return json;
          },
          "What the provider knows as JSON text (provider_snapshot_to_json).")
      .def(
          "set_load",
          [](PyProvider& p, std::optional<double> load) { p.provider().set_load(load); },
          py::arg("load"), py::call_guard<GilReleased>(),
          "The load provider_status reports, 0.0-1.0; None: running / max_jobs.")
      .def("subscribe", &PyProvider::subscribe, py::arg("callback"),
           "callback(json_text) runs on the loop thread for every event. Returns an id.")
      .def("unsubscribe", &PyProvider::unsubscribe, py::arg("id"),
           "After it returns the callback does not run again.")
      .def("accept", &PyProvider::accept, py::arg("job_id"), py::arg("callback"),
           "job_accept; callback(error, (job_id, credential, lobby_id, bot_name, "
           "join_timeout_ms) or None) runs once on the loop thread.")
      .def("decline", &PyProvider::decline, py::arg("job_id"), py::arg("reason"),
           py::arg("callback"), "job_decline; callback(error, data_json) runs once.")
      .def("end_job", &PyProvider::end_job, py::arg("job_id"), py::arg("reason"),
           py::arg("retry"), py::arg("callback"),
           "job_end (sent again after reconnects until answered); callback(error, data_json).")
      .def("drain", &PyProvider::drain, py::arg("callback"),
           "provider_drain; callback(error, data_json) runs once.")
      .def(
          "_stop_for_exit",
          [](PyProvider& p) {
            p.drop_callbacks();
            py::gil_scoped_release released;  // not counted: the exit hook's own call
            p.provider().stop();
          },
          "The exit hook's stop: drops the callbacks, then stops.");
}

}  // namespace lobbykit::python
