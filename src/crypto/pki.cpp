#include "crypto/pki.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "crypto/crypto.h"
#include "crypto/detail/openssl_util.h"

namespace parley::crypto {
namespace {

using detail::Asn1OctetStringPtr;
using detail::BignumPtr;
using detail::BioPtr;
using detail::GeneralNamePtr;
using detail::GeneralNamesPtr;
using detail::MemBio;
using detail::OpensslError;
using detail::PkeyPtr;
using detail::X509ExtPtr;
using detail::X509Ptr;
using detail::X509ReqPtr;

// A CSR arrives from the network before the agent is trusted; a real one is
// well under 2 KiB.
constexpr size_t kMaxCsrSize = 64 * 1024;
// Certificates start a few minutes in the past so a peer whose clock is
// slightly behind does not reject a certificate issued just now.
constexpr long kBackdateSeconds = 5 * 60;
constexpr int kMaxDays = 100 * 365;
constexpr int kMinRsaBits = 2048;

// Never prompt on the terminal for a passphrase: encrypted PEM is an error.
int NoPassphrase(char*, int, int, void*) { return 0; }

Result<PkeyPtr> LoadPrivateKey(std::string_view pem) {
  BioPtr bio = MemBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (!key) return InvalidArgument(OpensslError("cannot parse private key PEM"));
  return key;
}

Result<X509Ptr> LoadCert(std::string_view pem) {
  BioPtr bio = MemBio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (!cert) return InvalidArgument(OpensslError("cannot parse certificate PEM"));
  return cert;
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY").
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Internal(OpensslError("cannot encode private key"));
  return detail::BioContents(bio.get());
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return Internal(OpensslError("cannot encode certificate"));
  return detail::BioContents(bio.get());
}

Result<PkeyPtr> NewEcKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Internal(OpensslError("cannot generate P-256 key"));
  return key;
}

// The TLS policy's key minimums: EC on P-256/P-384/P-521, RSA >= 2048 bits.
Status CheckKeyStrength(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1)
        return InvalidArgument(OpensslError("EC key without a named curve"));
      std::string_view g(group, len);
      if (g == SN_X9_62_prime256v1 || g == SN_secp384r1 || g == SN_secp521r1) return Ok();
      return InvalidArgument("EC curve " + std::string(g) + " is not allowed (P-256, P-384 or P-521)");
    }
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      if (EVP_PKEY_get_bits(key) >= kMinRsaBits) return Ok();
      return InvalidArgument("RSA key of " + std::to_string(EVP_PKEY_get_bits(key)) +
                             " bits is too weak (at least 2048)");
    default:
      return InvalidArgument("key type is not allowed (EC P-256 or stronger, or RSA >= 2048)");
  }
}

Status SetCommonName(X509_NAME* name, std::string_view cn) {
  if (cn.empty()) return InvalidArgument("common name is empty");
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1)
    return InvalidArgument(OpensslError("invalid common name (at most 64 characters)"));
  return Ok();
}

Status SetRandomSerial(X509* cert) {
  // 128 random bits: unpredictable serials are what CA/B BR 7.1 asks for,
  // and they never collide between two issuers sharing a CA.
  BignumPtr bn;
  do {
    std::string bytes = RandomBytes(16);
    bn.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), 16, nullptr));
    if (!bn) return Internal(OpensslError("BN_bin2bn"));
  } while (BN_is_zero(bn.get()));
  if (BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr)
    return Internal(OpensslError("cannot set serial"));
  return Ok();
}

// Adds one extension given in openssl.cnf syntax. `issuer` is the cert itself
// for self-signed certificates (authorityKeyIdentifier reads its SKI).
Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return Internal(OpensslError(std::string("cannot add extension ") + OBJ_nid2sn(nid)));
  return Ok();
}

bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '*' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// subjectAltName built from GENERAL_NAMEs rather than a config string, so a
// name containing "," or ":" cannot smuggle in extra entries.
Status AddSubjectAltNames(X509* cert, const std::vector<std::string>& names) {
  GeneralNamesPtr gens(GENERAL_NAMES_new());
  if (!gens) return Internal(OpensslError("GENERAL_NAMES_new"));
  for (const std::string& name : names) {
    GeneralNamePtr gen(GENERAL_NAME_new());
    if (!gen) return Internal(OpensslError("GENERAL_NAME_new"));
    unsigned char ip[16];
    int ip_len = 0;
    if (inet_pton(AF_INET, name.c_str(), ip) == 1) ip_len = 4;
    else if (inet_pton(AF_INET6, name.c_str(), ip) == 1) ip_len = 16;
    if (ip_len > 0) {
      Asn1OctetStringPtr octets(ASN1_OCTET_STRING_new());
      if (!octets || ASN1_OCTET_STRING_set(octets.get(), ip, ip_len) != 1) return Internal(OpensslError("IP SAN"));
      GENERAL_NAME_set0_value(gen.get(), GEN_IPADD, octets.release());
    } else {
      if (!IsDnsName(name)) return InvalidArgument("invalid DNS name in subjectAltName: " + name);
      detail::Asn1Ia5StringPtr dns(ASN1_IA5STRING_new());
      if (!dns || ASN1_STRING_set(dns.get(), name.data(), static_cast<int>(name.size())) != 1)
        return Internal(OpensslError("DNS SAN"));
      GENERAL_NAME_set0_value(gen.get(), GEN_DNS, dns.release());
    }
    if (sk_GENERAL_NAME_push(gens.get(), gen.get()) == 0) return Internal(OpensslError("SAN push"));
    gen.release();  // now owned by gens
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens.get(), 0, X509V3_ADD_DEFAULT) != 1)
    return Internal(OpensslError("cannot add subjectAltName"));
  return Ok();
}

struct Extension {
  int nid;
  const char* value;
};

struct CertSpec {
  std::string_view common_name;
  int days = 0;
  EVP_PKEY* subject_key = nullptr;  // public half goes into the certificate
  X509* issuer = nullptr;           // nullptr: self-signed
  EVP_PKEY* issuer_key = nullptr;   // signs; the subject key when self-signed
  std::vector<Extension> extensions;
  const std::vector<std::string>* alt_names = nullptr;  // adds subjectAltName when set
};

Result<X509Ptr> BuildCert(const CertSpec& spec) {
  if (spec.days <= 0 || spec.days > kMaxDays) return InvalidArgument("validity days out of range");
  X509Ptr cert(X509_new());
  if (!cert) return Internal(OpensslError("X509_new"));
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return Internal(OpensslError("X509_set_version"));
  PARLEY_TRY(SetRandomSerial(cert.get()));
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), spec.days, 0, nullptr) == nullptr)
    return Internal(OpensslError("cannot set validity"));
  PARLEY_TRY(SetCommonName(X509_get_subject_name(cert.get()), spec.common_name));
  X509_NAME* issuer_name = spec.issuer ? X509_get_subject_name(spec.issuer) : X509_get_subject_name(cert.get());
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) return Internal(OpensslError("cannot set issuer"));
  if (X509_set_pubkey(cert.get(), spec.subject_key) != 1) return Internal(OpensslError("cannot set public key"));
  X509* ext_issuer = spec.issuer ? spec.issuer : cert.get();
  for (const Extension& ext : spec.extensions) PARLEY_TRY(AddExtension(cert.get(), ext_issuer, ext.nid, ext.value));
  if (spec.alt_names) PARLEY_TRY(AddSubjectAltNames(cert.get(), *spec.alt_names));
  if (X509_sign(cert.get(), spec.issuer_key, EVP_sha256()) <= 0) return Internal(OpensslError("cannot sign"));
  return cert;
}

struct LoadedCa {
  PkeyPtr key;
  X509Ptr cert;
};

Result<LoadedCa> LoadCa(const KeyAndCert& ca) {
  PARLEY_ASSIGN_OR_RETURN(PkeyPtr key, LoadPrivateKey(ca.key_pem));
  PARLEY_ASSIGN_OR_RETURN(X509Ptr cert, LoadCert(ca.cert_pem));
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return FailedPrecondition(OpensslError("CA key does not match the CA certificate"));
  if (X509_check_ca(cert.get()) < 1) return FailedPrecondition("CA certificate is not a CA (basicConstraints)");
  return LoadedCa{std::move(key), std::move(cert)};
}

Result<KeyAndCert> Finish(EVP_PKEY* key, X509* cert) {
  PARLEY_ASSIGN_OR_RETURN(std::string key_pem, KeyToPem(key));
  PARLEY_ASSIGN_OR_RETURN(std::string cert_pem, CertToPem(cert));
  return KeyAndCert{std::move(key_pem), std::move(cert_pem)};
}

// Leaf certificates: not a CA, and the key only signs handshakes (ECDHE
// suites never need keyEncipherment).
constexpr Extension kLeafBasics[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_subject_key_identifier, "hash"},
};

std::vector<Extension> LeafExtensions(const char* eku, bool with_aki) {
  std::vector<Extension> exts(std::begin(kLeafBasics), std::end(kLeafBasics));
  exts.push_back({NID_ext_key_usage, eku});
  if (with_aki) exts.push_back({NID_authority_key_identifier, "keyid:always"});
  return exts;
}

}  // namespace

std::string GenerateEcPrivateKeyPem() {
  auto key = NewEcKey();
  auto pem = key.ok() ? KeyToPem(key->get()) : Result<std::string>(key.error());
  if (!pem.ok()) {
    // Only an exhausted machine fails here (see crypto.cpp's error policy).
    std::fprintf(stderr, "parley: fatal crypto failure: %s\n", pem.error().detail.c_str());
    std::abort();
  }
  return std::move(pem).value();
}

Result<KeyAndCert> MakeSelfSignedServerCert(std::string_view common_name, const std::vector<std::string>& alt_names,
                                            int days) {
  PARLEY_ASSIGN_OR_RETURN(PkeyPtr key, NewEcKey());
  // Clients match the SAN only; with no names given, the CN is the one name.
  std::vector<std::string> names = alt_names.empty() ? std::vector<std::string>{std::string(common_name)} : alt_names;
  CertSpec spec{.common_name = common_name,
                .days = days,
                .subject_key = key.get(),
                .issuer = nullptr,
                .issuer_key = key.get(),
                .extensions = LeafExtensions("serverAuth", false),
                .alt_names = &names};
  PARLEY_ASSIGN_OR_RETURN(X509Ptr cert, BuildCert(spec));
  return Finish(key.get(), cert.get());
}

Result<KeyAndCert> MakeCa(std::string_view common_name, int days) {
  PARLEY_ASSIGN_OR_RETURN(PkeyPtr key, NewEcKey());
  // pathlen:0 — this CA signs leaves only; a leaked agent certificate can
  // never act as an intermediate.
  CertSpec spec{.common_name = common_name,
                .days = days,
                .subject_key = key.get(),
                .issuer = nullptr,
                .issuer_key = key.get(),
                .extensions = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                               {NID_key_usage, "critical,keyCertSign,cRLSign"},
                               {NID_subject_key_identifier, "hash"},
                               {NID_authority_key_identifier, "keyid:always"}},
                .alt_names = nullptr};
  PARLEY_ASSIGN_OR_RETURN(X509Ptr cert, BuildCert(spec));
  return Finish(key.get(), cert.get());
}

Result<KeyAndCert> IssueServerCert(const KeyAndCert& ca, std::string_view common_name,
                                   const std::vector<std::string>& alt_names, int days) {
  PARLEY_ASSIGN_OR_RETURN(LoadedCa issuer, LoadCa(ca));
  PARLEY_ASSIGN_OR_RETURN(PkeyPtr key, NewEcKey());
  std::vector<std::string> names = alt_names.empty() ? std::vector<std::string>{std::string(common_name)} : alt_names;
  CertSpec spec{.common_name = common_name,
                .days = days,
                .subject_key = key.get(),
                .issuer = issuer.cert.get(),
                .issuer_key = issuer.key.get(),
                .extensions = LeafExtensions("serverAuth", true),
                .alt_names = &names};
  PARLEY_ASSIGN_OR_RETURN(X509Ptr cert, BuildCert(spec));
  return Finish(key.get(), cert.get());
}

Result<std::string> MakeCsr(std::string_view key_pem, std::string_view common_name) {
  PARLEY_ASSIGN_OR_RETURN(PkeyPtr key, LoadPrivateKey(key_pem));
  X509ReqPtr req(X509_REQ_new());
  if (!req) return Internal(OpensslError("X509_REQ_new"));
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) return Internal(OpensslError("CSR version"));
  PARLEY_TRY(SetCommonName(X509_REQ_get_subject_name(req.get()), common_name));
  if (X509_REQ_set_pubkey(req.get(), key.get()) != 1) return Internal(OpensslError("CSR public key"));
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) return Internal(OpensslError("cannot sign CSR"));
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) return Internal(OpensslError("cannot encode CSR"));
  return detail::BioContents(bio.get());
}

Result<std::string> SignClientCsr(const KeyAndCert& ca, std::string_view csr_pem, std::string_view common_name,
                                  int days) {
  if (csr_pem.size() > kMaxCsrSize) return InvalidArgument("CSR too large");
  BioPtr bio = MemBio(csr_pem);
  X509ReqPtr req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (!req) return InvalidArgument(OpensslError("cannot parse CSR"));
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (pub == nullptr) return InvalidArgument(OpensslError("CSR has no usable public key"));
  // Proof of possession: the requester holds the private key it asks us to
  // certify.
  if (X509_REQ_verify(req.get(), pub) != 1) return InvalidArgument(OpensslError("CSR signature does not verify"));
  int md_nid = NID_undef;
  int pk_nid = NID_undef;
  if (OBJ_find_sigid_algs(X509_REQ_get_signature_nid(req.get()), &md_nid, &pk_nid) != 1 ||
      (md_nid != NID_sha256 && md_nid != NID_sha384 && md_nid != NID_sha512))
    return InvalidArgument("CSR must be signed with SHA-256 or stronger");
  PARLEY_TRY(CheckKeyStrength(pub));

  PARLEY_ASSIGN_OR_RETURN(LoadedCa issuer, LoadCa(ca));
  // Nothing else from the CSR is copied (subject, requested extensions): the
  // server alone decides what the certificate says.
  CertSpec spec{.common_name = common_name,
                .days = days,
                .subject_key = pub,
                .issuer = issuer.cert.get(),
                .issuer_key = issuer.key.get(),
                .extensions = LeafExtensions("clientAuth", true),
                .alt_names = nullptr};
  PARLEY_ASSIGN_OR_RETURN(X509Ptr cert, BuildCert(spec));
  return CertToPem(cert.get());
}

Result<std::string> CertFingerprint(std::string_view cert_pem) {
  PARLEY_ASSIGN_OR_RETURN(X509Ptr cert, LoadCert(cert_pem));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &len) != 1) return Internal(OpensslError("X509_digest"));
  return ToHex(std::string_view(reinterpret_cast<const char*>(md), len));
}

Result<std::string> CertCommonName(std::string_view cert_pem) {
  PARLEY_ASSIGN_OR_RETURN(X509Ptr cert, LoadCert(cert_pem));
  X509_NAME* subject = X509_get_subject_name(cert.get());
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return NotFound("certificate has no common name");
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return InvalidArgument(OpensslError("common name is not valid text"));
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace parley::crypto
