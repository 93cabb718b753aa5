// A server certificate and its key, as files (ServerOptions::tls_cert_path, tls_key_path).
#pragma once

#include <string>

namespace lobbykit::transport {

struct TlsFiles {
  std::string cert_path;  // PEM: the certificate, then any intermediates
  std::string key_path;   // PEM: its private key
  bool enabled() const { return !cert_path.empty() || !key_path.empty(); }
};

// "" when both files can be read, the certificate chain parses and the key is the
// certificate's; else a sentence saying which is wrong. Any thread.
std::string check_tls_files(const TlsFiles& files);

}  // namespace lobbykit::transport
