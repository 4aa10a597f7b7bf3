// X.509 for Parley's own trust: the self-signed portal certificate for the
// demo, the internal CA that signs agent client certificates (and the ingest
// listener's server certificate), CSRs made by agents. EC P-256 keys and
// SHA-256 signatures throughout (the TLS policy's minimums). All PEM strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace parley::crypto {

struct KeyAndCert {
  std::string key_pem;   // PKCS#8 private key
  std::string cert_pem;
};

std::string GenerateEcPrivateKeyPem();  // P-256

// Self-signed server certificate with subjectAltName DNS/IP entries (e.g.
// {"localhost", "127.0.0.1"}); IP-looking names become iPAddress entries.
Result<KeyAndCert> MakeSelfSignedServerCert(std::string_view common_name, const std::vector<std::string>& alt_names,
                                            int days);
// A CA certificate (basicConstraints CA:TRUE, keyCertSign).
Result<KeyAndCert> MakeCa(std::string_view common_name, int days);
// Server certificate issued by `ca` (for the ingest listener).
Result<KeyAndCert> IssueServerCert(const KeyAndCert& ca, std::string_view common_name,
                                   const std::vector<std::string>& alt_names, int days);

// CSR signed by `key_pem`, subject CN = common_name.
Result<std::string> MakeCsr(std::string_view key_pem, std::string_view common_name);
// Verifies the CSR's self-signature and key strength (EC >= P-256 or RSA >=
// 2048), then issues a client certificate (extendedKeyUsage clientAuth) with
// subject CN = common_name (the CSR's subject is ignored: the server decides
// the identity), random serial, validity `days`.
Result<std::string> SignClientCsr(const KeyAndCert& ca, std::string_view csr_pem, std::string_view common_name,
                                  int days);

// SHA-256 over the DER encoding of the first certificate in `cert_pem`, hex.
Result<std::string> CertFingerprint(std::string_view cert_pem);
// Subject common name of a PEM certificate.
Result<std::string> CertCommonName(std::string_view cert_pem);

}  // namespace parley::crypto
