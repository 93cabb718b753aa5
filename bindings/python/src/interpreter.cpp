#include "interpreter.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace lobbykit::python {
namespace {

// How long the exit hook waits for threads still inside a GIL-released call to come back.
constexpr std::chrono::seconds kExitDrainTimeout{5};

std::atomic<bool> g_exiting{false};  // the exit hook ran; any thread
int g_released_calls = 0;            // threads inside a GilReleased; GIL
thread_local int t_callback_depth = 0;
std::string g_module_name;  // set once at module init, read with the GIL

bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// atexit: runs on the main thread with the GIL, before the interpreter finalises and while
// every other thread still runs. Stops clients and bot providers first (they may be attached
// to a server), then servers; each drops its callbacks first. Then waits for the threads
// that were inside a GIL-released call (a run() in a daemon thread, a blocking request) to
// take the GIL back.
void exit_hook() {
  g_exiting = true;
  py::list objects(module_attr("_live"));  // strong references: nothing goes while it stops
  py::object client_type = module_attr("Client");
  py::object provider_type = module_attr("BotProvider");
  for (int pass = 0; pass < 2; ++pass) {
    for (py::handle obj : objects) {
      const bool is_client =
          py::isinstance(obj, client_type) || py::isinstance(obj, provider_type);
      if (is_client == (pass == 0)) obj.attr("_stop_for_exit")();
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + kExitDrainTimeout;
  while (g_released_calls > 0 && std::chrono::steady_clock::now() < deadline) {
    py::gil_scoped_release release;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

bool python_usable() { return !g_exiting.load() && Py_IsInitialized() && !finalizing(); }

GilReleased::GilReleased() {
  if (!python_usable()) return;
  ++g_released_calls;
  release_.emplace();
}

GilReleased::~GilReleased() {
  if (!release_) return;
  release_.reset();  // takes the GIL back
  --g_released_calls;
}

CallbackScope::CallbackScope() { ++t_callback_depth; }
CallbackScope::~CallbackScope() { --t_callback_depth; }

bool in_callback() { return t_callback_depth > 0; }

void register_live(const py::object& obj) { module_attr("_live").attr("add")(obj); }

py::object module_attr(const char* name) {
  return py::module_::import(g_module_name.c_str()).attr(name);
}

void install_exit_hook(py::module_& m) {
  g_module_name = m.attr("__name__").cast<std::string>();
  m.attr("_live") = py::module_::import("weakref").attr("WeakSet")();
  py::module_::import("atexit").attr("register")(py::cpp_function(&exit_hook));
}

}  // namespace lobbykit::python
