// The Client binding. Event and reply callbacks run on the client's loop thread with the
// GIL taken there.
#include "py_client.hpp"

#include <future>
#include <utility>

#include "bindings.hpp"
#include "interpreter.hpp"
#include "py_server.hpp"

namespace lobbykit::python {
namespace {

// GIL held.
py::tuple reply_args(const Reply& r) {
  py::object error = py::none();
  if (r.error) {
    const ClientError& e = *r.error;
    error = py::make_tuple(
        e.code, e.message, e.field.empty() ? py::object(py::none()) : py::str(e.field),
        e.retry_after_ms >= 0 ? py::object(py::int_(e.retry_after_ms)) : py::object(py::none()));
  }
  return py::make_tuple(error, r.data_json);
}

// GIL held. callback(error, data_json) once, on whichever thread the reply comes.
ReplyCallback reply_callback(py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  return [cb](const Reply& r) { cb->call([&r] { return reply_args(r); }, /*once=*/true); };
}

}  // namespace

PyClient::PyClient(ClientOptions options) {
  GilReleased released;
  client_ = std::make_unique<Client>(std::move(options));
}

PyClient::PyClient(PyServer& server, ClientOptions options) {
  GilReleased released;
  client_ = std::make_unique<Client>(server.server(), std::move(options));
}

PyClient::~PyClient() {
  drop_callbacks();
  GilReleased released;  // ~Client stops and joins the loop, which may want the GIL
  client_.reset();
}

std::uint64_t PyClient::subscribe(py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  std::uint64_t id = 0;
  {
    GilReleased released;
    id = client_->subscribe([cb](const ClientEvent& e) {
      const std::string json = client_event_to_json(e);
      cb->call([&json] { return py::make_tuple(json); });
    });
  }
  callbacks_[id] = std::move(cb);
  return id;
}

void PyClient::unsubscribe(std::uint64_t id) {
  auto it = callbacks_.find(id);
  if (it != callbacks_.end()) {
    it->second->drop();  // so lobbykit destroys it without needing the GIL
    callbacks_.erase(it);
  }
  GilReleased released;
  client_->unsubscribe(id);
}

void PyClient::drop_callbacks() {
  for (auto& entry : callbacks_) entry.second->drop();
  callbacks_.clear();
}

void PyClient::request(const std::string& type, const std::string& data_json, py::object callback) {
  ReplyCallback cb = reply_callback(std::move(callback));
  GilReleased released;
  client_->request(type, data_json, std::move(cb));
}

void PyClient::ready(py::object callback) {
  ReplyCallback cb = reply_callback(std::move(callback));
  GilReleased released;
  client_->ready(std::move(cb));
}

py::tuple PyClient::request_blocking(const std::string& type, const std::string& data_json) {
  if (in_callback())
    throw std::logic_error(
        "lobbykit: a blocking request from a lobbykit callback would wait for the loop that "
        "runs the callback; use request_callback() or the asyncio client");
  Reply reply;
  {
    GilReleased released;
    reply = client_->request(type, data_json).get();
  }
  return reply_args(reply);
}

void bind_client(py::module_& m) {
  py::class_<PyClient>(m, "Client",
                       "The lobbykit client (the lobbykit.Client wrapper is the public class). "
                       "Event and reply callbacks run on the client's loop thread.")
      .def(py::init<ClientOptions>(), py::arg("options"),
           "A client of options.url; raises ValueError for a URL that is not ws:// or wss://.")
      .def(py::init<PyServer&, ClientOptions>(), py::arg("server"), py::arg("options"),
           py::keep_alive<1, 2>(), "A client of a Server in this process, without a socket.")
      .def(
          "start",
          [](const py::object& self) {
            register_live(self);
            GilReleased released;
            self.cast<PyClient&>().client().start();
          },
          "Connects and serves on a thread of its own.")
      .def(
          "run",
          [](const py::object& self) {
            register_live(self);
            PyClient& c = self.cast<PyClient&>();
            GilReleased released;
            c.client().run();
          },
          "Connects and serves on the calling thread until stop(); the GIL is released.")
      .def(
          "stop", [](PyClient& c) { c.client().stop(); }, py::call_guard<GilReleased>(),
          "Closes the connection, fails open requests with 'stopped', ends the loop. "
          "Idempotent; from a callback of this client it returns at once.")
      .def(
          "reconnect", [](PyClient& c) { c.client().reconnect(); }, py::call_guard<GilReleased>(),
          "Connects again after the client stopped trying.")
      .def_property_readonly(
          "state", [](PyClient& c) { return std::string(to_string(c.client().state())); },
          "'disconnected', 'connecting', 'connected' or 'reconnecting'.")
      .def(
          "snapshot_json",
          [](PyClient& c) {
            std::string json;
            {
              GilReleased released;
              json = client_snapshot_to_json(c.client().snapshot());
            }
            return json;
          },
          "The state store as JSON text (client_snapshot_to_json).")
      .def("subscribe", &PyClient::subscribe, py::arg("callback"),
           "callback(json_text) runs on the client's loop thread for every event. Returns an id.")
      .def("unsubscribe", &PyClient::unsubscribe, py::arg("id"),
           "After it returns the callback does not run again.")
      .def("request", &PyClient::request, py::arg("type"), py::arg("data_json"),
           py::arg("callback"),
           "Sends a request; callback(error, data_json) runs once on the loop thread.")
      .def("ready", &PyClient::ready, py::arg("callback"),
           "callback(error, data_json) runs once with the outcome of starting (Client::ready): "
           "on the loop thread, or at once on this thread when it is settled and no loop runs.")
      .def("request_blocking", &PyClient::request_blocking, py::arg("type"), py::arg("data_json"),
           "Sends a request and waits (GIL released); returns (error, data_json).")
      .def(
          "_stop_for_exit",
          [](PyClient& c) {
            c.drop_callbacks();
            py::gil_scoped_release released;  // not counted: the exit hook's own call
            c.client().stop();
          },
          "The exit hook's stop: drops the callbacks, then stops.");
}

}  // namespace lobbykit::python
