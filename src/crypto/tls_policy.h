// The one TLS policy (blueprint "TLS policy"): every listener and every
// client, server or agent, gets its SSL_CTX from MakeTlsContext, or — where a
// library owns the context (libcurl) — passes it through ApplyTlsPolicy.
//
// TLS 1.2 minimum, 1.3 preferred; TLS 1.2 only with ECDHE + AES-GCM or
// ChaCha20-Poly1305; no compression; no renegotiation; groups X25519, P-256,
// P-384; certificates' keys RSA >= 2048 / EC >= P-256 and SHA-256 or better
// (OpenSSL security level 2).
#pragma once

#include <openssl/ssl.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"

namespace parley::crypto {

// The constants, so tests and docs read them from one place.
inline constexpr int kTlsMinVersion = TLS1_2_VERSION;
inline constexpr const char* kTls12CipherList =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
inline constexpr const char* kTls13CipherSuites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
inline constexpr const char* kTlsGroups = "X25519:P-256:P-384";
inline constexpr int kTlsSecurityLevel = 2;

enum class TlsRole { kServer, kClient };

enum class PeerVerification {
  kNone,      // server: no client certificate asked (portal)
  kOptional,  // server: ask; verify if presented (ingest: /enroll has none yet)
  kRequired,  // server: refuse the handshake without a valid one; client: verify server
};

struct TlsContextOptions {
  TlsRole role = TlsRole::kServer;
  std::filesystem::path cert_file;  // own certificate chain (PEM); optional for clients
  std::filesystem::path key_file;   // own private key (PEM)
  std::filesystem::path ca_file;    // trust anchors for the peer (PEM)
  PeerVerification verify = PeerVerification::kRequired;
};

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Applies the policy to a context someone else created.
Status ApplyTlsPolicy(SSL_CTX* ctx);

// Builds a context with the policy, loads cert/key/CA and sets verification.
// Errors name the file that failed.
Result<SslCtxPtr> MakeTlsContext(const TlsContextOptions& options);

// Client side, per connection: sends SNI (for DNS names) and makes
// verification check that the server's certificate names `host` (a DNS name
// or an IP literal, matched against the subjectAltName). Chain verification
// alone would accept any certificate from a trusted CA.
Status SetExpectedPeerName(SSL* ssl, const std::string& host);

}  // namespace parley::crypto
