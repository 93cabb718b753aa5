// LOBBYKIT_API marks the symbols the shared library exports; everything else is hidden.
#pragma once

#if defined(LOBBYKIT_BUILDING)
#define LOBBYKIT_API __attribute__((visibility("default")))
#else
#define LOBBYKIT_API
#endif
