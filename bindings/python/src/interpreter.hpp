// The interpreter's side of the threading rules: whether lobbykit's threads may still touch
// Python, releasing the GIL around calls that wait, marking the threads inside a callback,
// and the exit hook that stops every live Server and Client before the interpreter finalises.
#pragma once

#include <pybind11/pybind11.h>

#include <optional>

namespace lobbykit::python {

namespace py = pybind11;

// False once the exit hook ran or the interpreter is finalising: from then on lobbykit's
// threads never take the GIL (a thread that waits for it during finalisation is killed
// inside C++ frames). Any thread.
bool python_usable();

// Releases the GIL for a call into lobbykit that may wait (for a loop, a lock, a join), and
// counts the threads that are out, so the exit hook can wait for them to come back before
// the interpreter finalises. Once the interpreter exits it keeps the GIL: every loop is
// stopped then, so nothing waits. Construct and destroy with the GIL held.
class GilReleased {
 public:
  GilReleased();
  ~GilReleased();
  GilReleased(const GilReleased&) = delete;
  GilReleased& operator=(const GilReleased&) = delete;

 private:
  std::optional<py::gil_scoped_release> release_;
};

// Marks the calling thread as running a lobbykit callback while it lives (nested ones too).
class CallbackScope {
 public:
  CallbackScope();
  ~CallbackScope();
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
};

// True on a thread that is running a lobbykit callback: a call that waits for a loop would
// wait for this very thread (or for a loop this callback is holding up).
bool in_callback();

// Adds a started Server or Client (its Python object, held weakly) to the set the exit hook
// stops. GIL held.
void register_live(const py::object& obj);

// An attribute of the _lobbykit module (looked up, not kept). GIL held.
py::object module_attr(const char* name);

// Remembers the module's name, creates its live set and registers the exit hook with
// atexit. First thing at module init.
void install_exit_hook(py::module_& m);

}  // namespace lobbykit::python
