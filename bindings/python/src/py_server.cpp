// The Server binding. Callbacks run on the server's loop thread with the GIL taken there.
#include "py_server.hpp"

#include <lobbykit/events.hpp>
#include <mutex>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "interpreter.hpp"

namespace lobbykit::python {

PyServer::PyServer(ServerOptions options) {
  GilReleased released;
  server_ = std::make_unique<Server>(std::move(options));
}

PyServer::~PyServer() {
  drop_callbacks();
  GilReleased released;  // ~Server stops and joins the loop, which may want the GIL
  server_.reset();
}

std::uint64_t PyServer::subscribe(py::object callback) {
  auto cb = std::make_shared<PyCallback>(std::move(callback));
  std::uint64_t id = 0;
  {
    GilReleased released;
    id = server_->subscribe([cb](const Event& e) {
      const std::string json = event_to_json(e);
      cb->call([&json] { return py::make_tuple(json); });
    });
  }
  callbacks_[id] = std::move(cb);
  return id;
}

void PyServer::unsubscribe(std::uint64_t id) {
  auto it = callbacks_.find(id);
  if (it != callbacks_.end()) {
    it->second->drop();  // so lobbykit destroys it without needing the GIL
    callbacks_.erase(it);
  }
  GilReleased released;
  server_->unsubscribe(id);
}

void PyServer::drop_callbacks() {
  for (auto& entry : callbacks_) entry.second->drop();
  callbacks_.clear();
  for (auto& entry : hooks_) entry.second->drop();
  hooks_.clear();
}

namespace {

// A hook's decision as Python holds it: answered once with resolve(json), or given up with
// fail() (the client is refused with hook_failed); dropping it unanswered does the same.
class PyDecision {
 public:
  explicit PyDecision(Decision<JsonDecision> d) : d_(std::move(d)) {}
  void resolve(std::string json) {
    std::optional<Decision<JsonDecision>> d = take();
    if (d) d->resolve(JsonDecision{std::move(json)});
  }
  void fail() { take(); }
  bool answered() {
    std::lock_guard<std::mutex> lock(mu_);
    return !d_ || d_->answered();
  }

 private:
  std::optional<Decision<JsonDecision>> take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<Decision<JsonDecision>> d = std::move(d_);
    d_.reset();
    return d;
  }
  std::mutex mu_;
  std::optional<Decision<JsonDecision>> d_;
};

}  // namespace

void PyServer::set_hook(const std::string& name, py::object callback) {
  install_hook(name, std::move(callback), [this, &name](JsonHook hook) {
    server_->on_hook_json(name, std::move(hook));
  });
}

void PyServer::set_app_message_hook(const std::string& name, py::object callback) {
  // Keyed apart from set_hook's: "app_message" there is this one's "" handler.
  const std::string key = name.empty() ? std::string("app_message") : "app_message:" + name;
  install_hook(key, std::move(callback), [this, &name](JsonHook hook) {
    server_->on_app_message_json(name, std::move(hook));
  });
}

void PyServer::install_hook(const std::string& key, py::object callback,
                            const std::function<void(JsonHook)>& set) {
  JsonHook hook;
  std::shared_ptr<PyCallback> cb;
  if (!callback.is_none()) {
    cb = std::make_shared<PyCallback>(std::move(callback));
    hook = [cb](const std::string& request, Decision<JsonDecision> d) {
      auto decision = std::make_shared<PyDecision>(std::move(d));
      // A callback that raises, or is gone, leaves the decision to Python's garbage
      // collector or to this closure: unanswered, it refuses with hook_failed.
      cb->call([&request, decision] { return py::make_tuple(request, decision); });
    };
  }
  {
    GilReleased released;
    try {
      set(std::move(hook));
    } catch (const std::invalid_argument& e) {
      py::gil_scoped_acquire gil;
      throw py::value_error(e.what());
    }
  }
  auto old = hooks_.find(key);
  if (old != hooks_.end()) {
    old->second->drop();
    hooks_.erase(old);
  }
  if (cb) hooks_[key] = std::move(cb);
}

namespace {

// The operations' JSON forms (docs/embedding.md, "Operations"): the value's when ok, else
// {"code", "message"}.
template <class T>
std::string list_json(const char* key, const std::vector<T>& items) {
  std::string json = std::string("{\"") + key + "\":[";
  for (std::size_t i = 0; i < items.size(); ++i) json += (i ? "," : "") + to_json(items[i]);
  return json + "]}";
}

template <class T>
std::string result_json(const Result<T>& r) {
  return r.ok() ? to_json(r.value) : status_to_json(r.status);
}

}  // namespace

void bind_server(py::module_& m) {
  py::class_<PyDecision, std::shared_ptr<PyDecision>>(
      m, "HookDecision", "A hook's pending decision: answer it once, from any thread.")
      .def("resolve", &PyDecision::resolve, py::arg("decision_json"),
           py::call_guard<GilReleased>(),
           "Answers with a decision object as JSON text; later answers are ignored.")
      .def("fail", &PyDecision::fail, py::call_guard<GilReleased>(),
           "Gives up: the client is refused with hook_failed.")
      .def_property_readonly("answered", &PyDecision::answered);
  py::class_<PyServer>(m, "Server",
                       "The lobbykit server, embedded (the lobbykit.Server wrapper is the "
                       "public class). Event callbacks get the event as JSON text, on the "
                       "server's loop thread.")
      .def(py::init<ServerOptions>(), py::arg("options"),
           "Opens the store and binds the port; raises StartError when it cannot.")
      .def(
          "start",
          [](const py::object& self) {
            register_live(self);
            GilReleased released;
            self.cast<PyServer&>().server().start();
          },
          "Serves on a thread of its own.")
      .def(
          "run",
          [](const py::object& self) {
            register_live(self);
            PyServer& s = self.cast<PyServer&>();
            GilReleased released;
            s.server().run();
          },
          "Serves on the calling thread until stop(); the GIL is released meanwhile.")
      .def(
          "stop", [](PyServer& s) { s.server().stop(); }, py::call_guard<GilReleased>(),
          "Closes every client, flushes the store, ends the loop. Idempotent; from a callback "
          "of this server it returns at once.")
      .def(
          "drain", [](PyServer& s) { s.server().drain(); }, py::call_guard<GilReleased>(),
          "Tells every client to reconnect elsewhere over options.drain_ms, then stops; "
          "returns at once.")
      .def(
          "reload_tls",
          [](PyServer& s) {
            Status st;
            {
              GilReleased released;
              st = s.server().reload_tls();
            }
            return status_to_json(st);
          },
          "Reads the TLS files again for new connections; returns {} or {code, message} as "
          "JSON.")
      .def(
          "wait", [](PyServer& s) { s.server().wait(); }, py::call_guard<GilReleased>(),
          "Returns once the loop has ended (stop() or a drain), or at once if it never ran.")
      .def_property_readonly(
          "draining", [](PyServer& s) { return s.server().draining(); },
          py::call_guard<GilReleased>(), "Whether drain() has begun.")
      .def_property_readonly(
          "port", [](PyServer& s) { return s.server().port(); }, "The bound port.")
      .def("subscribe", &PyServer::subscribe, py::arg("callback"),
           "callback(json_text) runs on the server's loop thread for every event. Returns an id.")
      .def("unsubscribe", &PyServer::unsubscribe, py::arg("id"),
           "After it returns the callback does not run again.")
      .def("set_hook", &PyServer::set_hook, py::arg("name"), py::arg("callback"),
           "callback(request_json, decision) runs on the loop thread; None removes the hook.")
      .def("set_app_message_hook", &PyServer::set_app_message_hook, py::arg("name"),
           py::arg("callback"),
           "The app_message handler for one message name ('' : every other name); as set_hook.")
      .def(
          "send_app_message",
          [](PyServer& s, const std::string& lobby_id, const std::string& name,
             const std::string& payload_json, const std::string& to) {
            return status_to_json(s.server().send_app_message(lobby_id, name, payload_json, to));
          },
          py::arg("lobby_id"), py::arg("name"), py::arg("payload_json"), py::arg("to"),
          py::call_guard<GilReleased>(), "JSON text: {} or {code, message}.")
      .def(
          "set_lobby_metadata",
          [](PyServer& s, const std::string& lobby_id, const std::string& metadata_json) {
            return result_json(s.server().set_lobby_metadata(lobby_id, metadata_json));
          },
          py::arg("lobby_id"), py::arg("metadata_json"), py::call_guard<GilReleased>(),
          "JSON text: Lobby or {code, message}.")
      .def(
          "set_session_metadata",
          [](PyServer& s, const std::string& peer, const std::string& metadata_json) {
            return result_json(s.server().set_session_metadata(peer, metadata_json));
          },
          py::arg("peer_id"), py::arg("metadata_json"), py::call_guard<GilReleased>(),
          "JSON text: Session or {code, message}.")
      .def(
          "add_bot",
          [](PyServer& s, const std::string& lobby_id, const std::string& kind,
             const std::string& key, const std::string& metadata_json) {
            return bot_outcome_to_json(s.server().add_bot(lobby_id, kind, key, metadata_json),
                                       true);
          },
          py::arg("lobby_id"), py::arg("kind"), py::arg("key"), py::arg("metadata_json"),
          py::call_guard<GilReleased>(), "JSON text: {dispatch, created} or {code, message}.")
      .def(
          "remove_bot",
          [](PyServer& s, const std::string& lobby_id, const std::string& key) {
            return bot_outcome_to_json(s.server().remove_bot(lobby_id, key), false);
          },
          py::arg("lobby_id"), py::arg("key"), py::call_guard<GilReleased>(),
          "JSON text: {} or {code, message}.")
      .def(
          "bots",
          [](PyServer& s) {
            Server& server = s.server();
            return bot_overview_to_json(server.bot_dispatches(), server.bot_kinds(),
                                        server.bot_providers());
          },
          py::call_guard<GilReleased>(), "JSON text: {dispatches, kinds, providers}.")
      .def(
          "drain_bot_provider",
          [](PyServer& s, const std::string& id) { return s.server().drain_bot_provider(id); },
          py::arg("provider_id"), py::call_guard<GilReleased>(),
          "False when there is no such provider.")
      .def(
          "list_sessions",
          [](PyServer& s) { return list_json("sessions", s.server().list_sessions()); },
          py::call_guard<GilReleased>(), "JSON text: {sessions: [Session]}.")
      .def(
          "list_lobbies",
          [](PyServer& s) { return list_json("lobbies", s.server().list_lobbies()); },
          py::call_guard<GilReleased>(), "JSON text: {lobbies: [{lobby, participants}]}.")
      .def(
          "get_lobby",
          [](PyServer& s, const std::string& id) { return result_json(s.server().get_lobby(id)); },
          py::arg("lobby_id"), py::call_guard<GilReleased>(),
          "JSON text: {lobby, participants} or {code, message}.")
      .def(
          "create_lobby",
          [](PyServer& s, const std::string& name, bool is_private, bool persistent,
             std::uint32_t max_participants) {
            return result_json(
                s.server().create_lobby(LobbySettings{name, is_private, persistent, max_participants}));
          },
          py::arg("name"), py::arg("private"), py::arg("persistent"), py::arg("max_participants"),
          py::call_guard<GilReleased>(), "JSON text: Lobby or {code, message}.")
      .def(
          "update_lobby",
          [](PyServer& s, const std::string& id, std::optional<std::string> name,
             std::optional<bool> is_private, std::optional<bool> persistent,
             std::optional<std::uint32_t> max_participants) {
            return result_json(s.server().update_lobby(
                id, LobbyUpdate{std::move(name), is_private, persistent, max_participants}));
          },
          py::arg("lobby_id"), py::arg("name"), py::arg("private"), py::arg("persistent"),
          py::arg("max_participants"), py::call_guard<GilReleased>(),
          "JSON text: Lobby or {code, message}.")
      .def(
          "remove_lobby",
          [](PyServer& s, const std::string& id) { return status_to_json(s.server().remove_lobby(id)); },
          py::arg("lobby_id"), py::call_guard<GilReleased>(), "JSON text: {} or {code, message}.")
      .def(
          "kick_session",
          [](PyServer& s, const std::string& peer) {
            return status_to_json(s.server().kick_session(peer));
          },
          py::arg("peer_id"), py::call_guard<GilReleased>(), "JSON text: {} or {code, message}.")
      .def(
          "rename_session",
          [](PyServer& s, const std::string& peer, const std::string& name) {
            return result_json(s.server().rename_session(peer, name));
          },
          py::arg("peer_id"), py::arg("name"), py::call_guard<GilReleased>(),
          "JSON text: Session or {code, message}.")
      .def(
          "reset_password",
          [](PyServer& s, const std::string& name, std::optional<std::string> password) {
            return status_to_json(s.server().reset_password(name, std::move(password)));
          },
          py::arg("name"), py::arg("password"), py::call_guard<GilReleased>(),
          "Waits for the worker's hash. JSON text: {} or {code, message}. RuntimeError on the "
          "server's loop thread (in a callback), where it would wait for itself.")
      .def(
          "post_notice",
          [](PyServer& s, const std::string& id, const std::string& text) {
            return result_json(s.server().post_notice(id, text));
          },
          py::arg("lobby_id"), py::arg("text"), py::call_guard<GilReleased>(),
          "JSON text: ChatMessage or {code, message}.")
      .def(
          "_stop_for_exit",
          [](PyServer& s) {
            s.drop_callbacks();
            py::gil_scoped_release released;  // not counted: the exit hook's own call
            s.server().stop();
          },
          "The exit hook's stop: drops the callbacks, then stops.");
}

}  // namespace lobbykit::python
