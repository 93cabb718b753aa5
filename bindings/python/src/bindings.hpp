// One function per part of the _lobbykit module; module.cpp calls them in order.
#pragma once

#include <pybind11/pybind11.h>

namespace lobbykit::python {

namespace py = pybind11;

void bind_options(py::module_& m);  // Limits, ServerOptions, ReconnectPolicy, ClientOptions
void bind_server(py::module_& m);   // Server
void bind_client(py::module_& m);   // Client (after Server: it attaches to one)
void bind_provider(py::module_& m); // BotProvider (after Server, likewise)

}  // namespace lobbykit::python
