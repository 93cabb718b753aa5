// Umbrella header for the C++ API.
#pragma once

#include <lobbykit/client.hpp>
#include <lobbykit/events.hpp>
#include <lobbykit/model.hpp>
#include <lobbykit/options.hpp>
#include <lobbykit/provider.hpp>
#include <lobbykit/server.hpp>
#include <lobbykit/token.hpp>
#include <lobbykit/version.hpp>
