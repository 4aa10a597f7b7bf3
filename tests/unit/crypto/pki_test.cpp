#include "crypto/pki.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <regex>

#include "crypto/crypto.h"

namespace parley::crypto {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

X509Ptr ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// X509_verify_cert of `leaf_pem` against `ca_pem` as the only trust anchor,
// for the given purpose (X509_PURPOSE_SSL_CLIENT / _SERVER).
bool ChainsTo(const std::string& ca_pem, const std::string& leaf_pem, int purpose) {
  X509Ptr ca = ParseCert(ca_pem);
  X509Ptr leaf = ParseCert(leaf_pem);
  if (!ca || !leaf) return false;
  StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  bool ok = X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  return ok;
}

class PkiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ca = MakeCa("Parley Agent CA", 365);
    ASSERT_TRUE(ca.ok()) << ca.error().detail;
    ca_ = new KeyAndCert(*ca);
  }
  static void TearDownTestSuite() {
    delete ca_;
    ca_ = nullptr;
  }
  static KeyAndCert* ca_;
};
KeyAndCert* PkiTest::ca_ = nullptr;

// The CA is a CA: basicConstraints CA:TRUE, keyCertSign, self-signed, P-256.
TEST_F(PkiTest, CaCertificateIsACa) {
  X509Ptr ca = ParseCert(ca_->cert_pem);
  ASSERT_TRUE(ca);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(*CertCommonName(ca_->cert_pem), "Parley Agent CA");
  EXPECT_NE(ca_->key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);  // PKCS#8
}

// CA -> agent CSR -> SignClientCsr: the certificate chains to the CA for
// client auth, carries clientAuth only, is not a CA, and names the CN the
// server chose rather than the one the agent asked for.
TEST_F(PkiTest, SignedClientCertChainsToCaWithClientAuthAndServerChosenCn) {
  std::string agent_key = GenerateEcPrivateKeyPem();
  auto csr = MakeCsr(agent_key, "evil-admin");
  ASSERT_TRUE(csr.ok()) << csr.error().detail;
  auto cert_pem = SignClientCsr(*ca_, *csr, "agent-42", 30);
  ASSERT_TRUE(cert_pem.ok()) << cert_pem.error().detail;

  EXPECT_TRUE(ChainsTo(ca_->cert_pem, *cert_pem, X509_PURPOSE_SSL_CLIENT));
  X509Ptr cert = ParseCert(*cert_pem);
  ASSERT_TRUE(cert);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_FALSE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(*CertCommonName(*cert_pem), "agent-42");
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(ERR_peek_error(), 0u);  // success leaves no stale errors behind

  // The certificate is for the agent's own key (proof it can use it).
  BioPtr bio(BIO_new_mem_buf(agent_key.data(), static_cast<int>(agent_key.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

// Serials are random and at most 128 bits; two issuances never share one.
TEST_F(PkiTest, SerialsAreRandom128Bit) {
  auto csr = MakeCsr(GenerateEcPrivateKeyPem(), "a");
  X509Ptr a = ParseCert(*SignClientCsr(*ca_, *csr, "a", 1));
  X509Ptr b = ParseCert(*SignClientCsr(*ca_, *csr, "a", 1));
  BignumPtr sa(ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.get()), nullptr));
  BignumPtr sb(ASN1_INTEGER_to_BN(X509_get0_serialNumber(b.get()), nullptr));
  EXPECT_LE(BN_num_bits(sa.get()), 128);
  EXPECT_GT(BN_num_bits(sa.get()), 64);  // fails with probability 2^-64
  EXPECT_NE(BN_cmp(sa.get(), sb.get()), 0);
}

// A certificate from this CA does not chain to another CA.
TEST_F(PkiTest, ClientCertDoesNotChainToAnotherCa) {
  auto other = MakeCa("Other CA", 30);
  ASSERT_TRUE(other.ok());
  auto cert = SignClientCsr(*ca_, *MakeCsr(GenerateEcPrivateKeyPem(), "x"), "x", 30);
  ASSERT_TRUE(cert.ok());
  EXPECT_FALSE(ChainsTo(other->cert_pem, *cert, X509_PURPOSE_SSL_CLIENT));
}

// A CSR whose signature was altered (no proof of possession) is refused.
TEST_F(PkiTest, CsrWithTamperedSignatureIsRefused) {
  auto csr = MakeCsr(GenerateEcPrivateKeyPem(), "agent");
  ASSERT_TRUE(csr.ok());
  BioPtr in(BIO_new_mem_buf(csr->data(), static_cast<int>(csr->size())));
  X509ReqPtr req(PEM_read_bio_X509_REQ(in.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(req);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  ASSERT_GT(len, 0);
  der[len - 1] ^= 0x01;  // the DER ends inside the signature's s value
  const unsigned char* p = der;
  X509ReqPtr tampered(d2i_X509_REQ(nullptr, &p, len));
  OPENSSL_free(der);
  ASSERT_TRUE(tampered);
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(out.get(), tampered.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(out.get(), &data);
  auto signed_cert = SignClientCsr(*ca_, std::string(data, static_cast<size_t>(n)), "agent", 30);
  ASSERT_FALSE(signed_cert.ok());
  EXPECT_EQ(signed_cert.error().code, Code::kInvalidArgument);
  EXPECT_NE(signed_cert.error().detail.find("signature"), std::string::npos) << signed_cert.error().detail;
}

// An RSA-1024 key is below the policy; the CSR is refused.
TEST_F(PkiTest, Rsa1024CsrIsRefused) {
  PkeyPtr rsa(EVP_RSA_gen(1024));
  ASSERT_TRUE(rsa);
  auto csr = MakeCsr(KeyPem(rsa.get()), "weak");
  ASSERT_TRUE(csr.ok()) << csr.error().detail;
  auto cert = SignClientCsr(*ca_, *csr, "weak", 30);
  ASSERT_FALSE(cert.ok());
  EXPECT_NE(cert.error().detail.find("too weak"), std::string::npos) << cert.error().detail;
}

// RSA-2048 meets the policy and is accepted.
TEST_F(PkiTest, Rsa2048CsrIsAccepted) {
  PkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_TRUE(rsa);
  auto cert = SignClientCsr(*ca_, *MakeCsr(KeyPem(rsa.get()), "rsa-agent"), "rsa-agent", 30);
  ASSERT_TRUE(cert.ok()) << cert.error().detail;
  EXPECT_TRUE(ChainsTo(ca_->cert_pem, *cert, X509_PURPOSE_SSL_CLIENT));
}

// EC curves below P-256 are refused.
TEST_F(PkiTest, SmallCurveCsrIsRefused) {
  PkeyPtr p224(EVP_EC_gen("P-224"));
  ASSERT_TRUE(p224);
  auto cert = SignClientCsr(*ca_, *MakeCsr(KeyPem(p224.get()), "x"), "x", 30);
  ASSERT_FALSE(cert.ok());
  EXPECT_NE(cert.error().detail.find("not allowed"), std::string::npos) << cert.error().detail;
}

// Garbage, empty or oversized CSR input is an error, not a crash.
TEST_F(PkiTest, MalformedCsrIsRefused) {
  EXPECT_FALSE(SignClientCsr(*ca_, "", "x", 30).ok());
  EXPECT_FALSE(SignClientCsr(*ca_, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                             "x", 30)
                   .ok());
  EXPECT_FALSE(SignClientCsr(*ca_, std::string(100000, 'A'), "x", 30).ok());
}

// A leaf certificate cannot be used as the issuing CA.
TEST_F(PkiTest, NonCaCannotSign) {
  auto leaf = MakeSelfSignedServerCert("leaf", {"localhost"}, 30);
  ASSERT_TRUE(leaf.ok());
  auto cert = SignClientCsr(*leaf, *MakeCsr(GenerateEcPrivateKeyPem(), "x"), "x", 30);
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().code, Code::kFailedPrecondition);
}

// A CA whose key does not match its certificate is refused.
TEST_F(PkiTest, MismatchedCaKeyIsRefused) {
  KeyAndCert wrong{GenerateEcPrivateKeyPem(), ca_->cert_pem};
  auto cert = SignClientCsr(wrong, *MakeCsr(GenerateEcPrivateKeyPem(), "x"), "x", 30);
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().code, Code::kFailedPrecondition);
}

// The ingest server certificate chains to the CA for server auth and names
// its DNS and IP alternatives.
TEST_F(PkiTest, IssuedServerCertHasServerAuthAndSan) {
  auto server = IssueServerCert(*ca_, "ingest", {"ingest.example", "127.0.0.1", "::1"}, 30);
  ASSERT_TRUE(server.ok()) << server.error().detail;
  EXPECT_TRUE(ChainsTo(ca_->cert_pem, server->cert_pem, X509_PURPOSE_SSL_SERVER));
  X509Ptr cert = ParseCert(server->cert_pem);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_EQ(X509_check_host(cert.get(), "ingest.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "other.example", 0, 0, nullptr), 1);
}

// The demo certificate is self-signed with DNS and iPAddress SAN entries.
TEST_F(PkiTest, SelfSignedServerCertHasDnsAndIpSan) {
  auto self = MakeSelfSignedServerCert("parley-demo", {"localhost", "127.0.0.1"}, 30);
  ASSERT_TRUE(self.ok()) << self.error().detail;
  X509Ptr cert = ParseCert(self->cert_pem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  // "127.0.0.1" is an iPAddress entry, not a DNS name.
  EXPECT_NE(X509_check_host(cert.get(), "127.0.0.1", 0, 0, nullptr), 1);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_TRUE(ChainsTo(self->cert_pem, self->cert_pem, X509_PURPOSE_SSL_SERVER));
}

// Names that would smuggle extra SAN entries are refused.
TEST_F(PkiTest, SanInjectionIsRefused) {
  EXPECT_FALSE(MakeSelfSignedServerCert("x", {"a.example,DNS:evil.example"}, 30).ok());
  EXPECT_FALSE(MakeSelfSignedServerCert("x", {""}, 30).ok());
  EXPECT_FALSE(MakeSelfSignedServerCert("", {"a.example"}, 30).ok());
  EXPECT_FALSE(MakeSelfSignedServerCert("x", {"a.example"}, 0).ok());
}

// The fingerprint is SHA-256 over the DER: 64 hex, stable, per-certificate.
TEST_F(PkiTest, FingerprintIsStableSha256Hex) {
  auto fp = CertFingerprint(ca_->cert_pem);
  ASSERT_TRUE(fp.ok());
  EXPECT_TRUE(std::regex_match(*fp, std::regex("[0-9a-f]{64}"))) << *fp;
  EXPECT_EQ(*fp, *CertFingerprint(ca_->cert_pem));
  X509Ptr cert = ParseCert(ca_->cert_pem);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  EXPECT_EQ(*fp, Sha256Hex(std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len))));
  OPENSSL_free(der);
  auto other = MakeCa("Other", 1);
  EXPECT_NE(*fp, *CertFingerprint(other->cert_pem));
  EXPECT_FALSE(CertFingerprint("not a certificate").ok());
}

}  // namespace
}  // namespace parley::crypto
