// Client addresses as the per-address limits count them. The transport tells the hub the
// peer address of every connection and HTTP request; this is where an address becomes the
// key its sessions and lobbies are counted under.
#pragma once

#include <string>
#include <string_view>

namespace lobbykit::router {

// The address the in-process transport gives its connections: exempt from per-address
// limits (the host process runs them itself); the server-wide limits still apply.
constexpr std::string_view kInProcessAddress = "in-process";

// The key an address is counted under: "" (exempt) for kInProcessAddress; an IPv4-mapped
// IPv6 address as its IPv4 address; any other IPv6 address as its /64 network
// ("2001:db8:1:2::/64"), since one host or home network usually holds a whole /64; an IPv4
// address, or anything else, as given; "unknown" for an empty one.
std::string address_key(std::string_view address);

}  // namespace lobbykit::router
