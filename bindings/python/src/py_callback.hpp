// PyCallback: a Python callable that lobbykit's threads call. lobbykit copies and destroys
// its std::functions on any thread without the GIL, so they hold a PyCallback through a
// shared_ptr: copying one never touches a Python reference count.
#pragma once

#include <pybind11/pybind11.h>

#include <functional>

namespace lobbykit::python {

namespace py = pybind11;

class PyCallback {
 public:
  explicit PyCallback(py::object fn);  // GIL held
  // Any thread. Releases the callable under the GIL if it is still held (it normally was
  // dropped before); leaks it once the interpreter exits.
  ~PyCallback();
  PyCallback(const PyCallback&) = delete;
  PyCallback& operator=(const PyCallback&) = delete;

  // Takes the GIL and calls fn(*make_args()). An exception from it (or from make_args) is
  // reported through sys.unraisablehook and goes no further. Called from a thread that
  // does not hold the GIL and no lobbykit lock; does nothing once the callable is dropped or
  // the interpreter exits. With once, the callable is dropped after the call.
  void call(const std::function<py::tuple()>& make_args, bool once = false);

  // GIL held: releases the callable now; it is never called again.
  void drop();

 private:
  py::object fn_;  // guarded by the GIL; empty once dropped
};

}  // namespace lobbykit::python
