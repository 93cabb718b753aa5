#include "transport/tls_files.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace lobbykit::transport {
namespace {

// The newest error OpenSSL queued, as text, and the queue emptied.
std::string openssl_error() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(last, text, sizeof text);
  return text;
}

}  // namespace

std::string check_tls_files(const TlsFiles& files) {
  if (files.cert_path.empty()) return "a TLS key was given without a certificate";
  if (files.key_path.empty()) return "a TLS certificate was given without its key";
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        &SSL_CTX_free);
  if (!ctx) return "cannot set up TLS: " + openssl_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert_path.c_str()) != 1)
    return "cannot read the TLS certificate " + files.cert_path + " (PEM expected): " +
           openssl_error();
  const std::string mismatch =
      "the TLS key " + files.key_path + " does not belong to the certificate " + files.cert_path;
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL 3 compares the key with the certificate already loaded right here.
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return mismatch;
    }
    return "cannot read the TLS key " + files.key_path + " (PEM expected): " + openssl_error();
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) return mismatch;
  return {};
}

}  // namespace lobbykit::transport
