/* Compiles every public C header as strict C99 (see tests/CMakeLists.txt for the flags). */
#include <lobbykit/lobbykit.h>
#include <lobbykit/version.h>

/* The INIT macros are valid initializers. */
int lobbykit_header_c99_check(void);
int lobbykit_header_c99_check(void) {
  lk_server_options s = LK_SERVER_OPTIONS_INIT;
  lk_client_options c = LK_CLIENT_OPTIONS_INIT;
  return (int)(s.version + c.version) + LK_VERSION_CHECK(0, 0, 0);
}
