// systemd's service notification protocol (sd_notify(3)) without libsystemd: one datagram
// to the socket named by $NOTIFY_SOCKET. Type=notify units learn that the peer is ready
// (both servers listening) and when it begins to stop.
#pragma once

#include <string_view>

namespace p2p {

// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", newline-separated). Returns false
// when $NOTIFY_SOCKET is unset (not under systemd) or the send failed; never throws.
bool sd_notify(std::string_view state);

}  // namespace p2p
