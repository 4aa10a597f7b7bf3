#include "crypto/tls_policy.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>

#include "common/files.h"
#include "crypto/pki.h"
#include "unit/crypto/temp_dir.h"

namespace parley::crypto {
namespace {

using testing::TempDir;

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

struct HandshakeOutcome {
  bool client_ok = false;
  bool server_ok = false;
  int server_reason = 0;  // ERR_GET_REASON of the server's failure
  int version = 0;        // negotiated protocol when both succeeded
  int group = 0;          // negotiated key-exchange group (NID)
  std::string cipher;
  bool data_flows = false;
};

// Positional, so every field is stated (-Wmissing-field-initializers).
TlsContextOptions Options(TlsRole role, std::filesystem::path cert, std::filesystem::path key,
                          std::filesystem::path ca, PeerVerification verify) {
  TlsContextOptions options;
  options.role = role;
  options.cert_file = std::move(cert);
  options.key_file = std::move(key);
  options.ca_file = std::move(ca);
  options.verify = verify;
  return options;
}

// Runs client and server in memory over a BIO pair until both finish or one
// fails. The server's verdict is what counts: in TLS 1.3 the client finishes
// before the server has checked the client certificate.
HandshakeOutcome Handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& host = "localhost") {
  HandshakeOutcome out;
  SslPtr server(SSL_new(server_ctx));
  SslPtr client(SSL_new(client_ctx));
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  if (!server || !client || BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) return out;
  SSL_set_bio(client.get(), client_bio, client_bio);  // each SSL owns its end
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  if (!SetExpectedPeerName(client.get(), host).ok()) return out;

  bool client_done = false, server_done = false, failed = false;
  auto step = [&](SSL* ssl, bool& done, int* reason) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
      done = true;
      return;
    }
    int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      failed = true;
      if (reason) *reason = ERR_GET_REASON(ERR_peek_last_error());
    }
  };
  for (int i = 0; i < 50 && !(client_done && server_done) && !failed; ++i) {
    if (!client_done) step(client.get(), client_done, nullptr);
    if (!server_done && !failed) step(server.get(), server_done, &out.server_reason);
  }
  out.client_ok = client_done;
  out.server_ok = server_done;
  if (client_done && server_done) {
    out.version = SSL_version(server.get());
    out.group = SSL_get_negotiated_group(server.get());
    out.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(server.get()));
    char buf[8] = {};
    out.data_flows = SSL_write(client.get(), "ping", 4) == 4 && SSL_read(server.get(), buf, sizeof buf) == 4 &&
                     std::string(buf, 4) == "ping";
  }
  ERR_clear_error();
  return out;
}

// Certificates on disk for one test suite: a CA, a server certificate from
// it, an agent certificate from it, and an agent certificate from another CA.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto ca = MakeCa("Parley Agent CA", 30);
    auto other_ca = MakeCa("Rogue CA", 30);
    ASSERT_TRUE(ca.ok() && other_ca.ok());
    auto server = IssueServerCert(*ca, "localhost", {"localhost", "127.0.0.1"}, 30);
    ASSERT_TRUE(server.ok()) << server.error().detail;
    std::string agent_key = GenerateEcPrivateKeyPem();
    auto agent = SignClientCsr(*ca, *MakeCsr(agent_key, "agent"), "agent-1", 30);
    std::string rogue_key = GenerateEcPrivateKeyPem();
    auto rogue = SignClientCsr(*other_ca, *MakeCsr(rogue_key, "agent"), "agent-1", 30);
    ASSERT_TRUE(agent.ok() && rogue.ok());
    auto self = MakeSelfSignedServerCert("parley-demo", {"localhost", "127.0.0.1"}, 30);
    ASSERT_TRUE(self.ok());
    Write("ca.pem", ca->cert_pem);
    Write("other-ca.pem", other_ca->cert_pem);
    Write("server.pem", server->cert_pem);
    Write("server.key", server->key_pem);
    Write("agent.pem", *agent);
    Write("agent.key", agent_key);
    Write("rogue.pem", *rogue);
    Write("rogue.key", rogue_key);
    Write("self.pem", self->cert_pem);
    Write("self.key", self->key_pem);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static void Write(const std::string& name, const std::string& content) {
    ASSERT_TRUE(WriteFileAtomic(*dir_ / name, content, 0600).ok());
  }
  static std::filesystem::path P(const std::string& name) { return *dir_ / name; }

  static SslCtxPtr Server(PeerVerification verify, const std::string& cert = "server") {
    auto ctx = MakeTlsContext(Options(TlsRole::kServer, P(cert + ".pem"), P(cert + ".key"),
                                      verify == PeerVerification::kNone ? "" : P("ca.pem"), verify));
    EXPECT_TRUE(ctx.ok()) << ctx.error().detail;
    return ctx.ok() ? std::move(ctx).value() : nullptr;
  }
  // A client verifying the server against ca.pem, with an optional
  // certificate of its own ("agent" or "rogue").
  static SslCtxPtr Client(const std::string& cert = "", const std::string& ca = "ca.pem") {
    auto ctx = MakeTlsContext(Options(TlsRole::kClient, cert.empty() ? "" : P(cert + ".pem"),
                                      cert.empty() ? "" : P(cert + ".key"), P(ca), PeerVerification::kRequired));
    EXPECT_TRUE(ctx.ok()) << ctx.error().detail;
    return ctx.ok() ? std::move(ctx).value() : nullptr;
  }
  // A client built by hand, outside the policy, to play a weak peer.
  static SslCtxPtr RawClient() {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_use_certificate_chain_file(ctx.get(), P("agent.pem").c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), P("agent.key").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    return ctx;
  }

  static TempDir* dir_;
};
TempDir* TlsTest::dir_ = nullptr;

// --- The policy read back from the SSL_CTX ------------------------------------------

// Every context has min TLS 1.2, no max (1.3 available), no compression, no
// renegotiation, server cipher preference and security level 2.
TEST_F(TlsTest, PolicySettingsReadBackFromContext) {
  SslCtxPtr contexts[] = {Server(PeerVerification::kNone), Server(PeerVerification::kRequired), Client()};
  for (const SslCtxPtr& ctx : contexts) {
    ASSERT_TRUE(ctx);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), 0);
    uint64_t options = SSL_CTX_get_options(ctx.get());
    EXPECT_TRUE(options & SSL_OP_NO_COMPRESSION);
    EXPECT_TRUE(options & SSL_OP_NO_RENEGOTIATION);
    EXPECT_TRUE(options & SSL_OP_CIPHER_SERVER_PREFERENCE);
    EXPECT_EQ(SSL_CTX_get_security_level(ctx.get()), kTlsSecurityLevel);
    EXPECT_EQ(SSL_CTX_get_security_level(ctx.get()), 2);
    EXPECT_EQ(ERR_peek_error(), 0u);  // building it left no stale errors
  }
}

// Every enabled cipher is a TLS 1.3 suite, or a TLS 1.2 suite with ECDHE key
// exchange and an AEAD cipher; both kinds are present.
TEST_F(TlsTest, OnlyForwardSecretAeadCiphersAreEnabled) {
  SslCtxPtr ctx = Server(PeerVerification::kNone);
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  ASSERT_NE(ciphers, nullptr);
  int tls13 = 0, tls12 = 0;
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    std::string name = SSL_CIPHER_get_name(c);
    ASSERT_TRUE(SSL_CIPHER_is_aead(c)) << name;
    if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) {
      EXPECT_EQ(std::string(SSL_CIPHER_get_version(c)), "TLSv1.3") << name;
      ++tls13;
    } else {
      EXPECT_EQ(SSL_CIPHER_get_kx_nid(c), NID_kx_ecdhe) << name;
      ++tls12;
    }
  }
  EXPECT_EQ(tls13, 3);
  EXPECT_EQ(tls12, 6);
}

// ApplyTlsPolicy works on a context created elsewhere (e.g. libcurl's).
TEST_F(TlsTest, ApplyTlsPolicyOnForeignContext) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_2_VERSION);  // a library pinning the max
  ASSERT_TRUE(ApplyTlsPolicy(ctx.get()).ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), 0);
  EXPECT_FALSE(ApplyTlsPolicy(nullptr).ok());
}

// Verifying servers ask for certificates, naming the CA; required
// verification sets FAIL_IF_NO_PEER_CERT; a portal asks for none.
TEST_F(TlsTest, VerifyModesFollowOptions) {
  EXPECT_EQ(SSL_CTX_get_verify_mode(Server(PeerVerification::kNone).get()), SSL_VERIFY_NONE);
  EXPECT_EQ(SSL_CTX_get_verify_mode(Server(PeerVerification::kOptional).get()), SSL_VERIFY_PEER);
  SslCtxPtr required = Server(PeerVerification::kRequired);
  EXPECT_EQ(SSL_CTX_get_verify_mode(required.get()), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_EQ(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(required.get())), 1);
  EXPECT_EQ(SSL_CTX_get_verify_mode(Client().get()), SSL_VERIFY_PEER);
}

// --- Configuration errors ----------------------------------------------------------

// A missing or mismatched file is reported with its path.
TEST_F(TlsTest, ErrorsNameTheFailingFile) {
  auto missing =
      MakeTlsContext(Options(TlsRole::kServer, P("absent.pem"), P("server.key"), "", PeerVerification::kNone));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().detail.find("absent.pem"), std::string::npos) << missing.error().detail;

  auto wrong_key =
      MakeTlsContext(Options(TlsRole::kServer, P("server.pem"), P("agent.key"), "", PeerVerification::kNone));
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_NE(wrong_key.error().detail.find("agent.key"), std::string::npos) << wrong_key.error().detail;

  auto bad_ca = MakeTlsContext(Options(TlsRole::kServer, P("server.pem"), P("server.key"), P("absent-ca.pem"),
                                       PeerVerification::kRequired));
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_NE(bad_ca.error().detail.find("absent-ca.pem"), std::string::npos) << bad_ca.error().detail;
  EXPECT_EQ(ERR_peek_error(), 0u);  // the error queue was drained
}

// Verifying without trust anchors, or a server without a certificate, is a
// configuration error rather than a silently open context.
TEST_F(TlsTest, IncompleteOptionsAreRefused) {
  EXPECT_FALSE(MakeTlsContext(Options(TlsRole::kClient, "", "", "", PeerVerification::kRequired)).ok());
  EXPECT_FALSE(
      MakeTlsContext(Options(TlsRole::kServer, P("server.pem"), P("server.key"), "", PeerVerification::kRequired))
          .ok());
  EXPECT_FALSE(MakeTlsContext(Options(TlsRole::kServer, "", "", "", PeerVerification::kNone)).ok());
  EXPECT_FALSE(MakeTlsContext(Options(TlsRole::kClient, "", "", P("ca.pem"), PeerVerification::kOptional)).ok());
}

// --- Real handshakes in memory ---------------------------------------------------------

// An agent with a certificate from the CA completes a mutual TLS 1.3
// handshake with a kRequired server, and data flows.
TEST_F(TlsTest, AgentWithCaCertificateHandshakesWithRequiredServer) {
  SslCtxPtr server = Server(PeerVerification::kRequired);
  SslCtxPtr client = Client("agent");
  HandshakeOutcome out = Handshake(server.get(), client.get());
  EXPECT_TRUE(out.client_ok);
  EXPECT_TRUE(out.server_ok) << ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, out.server_reason));
  EXPECT_EQ(out.version, TLS1_3_VERSION);
  EXPECT_EQ(out.group, NID_X25519);  // first of kTlsGroups
  EXPECT_TRUE(out.data_flows);
}

// A client certificate from another CA is refused by a kRequired server.
TEST_F(TlsTest, AgentWithForeignCaCertificateIsRefused) {
  SslCtxPtr server = Server(PeerVerification::kRequired);
  SslCtxPtr client = Client("rogue");
  HandshakeOutcome out = Handshake(server.get(), client.get());
  EXPECT_FALSE(out.server_ok);
  EXPECT_EQ(out.server_reason, SSL_R_CERTIFICATE_VERIFY_FAILED);
}

// A client without any certificate is refused by kRequired, accepted by
// kOptional (enrollment happens before the agent has one).
TEST_F(TlsTest, MissingClientCertificateRefusedOnlyWhenRequired) {
  SslCtxPtr client = Client();
  HandshakeOutcome required = Handshake(Server(PeerVerification::kRequired).get(), client.get());
  EXPECT_FALSE(required.server_ok);
  EXPECT_EQ(required.server_reason, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
  HandshakeOutcome optional = Handshake(Server(PeerVerification::kOptional).get(), client.get());
  EXPECT_TRUE(optional.server_ok);
  EXPECT_TRUE(optional.data_flows);
}

// A client that caps itself at TLS 1.1 is refused.
TEST_F(TlsTest, ClientLimitedToTls11IsRefused) {
  SslCtxPtr client = RawClient();
  SSL_CTX_set_security_level(client.get(), 0);  // let the client even try 1.0/1.1
  ASSERT_EQ(SSL_CTX_set_cipher_list(client.get(), "ALL:@SECLEVEL=0"), 1);
  SSL_CTX_set_min_proto_version(client.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(client.get(), TLS1_1_VERSION);
  HandshakeOutcome out = Handshake(Server(PeerVerification::kNone).get(), client.get());
  EXPECT_FALSE(out.server_ok);
  EXPECT_FALSE(out.client_ok);
  EXPECT_EQ(out.server_reason, SSL_R_UNSUPPORTED_PROTOCOL);
}

// A TLS 1.2 client offering only AES-CBC suites finds no shared cipher.
TEST_F(TlsTest, ClientOfferingOnlyCbcIsRefused) {
  SslCtxPtr client = RawClient();
  SSL_CTX_set_max_proto_version(client.get(), TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(client.get(),
                                    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:"
                                    "ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA256"),
            1);
  HandshakeOutcome out = Handshake(Server(PeerVerification::kNone).get(), client.get());
  EXPECT_FALSE(out.server_ok);
  EXPECT_EQ(out.server_reason, SSL_R_NO_SHARED_CIPHER);
}

// A client whose only key-exchange group is outside kTlsGroups is refused.
TEST_F(TlsTest, ClientWithoutPolicyGroupIsRefused) {
  SslCtxPtr client = RawClient();
  ASSERT_EQ(SSL_CTX_set1_groups_list(client.get(), "P-521"), 1);
  HandshakeOutcome out = Handshake(Server(PeerVerification::kNone).get(), client.get());
  EXPECT_FALSE(out.server_ok);
}

// A TLS 1.2-only client with a policy suite still gets ECDHE + AEAD.
TEST_F(TlsTest, Tls12ClientGetsEcdheAead) {
  SslCtxPtr client = Client("agent");
  SSL_CTX_set_max_proto_version(client.get(), TLS1_2_VERSION);
  HandshakeOutcome out = Handshake(Server(PeerVerification::kRequired).get(), client.get());
  ASSERT_TRUE(out.server_ok && out.client_ok);
  EXPECT_EQ(out.version, TLS1_2_VERSION);
  EXPECT_EQ(out.cipher.rfind("ECDHE-ECDSA-", 0), 0u) << out.cipher;
  EXPECT_TRUE(out.data_flows);
}

// The client refuses a server whose certificate comes from an untrusted CA.
TEST_F(TlsTest, ClientRefusesServerFromUntrustedCa) {
  SslCtxPtr client = Client("", "other-ca.pem");
  HandshakeOutcome out = Handshake(Server(PeerVerification::kNone).get(), client.get());
  EXPECT_FALSE(out.client_ok);
}

// The demo's self-signed certificate works when the client trusts it, by
// DNS name and by IP; a different expected host name is refused.
TEST_F(TlsTest, SelfSignedCertificateVerifiesByNameAndIp) {
  SslCtxPtr server = Server(PeerVerification::kNone, "self");
  SslCtxPtr client = Client("", "self.pem");
  EXPECT_TRUE(Handshake(server.get(), client.get(), "localhost").client_ok);
  EXPECT_TRUE(Handshake(server.get(), client.get(), "127.0.0.1").client_ok);
  EXPECT_FALSE(Handshake(server.get(), client.get(), "evil.example").client_ok);
  EXPECT_FALSE(Handshake(server.get(), client.get(), "127.0.0.2").client_ok);
}

}  // namespace
}  // namespace parley::crypto
