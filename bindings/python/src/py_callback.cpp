#include "py_callback.hpp"

#include <exception>
#include <utility>

#include "interpreter.hpp"

namespace lobbykit::python {

PyCallback::PyCallback(py::object fn) : fn_(std::move(fn)) {}

PyCallback::~PyCallback() {
  if (!fn_) return;
  if (!python_usable()) {
    fn_.release();  // taking the GIL now could hang or kill this thread
    return;
  }
  py::gil_scoped_acquire gil;
  fn_ = py::object();
}

void PyCallback::call(const std::function<py::tuple()>& make_args, bool once) {
  if (!python_usable()) return;
  py::gil_scoped_acquire gil;
  if (!fn_ || !python_usable()) return;  // dropped, or the exit hook ran, while we waited
  py::object fn = fn_;                   // alive for the call even if dropped meanwhile
  if (once) fn_ = py::object();
  CallbackScope scope;
  try {
    fn(*make_args());
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable(fn);
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    PyErr_WriteUnraisable(fn.ptr());
  }
}

void PyCallback::drop() { fn_ = py::object(); }

}  // namespace lobbykit::python
