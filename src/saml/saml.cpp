// The Lasso side of the SAML service provider: metadata, AuthnRequest,
// response processing and the reading of ResponseFacts. Call sequence and
// pitfalls: saml-lasso.md §4-§5 (P-numbers below refer to it).
//
// P8: glib, gobject and libxml2 must be included before any Lasso header in
// C++ (lasso.h includes them inside extern "C").
#include <glib.h>
#include <glib-object.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <lasso/lasso.h>
#include <lasso/saml-2.0/saml2_helper.h>
#include <lasso/xml/misc_text_node.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_response.h>
#include <lasso/xml/saml-2.0/saml2_assertion.h>
#include <lasso/xml/saml-2.0/saml2_attribute.h>
#include <lasso/xml/saml-2.0/saml2_attribute_statement.h>
#include <lasso/xml/saml-2.0/saml2_attribute_value.h>
#include <lasso/xml/saml-2.0/saml2_audience_restriction.h>
#include <lasso/xml/saml-2.0/saml2_conditions.h>
#include <lasso/xml/saml-2.0/saml2_name_id.h>
#include <lasso/xml/saml-2.0/saml2_subject.h>
#include <lasso/xml/saml-2.0/saml2_subject_confirmation.h>
#include <lasso/xml/saml-2.0/saml2_subject_confirmation_data.h>
#include <lasso/xml/saml-2.0/samlp2_name_id_policy.h>
#include <lasso/xml/saml-2.0/samlp2_request_abstract.h>
#include <lasso/xml/saml-2.0/samlp2_status_response.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <mutex>
#include <set>

#include "common/log.h"
#include "common/time_format.h"
#include "crypto/crypto.h"
#include "saml/saml.h"

namespace parley::saml {

namespace {

constexpr const char* kNsMd = "urn:oasis:names:tc:SAML:2.0:metadata";
constexpr const char* kNsDs = "http://www.w3.org/2000/09/xmldsig#";
constexpr const char* kNsSaml = "urn:oasis:names:tc:SAML:2.0:assertion";
constexpr const char* kNsSamlp = "urn:oasis:names:tc:SAML:2.0:protocol";
constexpr const char* kNsXenc = "http://www.w3.org/2001/04/xmlenc#";
constexpr const char* kBindingPost = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
constexpr const char* kBindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
constexpr const char* kNameIdUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

// Lasso's messages (P9) are parse errors about untrusted input and may quote
// it (names, e-mail addresses): only their level reaches our log, at debug;
// the refusal reason is what tells an operator what happened.
void LassoLogHandler(const gchar*, GLogLevelFlags level, const gchar*, gpointer) {
  log::debug("lasso: a level-{} message was withheld (it may quote the untrusted document)",
             static_cast<int>(level & G_LOG_LEVEL_MASK));
}

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    if (int rc = lasso_init(); rc != 0) {
      log::error("saml: lasso_init failed ({})", rc);
    }
    // P3: lasso_init honours LASSO_FLAG=no-verify-signature from the
    // environment; switch verification back on unconditionally.
    static char flag[] = "verify-signature";
    lasso_set_flag(flag);
    g_log_set_handler("Lasso", static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION),
                      LassoLogHandler, nullptr);
  });
}

template <typename T>
struct GObjectDeleter {
  void operator()(T* p) const {
    if (p) g_object_unref(p);
  }
};
using ServerPtr = std::unique_ptr<LassoServer, GObjectDeleter<LassoServer>>;
using LoginPtr = std::unique_ptr<LassoLogin, GObjectDeleter<LassoLogin>>;

struct GFreeDeleter {
  void operator()(gchar* p) const { g_free(p); }
};
using GString_ = std::unique_ptr<gchar, GFreeDeleter>;

struct XmlDocDeleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocDeleter>;
struct XPathCtxDeleter {
  void operator()(xmlXPathContext* c) const { xmlXPathFreeContext(c); }
};
struct XPathObjDeleter {
  void operator()(xmlXPathObject* o) const { xmlXPathFreeObject(o); }
};

std::string Str(const char* s) { return s ? std::string(s) : std::string(); }

int64_t ParseRfc3339Or(const std::string& text, int64_t fallback) {
  auto v = ParseRfc3339(text);
  return v ? *v : fallback;
}

// Parses untrusted XML: no network, no entity expansion, no DTD at all (a
// DOCTYPE in a SAML message or metadata is refused outright).
XmlDocPtr ParseXml(std::string_view text) {
  if (text.size() > (8u << 20)) return nullptr;
  XmlDocPtr doc(xmlReadMemory(text.data(), static_cast<int>(text.size()), "saml.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (doc && doc->intSubset) return nullptr;
  return doc;
}

class XPath {
 public:
  explicit XPath(xmlDoc* doc) : ctx_(xmlXPathNewContext(doc)) {
    if (!ctx_) return;
    xmlXPathRegisterNs(ctx_.get(), BAD_CAST "md", BAD_CAST kNsMd);
    xmlXPathRegisterNs(ctx_.get(), BAD_CAST "ds", BAD_CAST kNsDs);
    xmlXPathRegisterNs(ctx_.get(), BAD_CAST "saml", BAD_CAST kNsSaml);
    xmlXPathRegisterNs(ctx_.get(), BAD_CAST "samlp", BAD_CAST kNsSamlp);
    xmlXPathRegisterNs(ctx_.get(), BAD_CAST "xenc", BAD_CAST kNsXenc);
  }
  bool ok() const { return ctx_ != nullptr; }
  // The nodes `expr` selects (attributes or elements).
  std::vector<xmlNode*> Nodes(const char* expr, xmlNode* context = nullptr) {
    std::vector<xmlNode*> out;
    if (!ctx_) return out;
    ctx_->node = context ? context : xmlDocGetRootElement(ctx_->doc);
    std::unique_ptr<xmlXPathObject, XPathObjDeleter> obj(xmlXPathEvalExpression(BAD_CAST expr, ctx_.get()));
    if (!obj || obj->type != XPATH_NODESET || !obj->nodesetval) return out;
    for (int i = 0; i < obj->nodesetval->nodeNr; ++i) out.push_back(obj->nodesetval->nodeTab[i]);
    return out;
  }
  int Count(const char* expr) { return static_cast<int>(Nodes(expr).size()); }

 private:
  std::unique_ptr<xmlXPathContext, XPathCtxDeleter> ctx_;
};

std::string NodeText(xmlNode* n) {
  xmlChar* s = xmlNodeGetContent(n);
  std::string out = s ? reinterpret_cast<const char*>(s) : "";
  xmlFree(s);
  return out;
}

std::string Trim(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && ws(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && ws(s[i])) ++i;
  return s.substr(i);
}

// Base64 of an HTTP-POST form value: strip the line breaks some IdPs insert.
std::optional<std::string> DecodeB64(std::string_view b64) {
  std::string compact;
  compact.reserve(b64.size());
  for (char c : b64)
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') compact.push_back(c);
  auto raw = crypto::Base64Decode(compact);
  if (!raw.ok()) return std::nullopt;
  return std::move(*raw);
}

// The PEM body (base64 of the DER) of the first certificate, for metadata.
std::string CertBase64(std::string_view pem) {
  std::string out;
  auto begin = pem.find("-----BEGIN CERTIFICATE-----");
  auto end = pem.find("-----END CERTIFICATE-----");
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) return out;
  for (char c : pem.substr(begin + 27, end - begin - 27))
    if (c != '\n' && c != '\r' && c != ' ') out.push_back(c);
  return out;
}

// SP metadata, built with libxml2's tree API (escaping is the library's job).
std::string BuildSpMetadata(const SpSettings& s) {
  XmlDocPtr doc(xmlNewDoc(BAD_CAST "1.0"));
  xmlNode* ed = xmlNewNode(nullptr, BAD_CAST "EntityDescriptor");
  xmlNs* md = xmlNewNs(ed, BAD_CAST kNsMd, BAD_CAST "md");
  xmlSetNs(ed, md);
  xmlDocSetRootElement(doc.get(), ed);
  xmlSetProp(ed, BAD_CAST "entityID", BAD_CAST s.entity_id.c_str());
  xmlNode* sp = xmlNewChild(ed, md, BAD_CAST "SPSSODescriptor", nullptr);
  xmlSetProp(sp, BAD_CAST "AuthnRequestsSigned", BAD_CAST "true");
  xmlSetProp(sp, BAD_CAST "WantAssertionsSigned", BAD_CAST "true");
  xmlSetProp(sp, BAD_CAST "protocolSupportEnumeration", BAD_CAST kNsSamlp);
  xmlNode* kd = xmlNewChild(sp, md, BAD_CAST "KeyDescriptor", nullptr);
  xmlSetProp(kd, BAD_CAST "use", BAD_CAST "signing");
  xmlNode* ki = xmlNewChild(kd, nullptr, BAD_CAST "KeyInfo", nullptr);
  xmlNs* ds = xmlNewNs(ki, BAD_CAST kNsDs, BAD_CAST "ds");
  xmlSetNs(ki, ds);
  xmlNode* x509 = xmlNewChild(ki, ds, BAD_CAST "X509Data", nullptr);
  std::string cert = CertBase64(s.cert_pem);
  xmlNewTextChild(x509, ds, BAD_CAST "X509Certificate", BAD_CAST cert.c_str());
  xmlNewTextChild(sp, md, BAD_CAST "NameIDFormat", BAD_CAST "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
  xmlNewTextChild(sp, md, BAD_CAST "NameIDFormat", BAD_CAST kNameIdUnspecified);
  xmlNode* acs = xmlNewChild(sp, md, BAD_CAST "AssertionConsumerService", nullptr);
  xmlSetProp(acs, BAD_CAST "Binding", BAD_CAST kBindingPost);
  xmlSetProp(acs, BAD_CAST "Location", BAD_CAST s.acs_url.c_str());
  xmlSetProp(acs, BAD_CAST "index", BAD_CAST "0");
  xmlSetProp(acs, BAD_CAST "isDefault", BAD_CAST "true");
  xmlChar* mem = nullptr;
  int size = 0;
  xmlDocDumpFormatMemoryEnc(doc.get(), &mem, &size, "UTF-8", 1);
  std::string out(reinterpret_cast<const char*>(mem), static_cast<size_t>(size));
  xmlFree(mem);
  return out;
}

ServerPtr NewServer(const SpSettings& s, const std::string& metadata) {
  return ServerPtr(lasso_server_new_from_buffers(metadata.c_str(), s.key_pem.c_str(), nullptr, s.cert_pem.c_str()));
}

// A LassoServer holding our SP and the one IdP of the tenant.
Result<ServerPtr> ServerWithIdp(const SpSettings& s, const std::string& metadata, std::string_view idp_xml) {
  ServerPtr server = NewServer(s, metadata);
  if (!server) return Internal("saml: Lasso refused the SP key, certificate or metadata");
  // P6: sign AuthnRequests with RSA-SHA256, not Lasso's default SHA-1.
  server->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
  std::string idp(idp_xml);
  if (int rc = lasso_server_add_provider_from_buffer(server.get(), LASSO_PROVIDER_ROLE_IDP, idp.c_str(), nullptr,
                                                     nullptr);
      rc != 0)
    return InvalidArgument("Lasso cannot load the identity provider's metadata (error " + std::to_string(rc) + ")");
  return server;
}

// Lasso's verdicts, mapped to what a person can act on.
Refusal LassoRefusal(int rc) {
  switch (rc) {
    case LASSO_DS_ERROR_SIGNATURE_NOT_FOUND:
      return {"unsigned", "The response is not signed. Parley accepts only responses whose assertion or whole "
                          "response the identity provider signed."};
    case LASSO_DS_ERROR_INVALID_SIGNATURE:
    case LASSO_DS_ERROR_SIGNATURE_VERIFICATION_FAILED:
    case LASSO_DS_ERROR_DIGEST_COMPUTE_FAILED:
      return {"bad_signature", "The response's signature does not verify with the identity provider's certificate "
                               "on file. If the IdP's signing certificate changed, upload its new metadata."};
    case LASSO_DS_ERROR_INVALID_REFERENCE_FOR_SAML:
      return {"bad_signature", "The response's signature does not cover the element it is attached to."};
    case LASSO_SERVER_ERROR_PROVIDER_NOT_FOUND:
    case LASSO_PROFILE_ERROR_INVALID_ISSUER:
      return {"unknown_issuer", "The response comes from an identity provider that is not the one configured for "
                                "this organisation."};
    case LASSO_PROFILE_ERROR_STATUS_NOT_SUCCESS:
    case LASSO_LOGIN_ERROR_STATUS_NOT_SUCCESS:
    case LASSO_LOGIN_ERROR_REQUEST_DENIED:
    case LASSO_LOGIN_ERROR_UNKNOWN_PRINCIPAL:
    case LASSO_LOGIN_ERROR_FEDERATION_NOT_FOUND:
      return {"idp_refused", "The identity provider did not sign you in."};
    case LASSO_LOGIN_ERROR_ASSERTION_DOES_NOT_MATCH_REQUEST_ID:
      return {"wrong_in_response_to", "The response does not answer the sign-in this browser started. Start again."};
    case LASSO_LOGIN_ERROR_ASSERTION_REPLAY:
      return {"replay", "This sign-in response was already used. Start again."};
    case LASSO_PROFILE_ERROR_MISSING_ASSERTION:
      return {"assertion_count", "The response must carry exactly one assertion, directly in the response."};
    case LASSO_PROVIDER_ERROR_MISSING_PUBLIC_KEY:
      return {"idp_metadata", "The identity provider's metadata on file has no signing certificate."};
    default:
      return {"invalid_response", "The sign-in response is not a valid SAML response (Lasso error " +
                                      std::to_string(rc) + ")."};
  }
}

bool WeakAlgorithm(const std::string& uri) {
  // xmldsig#sha1, xmldsig#rsa-sha1, xmldsig#dsa-sha1, ...#hmac-sha1, md5 variants.
  auto lower = uri;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto ends = [&](std::string_view tail) { return lower.size() >= tail.size() && lower.ends_with(tail); };
  return ends("sha1") || lower.find("md5") != std::string::npos;
}

// Shape facts from the decoded XML (our own parse of the same bytes Lasso
// parsed): how many assertions and where, algorithms, duplicate IDs.
bool ReadShape(std::string_view xml, ResponseFacts& f) {
  XmlDocPtr doc = ParseXml(xml);
  if (!doc) return false;
  xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root || !root->ns || Str(reinterpret_cast<const char*>(root->ns->href)) != kNsSamlp ||
      Str(reinterpret_cast<const char*>(root->name)) != "Response")
    return false;
  XPath xp(doc.get());
  if (!xp.ok()) return false;
  f.assertion_elements = xp.Count("//saml:Assertion");
  f.top_level_assertions = xp.Count("/samlp:Response/saml:Assertion");
  f.encrypted_assertions = xp.Count("//saml:EncryptedAssertion | //xenc:EncryptedData");
  f.subject_confirmations = xp.Count("/samlp:Response/saml:Assertion/saml:Subject/saml:SubjectConfirmation");
  for (xmlNode* a : xp.Nodes("//ds:SignatureMethod/@Algorithm | //ds:DigestMethod/@Algorithm"))
    f.weak_algorithm |= WeakAlgorithm(NodeText(a));
  std::set<std::string> ids;
  for (xmlNode* a : xp.Nodes("//@ID | //@Id | //@id"))
    if (!ids.insert(NodeText(a)).second) f.duplicate_ids = true;
  return true;
}

// Facts from Lasso's parsed response and its single assertion.
void ReadLassoFacts(LassoSamlp2Response* resp, ResponseFacts& f) {
  LassoSamlp2StatusResponse* sr = LASSO_SAMLP2_STATUS_RESPONSE(resp);
  f.destination = Str(sr->Destination);
  f.in_response_to = Str(sr->InResponseTo);
  f.encrypted_assertions += static_cast<int>(g_list_length(resp->EncryptedAssertion));
  if (g_list_length(resp->Assertion) != 1) {
    f.top_level_assertions = static_cast<int>(g_list_length(resp->Assertion));
    return;
  }
  if (!LASSO_IS_SAML2_ASSERTION(resp->Assertion->data)) {
    f.top_level_assertions = 0;
    return;
  }
  LassoSaml2Assertion* a = LASSO_SAML2_ASSERTION(resp->Assertion->data);
  f.assertion_id = Str(a->ID);
  f.issuer = a->Issuer ? Str(a->Issuer->content) : "";
  if (a->Conditions) {
    f.has_conditions = true;
    f.not_before = Str(a->Conditions->NotBefore);
    f.not_on_or_after = Str(a->Conditions->NotOnOrAfter);
    for (GList* l = a->Conditions->AudienceRestriction; l; l = l->next) {
      if (!LASSO_IS_SAML2_AUDIENCE_RESTRICTION(l->data)) continue;
      ++f.audience_restrictions;
      f.audiences.push_back(Trim(Str(LASSO_SAML2_AUDIENCE_RESTRICTION(l->data)->Audience)));
    }
  }
  if (a->Subject) {
    if (a->Subject->NameID) {
      f.name_id = Trim(Str(a->Subject->NameID->content));
      f.name_id_format = Str(a->Subject->NameID->Format);
    }
    if (LassoSaml2SubjectConfirmation* sc = a->Subject->SubjectConfirmation) {
      f.method = Str(sc->Method);
      if (LassoSaml2SubjectConfirmationData* d = sc->SubjectConfirmationData) {
        f.has_confirmation_data = true;
        f.scd_not_before = Str(d->NotBefore);
        f.scd_not_on_or_after = Str(d->NotOnOrAfter);
        f.scd_recipient = Str(d->Recipient);
        f.scd_in_response_to = Str(d->InResponseTo);
      }
    }
  }
  for (GList* s = a->AttributeStatement; s; s = s->next) {
    if (!LASSO_IS_SAML2_ATTRIBUTE_STATEMENT(s->data)) continue;
    for (GList* at = LASSO_SAML2_ATTRIBUTE_STATEMENT(s->data)->Attribute; at; at = at->next) {
      if (!LASSO_IS_SAML2_ATTRIBUTE(at->data)) continue;
      LassoSaml2Attribute* attr = LASSO_SAML2_ATTRIBUTE(at->data);
      std::vector<std::string>& values = f.attributes[Str(attr->Name)];
      for (GList* v = attr->AttributeValue; v; v = v->next) {
        if (!LASSO_IS_SAML2_ATTRIBUTE_VALUE(v->data)) continue;
        std::string text;
        for (GList* n = LASSO_SAML2_ATTRIBUTE_VALUE(v->data)->any; n; n = n->next)
          if (LASSO_IS_MISC_TEXT_NODE(n->data)) text += Str(LASSO_MISC_TEXT_NODE(n->data)->content);
        values.push_back(Trim(text));
      }
    }
  }
}

}  // namespace

Result<IdpInfo> InspectIdpMetadata(std::string_view xml) {
  InitOnce();
  XmlDocPtr doc = ParseXml(xml);
  if (!doc) return InvalidArgument("the IdP metadata is not well-formed XML (or carries a DOCTYPE)");
  XPath xp(doc.get());
  auto entities = xp.Nodes("//md:EntityDescriptor[md:IDPSSODescriptor]");
  if (entities.size() != 1)
    return InvalidArgument("the IdP metadata must describe exactly one identity provider (EntityDescriptor with "
                           "an IDPSSODescriptor)");
  IdpInfo info;
  xmlChar* id = xmlGetProp(entities[0], BAD_CAST "entityID");
  info.entity_id = id ? Trim(reinterpret_cast<const char*>(id)) : "";
  xmlFree(id);
  if (info.entity_id.empty()) return InvalidArgument("the IdP metadata has no entityID");
  auto keys = xp.Nodes(
      "md:IDPSSODescriptor/md:KeyDescriptor[not(@use) or @use='signing']//ds:X509Certificate", entities[0]);
  if (keys.empty())
    return InvalidArgument("the IdP metadata has no signing certificate (KeyDescriptor use=\"signing\")");
  const std::string sso_expr =
      std::string("md:IDPSSODescriptor/md:SingleSignOnService[@Binding='") + kBindingRedirect + "']/@Location";
  auto sso = xp.Nodes(sso_expr.c_str(), entities[0]);
  if (sso.empty())
    return InvalidArgument("the IdP metadata has no SingleSignOnService with the HTTP-Redirect binding");
  info.sso_redirect_url = Trim(NodeText(sso[0]));
  if (info.sso_redirect_url.rfind("https://", 0) != 0 && info.sso_redirect_url.rfind("http://", 0) != 0)
    return InvalidArgument("the IdP's SingleSignOnService location is not an http(s) URL");
  // Lasso must load it too (it is what verifies the signatures later).
  LassoProvider* provider = lasso_provider_new_from_buffer(LASSO_PROVIDER_ROLE_IDP, std::string(xml).c_str(), nullptr,
                                                           nullptr);
  if (!provider) return InvalidArgument("Lasso cannot load the IdP metadata");
  std::string lasso_id = Str(provider->ProviderID);
  g_object_unref(provider);
  if (lasso_id != info.entity_id) return InvalidArgument("the IdP metadata's entityID is ambiguous");
  return info;
}

Result<std::unique_ptr<ServiceProvider>> ServiceProvider::Create(SpSettings settings) {
  InitOnce();
  if (settings.entity_id.empty()) return InvalidArgument("the SP entity ID is empty");
  if (settings.acs_url.rfind("https://", 0) != 0) return InvalidArgument("the ACS URL must start with https://");
  if (CertBase64(settings.cert_pem).empty()) return InvalidArgument("the SP certificate is not a PEM certificate");
  std::unique_ptr<ServiceProvider> sp(new ServiceProvider(std::move(settings)));
  sp->metadata_ = BuildSpMetadata(sp->settings_);
  ServerPtr server = NewServer(sp->settings_, sp->metadata_);
  if (!server) return InvalidArgument("Lasso cannot load the SP key and certificate (RSA PEM expected)");
  return sp;
}

ServiceProvider::~ServiceProvider() = default;

Result<AuthnRequest> ServiceProvider::StartLogin(std::string_view idp_metadata_xml) const {
  PARLEY_ASSIGN_OR_RETURN(IdpInfo idp, InspectIdpMetadata(idp_metadata_xml));
  PARLEY_ASSIGN_OR_RETURN(ServerPtr server, ServerWithIdp(settings_, metadata_, idp_metadata_xml));
  LoginPtr login(lasso_login_new(server.get()));
  if (!login) return Internal("saml: lasso_login_new failed");
  if (int rc = lasso_login_init_authn_request(login.get(), idp.entity_id.data(), LASSO_HTTP_METHOD_REDIRECT); rc != 0)
    return Internal("saml: cannot start an AuthnRequest (Lasso error " + std::to_string(rc) + ")");
  LassoSamlp2AuthnRequest* req = LASSO_SAMLP2_AUTHN_REQUEST(LASSO_PROFILE(login.get())->request);
  // Ask for an HTTP-POST answer to our ACS, and accept any NameID format
  // (ADFS refuses a request for a format no claim rule issues).
  g_free(req->ProtocolBinding);
  req->ProtocolBinding = g_strdup(kBindingPost);
  g_free(req->AssertionConsumerServiceURL);
  req->AssertionConsumerServiceURL = g_strdup(settings_.acs_url.c_str());
  if (req->NameIDPolicy) {
    g_free(req->NameIDPolicy->Format);
    req->NameIDPolicy->Format = g_strdup(kNameIdUnspecified);
    req->NameIDPolicy->AllowCreate = TRUE;
  }
  if (int rc = lasso_login_build_authn_request_msg(login.get()); rc != 0)
    return Internal("saml: cannot build the AuthnRequest (Lasso error " + std::to_string(rc) + ")");
  AuthnRequest out;
  out.redirect_url = Str(LASSO_PROFILE(login.get())->msg_url);
  out.pending.request_id = Str(LASSO_SAMLP2_REQUEST_ABSTRACT(req)->ID);
  GString_ dump(lasso_login_dump(login.get()));
  out.pending.state = Str(dump.get());
  if (out.redirect_url.empty() || out.pending.request_id.empty() || out.pending.state.empty())
    return Internal("saml: Lasso built an incomplete AuthnRequest");
  return out;
}

Outcome ServiceProvider::ConsumeResponse(std::string_view idp_metadata_xml, std::string_view saml_response_b64,
                                         const std::optional<PendingRequest>& pending, bool allow_unsolicited,
                                         int64_t now) const {
  InitOnce();
  auto xml = DecodeB64(saml_response_b64);
  if (!xml) return Refusal{"malformed", "The sign-in response is not base64-encoded SAML."};
  ResponseFacts facts;
  // Refuse DOCTYPEs and non-Response documents before Lasso parses them.
  if (!ReadShape(*xml, facts))
    return Refusal{"malformed", "The sign-in response is not a SAML Response document."};
  auto server = ServerWithIdp(settings_, metadata_, idp_metadata_xml);
  if (!server.ok()) return Refusal{"idp_metadata", "The identity provider's metadata on file cannot be used."};
  // SP-initiated: restore the login from our request, so Lasso also
  // enforces SubjectConfirmationData@InResponseTo (§3.7).
  LoginPtr login(pending ? lasso_login_new_from_dump(server->get(), pending->state.c_str())
                         : lasso_login_new(server->get()));
  if (!login) return Refusal{"internal", "The sign-in state could not be restored. Start again."};
  // MAYBE: a signed assertion or a signed response is required (ADFS signs
  // the assertion only). Never IGNORE.
  lasso_profile_set_signature_verify_hint(LASSO_PROFILE(login.get()), LASSO_PROFILE_SIGNATURE_VERIFY_HINT_MAYBE);
  std::string msg(saml_response_b64);
  // §3.1 / P1: the return code is the gate. Nothing of a response that
  // failed here is read, and lasso_login_accept_sso is never called (we
  // take the identity from the single assertion ourselves).
  if (int rc = lasso_login_process_authn_response_msg(login.get(), msg.data()); rc != 0) return LassoRefusal(rc);
  LassoNode* node = LASSO_PROFILE(login.get())->response;
  if (!node || !LASSO_IS_SAMLP2_RESPONSE(node))
    return Refusal{"malformed", "The sign-in response is not a SAML Response."};
  ReadLassoFacts(LASSO_SAMLP2_RESPONSE(node), facts);
  std::optional<std::string> request_id;
  if (pending) request_id = pending->request_id;
  Expectations expect{.sp_entity_id = settings_.entity_id,
                      .acs_url = settings_.acs_url,
                      .request_id = request_id,
                      .allow_unsolicited = allow_unsolicited,
                      .clock_skew_seconds = settings_.clock_skew_seconds,
                      .now = now};
  if (auto refusal = CheckResponse(facts, expect)) return *refusal;
  // Lasso's own window helper as a second opinion on the Conditions (same
  // rule, its parser).
  LassoSaml2Assertion* a = LASSO_SAML2_ASSERTION(LASSO_SAMLP2_RESPONSE(node)->Assertion->data);
  if (lasso_saml2_assertion_validate_time_checks(a, static_cast<unsigned>(settings_.clock_skew_seconds), now) !=
          LASSO_SAML2_ASSERTION_VALID ||
      lasso_saml2_assertion_validate_audience(a, settings_.entity_id.c_str()) != LASSO_SAML2_ASSERTION_VALID)
    return Refusal{"conditions", "The assertion's conditions (audience or validity) are not met."};
  VerifiedAssertion out;
  out.issuer = facts.issuer;
  out.assertion_id = facts.assertion_id;
  out.name_id = facts.name_id;
  out.name_id_format = facts.name_id_format;
  out.attributes = std::move(facts.attributes);
  out.sp_initiated = pending.has_value();
  out.replay_key = crypto::Sha256Hex(facts.issuer + std::string(1, '\0') + facts.assertion_id);
  int64_t expiry = ParseRfc3339Or(facts.not_on_or_after, now);
  if (auto scd = ParseRfc3339Or(facts.scd_not_on_or_after, expiry); scd > expiry) expiry = scd;
  out.keep_until = expiry + settings_.clock_skew_seconds;
  return out;
}

std::optional<std::string> PeekIssuer(std::string_view saml_response_b64) {
  InitOnce();
  auto xml = DecodeB64(saml_response_b64);
  if (!xml) return std::nullopt;
  XmlDocPtr doc = ParseXml(*xml);
  if (!doc) return std::nullopt;
  XPath xp(doc.get());
  auto issuer = xp.Nodes("/samlp:Response/saml:Issuer");
  if (issuer.size() != 1) return std::nullopt;
  std::string out = Trim(NodeText(issuer[0]));
  if (out.empty()) return std::nullopt;
  return out;
}

Result<KeyPair> GenerateSpKeyPair(std::string_view common_name, int days) {
  using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
  using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
  using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free_all)>;
  // RSA: Lasso signs with RSA only (no ECDSA signature method).
  PkeyPtr key(EVP_RSA_gen(3072), EVP_PKEY_free);
  if (!key) return Internal("saml: cannot generate an RSA key");
  X509Ptr cert(X509_new(), X509_free);
  if (!cert) return Internal("saml: X509_new failed");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Internal("saml: no randomness");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* sn = bn ? BN_to_ASN1_INTEGER(bn, nullptr) : nullptr;
  BN_free(bn);
  bool ok = sn && X509_set_serialNumber(cert.get(), sn) == 1;
  ASN1_INTEGER_free(sn);
  std::string cn(common_name);
  X509_NAME* name = X509_get_subject_name(cert.get());
  ok = ok && X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
       X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) != nullptr &&
       X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr) != nullptr &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                  -1, 0) == 1 &&
       X509_set_issuer_name(cert.get(), name) == 1 && X509_set_pubkey(cert.get(), key.get()) == 1 &&
       X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return Internal("saml: cannot build the SP certificate");
  BioPtr kb(BIO_new(BIO_s_mem()), BIO_free_all), cb(BIO_new(BIO_s_mem()), BIO_free_all);
  if (!kb || !cb || PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509(cb.get(), cert.get()) != 1)
    return Internal("saml: cannot encode the SP key pair");
  auto read = [](BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<size_t>(n));
  };
  return KeyPair{read(kb.get()), read(cb.get())};
}

}  // namespace parley::saml
