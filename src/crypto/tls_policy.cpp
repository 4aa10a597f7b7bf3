#include "crypto/tls_policy.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "crypto/detail/openssl_util.h"

namespace parley::crypto {
namespace {

using detail::OpensslError;

// Sessions resumed on a server that verifies clients must carry the same
// context id, or OpenSSL refuses the resumption.
constexpr unsigned char kSessionIdContext[] = "parley";

std::string FileError(std::string_view what, const std::filesystem::path& file) {
  return OpensslError(std::string(what) + " " + file.string());
}

}  // namespace

Status ApplyTlsPolicy(SSL_CTX* ctx) {
  if (ctx == nullptr) return InvalidArgument("ApplyTlsPolicy: no SSL_CTX");
  // Minimum only: max 0 means "highest the library supports", so TLS 1.3 is
  // negotiated whenever the peer can (never pin the maximum; style.md §Beast).
  if (SSL_CTX_set_min_proto_version(ctx, kTlsMinVersion) != 1 || SSL_CTX_set_max_proto_version(ctx, 0) != 1)
    return Internal(OpensslError("cannot set TLS protocol versions"));
  if (SSL_CTX_set_cipher_list(ctx, kTls12CipherList) != 1)
    return Internal(OpensslError("cannot set TLS 1.2 cipher list"));
  if (SSL_CTX_set_ciphersuites(ctx, kTls13CipherSuites) != 1)
    return Internal(OpensslError("cannot set TLS 1.3 cipher suites"));
  if (SSL_CTX_set1_groups_list(ctx, kTlsGroups) != 1) return Internal(OpensslError("cannot set TLS groups"));
  // Level 2: RSA/DH >= 2048, ECC >= 224 bits, no SHA-1 signatures; the
  // cipher and group lists above already exclude everything weaker.
  SSL_CTX_set_security_level(ctx, kTlsSecurityLevel);
  // CIPHER_SERVER_PREFERENCE only has an effect on the server side, so it is
  // harmless on a client context (libcurl's, say).
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  return Ok();
}

Result<SslCtxPtr> MakeTlsContext(const TlsContextOptions& options) {
  const bool server = options.role == TlsRole::kServer;
  SslCtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return Internal(OpensslError("SSL_CTX_new"));
  PARLEY_TRY(ApplyTlsPolicy(ctx.get()));

  if (server && options.cert_file.empty()) return ConfigError("a TLS server needs a certificate file");
  if (!options.cert_file.empty()) {
    if (options.key_file.empty()) return ConfigError("certificate " + options.cert_file.string() + " has no key file");
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_file.c_str()) != 1)
      return ConfigError(FileError("cannot load certificate chain", options.cert_file));
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), options.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return ConfigError(FileError("cannot load private key", options.key_file));
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
      return ConfigError(OpensslError("private key " + options.key_file.string() + " does not match certificate " +
                                      options.cert_file.string()));
  }

  const bool verifies_peer =
      server ? options.verify != PeerVerification::kNone : options.verify == PeerVerification::kRequired;
  if (!server && options.verify == PeerVerification::kOptional)
    return ConfigError("PeerVerification::kOptional is a server setting; a client verifies or does not");
  if (verifies_peer && options.ca_file.empty())
    return ConfigError(std::string(server ? "verifying client certificates" : "verifying the server") +
                       " needs a CA file");
  if (!options.ca_file.empty() &&
      SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1)
    return ConfigError(FileError("cannot load CA file", options.ca_file));

  int mode = SSL_VERIFY_NONE;
  if (server) {
    if (options.verify == PeerVerification::kOptional) mode = SSL_VERIFY_PEER;
    if (options.verify == PeerVerification::kRequired) mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    if (verifies_peer) {
      // The CertificateRequest names the acceptable CAs so a client holding
      // several certificates picks the right one.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_file.c_str());
      if (names == nullptr) return ConfigError(FileError("no CA names in", options.ca_file));
      SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
      if (SSL_CTX_set_session_id_context(ctx.get(), kSessionIdContext, sizeof kSessionIdContext - 1) != 1)
        return Internal(OpensslError("cannot set session id context"));
    }
  } else if (verifies_peer) {
    mode = SSL_VERIFY_PEER;
  }
  SSL_CTX_set_verify(ctx.get(), mode, nullptr);
  return ctx;
}

Status SetExpectedPeerName(SSL* ssl, const std::string& host) {
  if (ssl == nullptr || host.empty()) return InvalidArgument("SetExpectedPeerName: no SSL or empty host");
  unsigned char ip[16];
  const bool is_ip = inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1;
  if (is_ip) {
    // SNI must not carry IP literals (RFC 6066 §3); match the iPAddress SAN.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1)
      return InvalidArgument(OpensslError("invalid IP address " + host));
    return Ok();
  }
  if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return InvalidArgument(OpensslError("invalid SNI " + host));
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host(ssl, host.c_str()) != 1) return InvalidArgument(OpensslError("invalid host name " + host));
  return Ok();
}

}  // namespace parley::crypto
