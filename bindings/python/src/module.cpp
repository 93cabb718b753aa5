// _lobbykit: the compiled half of the lobbykit Python package. The pure-Python package
// (lobbykit/) wraps it with typed events, errors and the asyncio layer.
#include <exception>
#include <lobbykit/server.hpp>
#include <lobbykit/token.hpp>
#include <lobbykit/version.hpp>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "interpreter.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_lobbykit, m) {
  using namespace lobbykit::python;
  m.doc() = "Compiled core of the lobbykit package; use the lobbykit package instead.";
  m.attr("__version__") = LOBBYKIT_VERSION_STRING;

  // Exception classes made here, kept by the module (not by a C++ static).
  auto error = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "lobbykit.Error", "Base class of the errors lobbykit raises.", PyExc_Exception, nullptr));
  auto start_error = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "lobbykit.StartError", "A Server could not listen or open its store.", error.ptr(), nullptr));
  if (!error || !start_error) throw py::error_already_set();
  m.attr("Error") = error;
  m.attr("StartError") = start_error;
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const lobbykit::StartError& e) {
      PyErr_SetString(module_attr("StartError").ptr(), e.what());
    }
  });

  install_exit_hook(m);
  bind_options(m);
  bind_server(m);
  bind_client(m);
  bind_provider(m);

  m.def(
      "mint_access_token",
      [](const std::string& secret, const std::string& user_id, const std::string& name,
         const std::vector<std::string>& roles, const std::string& metadata_json,
         const std::string& lobby, std::int64_t ttl_s) {
        lobbykit::AccessClaims c;
        c.user_id = user_id;
        c.name = name;
        c.roles = roles;
        c.metadata_json = metadata_json;
        c.lobby_id = lobby;
        return lobbykit::mint_access_token(secret, c, ttl_s);
      },
      py::arg("secret"), py::arg("user_id"), py::arg("name"), py::arg("roles"),
      py::arg("metadata_json"), py::arg("lobby"), py::arg("ttl_s"),
      "An HS256 access token (lobbykit.mint_access_token wraps it). ValueError for claims a "
      "server would refuse.");
  m.def("in_callback", &in_callback,
        "True on a thread that is running a lobbykit callback (waiting calls would deadlock).");
}
