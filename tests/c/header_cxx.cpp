// Compiles every public C header as C++ (see tests/CMakeLists.txt for the flags).
#include <lobbykit/lobbykit.h>
#include <lobbykit/version.h>

int lobbykit_header_cxx_check();
int lobbykit_header_cxx_check() {
  lk_server_options s = LK_SERVER_OPTIONS_INIT;
  lk_client_options c = LK_CLIENT_OPTIONS_INIT;
  return static_cast<int>(s.version + c.version) + LK_VERSION_CHECK(0, 0, 0);
}
