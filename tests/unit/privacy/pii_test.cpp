// Sealing of personal fields per record kind: what goes in comes back out,
// and the AAD binds a blob to its tenant, record kind, source and id.
#include <gtest/gtest.h>

#include <string>

#include "privacy/pii.h"

namespace parley::privacy {
namespace {

constexpr std::string_view kTenant = "11111111-2222-3333-4444-555555555555";

wire::ConferenceRecord Conference() {
  wire::ConferenceRecord c;
  c.source = "dma";
  c.id = "conf-1";
  c.name = "Alice's weekly";
  c.room = "7001";
  return c;
}

wire::ParticipantRecord Participant() {
  wire::ParticipantRecord p;
  p.source = "pexip";
  p.id = "p-1";
  p.conference_id = "conf-1";
  p.party.name = "Alice";
  p.party.number = "1001";
  p.party.uri = "sip:alice@example.com";
  p.party.ip = "10.0.0.1";
  p.party.model = "Chrome";
  return p;
}

wire::DeviceRecord Device() {
  wire::DeviceRecord d;
  d.source = "rprm";
  d.id = "dev-1";
  d.name = "Room 4.12";
  d.serial = "8G1234";
  d.ip = "10.0.0.5";
  d.mac = "00:e0:db:01:02:03";
  d.owner = "alice";
  d.model = "Group 500";
  return d;
}

TEST(Pii, ConferenceRoundTripsAndIsBound) {
  crypto::Key256 key = crypto::RandomKey();
  crypto::Sealer sealer(key);
  std::string sealed = SealConferencePii(sealer, kTenant, Conference());
  EXPECT_EQ(sealed.find("Alice"), std::string::npos);
  std::string name;
  ASSERT_TRUE(OpenConferencePii(TenantDataKeys{key, std::nullopt}, kTenant, "dma", "conf-1", sealed, name).ok());
  EXPECT_EQ(name, "Alice's weekly");
  EXPECT_FALSE(OpenConferencePii(TenantDataKeys{key, std::nullopt}, kTenant, "dma", "conf-2", sealed, name).ok());
  EXPECT_FALSE(OpenConferencePii(TenantDataKeys{key, std::nullopt}, kTenant, "rprm", "conf-1", sealed, name).ok());
  EXPECT_FALSE(OpenConferencePii(TenantDataKeys{key, std::nullopt}, "other-tenant", "dma", "conf-1", sealed, name).ok());
  EXPECT_FALSE(OpenConferencePii(TenantDataKeys{crypto::RandomKey(), std::nullopt}, kTenant, "dma", "conf-1", sealed, name).ok());
}

TEST(Pii, ParticipantRoundTripsAndIsBound) {
  crypto::Key256 key = crypto::RandomKey();
  crypto::Sealer sealer(key);
  std::string sealed = SealParticipantPii(sealer, kTenant, Participant());
  wire::Party party;
  ASSERT_TRUE(OpenParticipantPii(TenantDataKeys{key, std::nullopt}, kTenant, "pexip", "p-1", sealed, party).ok());
  EXPECT_EQ(party.name, "Alice");
  EXPECT_EQ(party.number, "1001");
  EXPECT_EQ(party.uri, "sip:alice@example.com");
  EXPECT_EQ(party.ip, "10.0.0.1");
  EXPECT_TRUE(party.model.empty()) << "clear fields are not in the blob";
  EXPECT_FALSE(OpenParticipantPii(TenantDataKeys{key, std::nullopt}, kTenant, "pexip", "p-2", sealed, party).ok());
  // A participant blob is not a call blob (same tenant, source and id).
  wire::Party orig, dest;
  EXPECT_FALSE(OpenCallPii(TenantDataKeys{key, std::nullopt}, kTenant, "pexip", "p-1", sealed, orig, dest).ok());
}

TEST(Pii, DeviceRoundTripsAndIsBound) {
  crypto::Key256 key = crypto::RandomKey();
  crypto::Sealer sealer(key);
  std::string sealed = SealDevicePii(sealer, kTenant, Device());
  wire::DeviceRecord out;
  ASSERT_TRUE(OpenDevicePii(TenantDataKeys{key, std::nullopt}, kTenant, "rprm", "dev-1", sealed, out).ok());
  EXPECT_EQ(out.name, "Room 4.12");
  EXPECT_EQ(out.serial, "8G1234");
  EXPECT_EQ(out.ip, "10.0.0.5");
  EXPECT_EQ(out.mac, "00:e0:db:01:02:03");
  EXPECT_EQ(out.owner, "alice");
  EXPECT_TRUE(out.model.empty());
  // Kinds are bound: a device blob does not open as a conference of the same key.
  std::string name;
  EXPECT_FALSE(OpenConferencePii(TenantDataKeys{key, std::nullopt}, kTenant, "rprm", "dev-1", sealed, name).ok());
  EXPECT_FALSE(OpenDevicePii(TenantDataKeys{key, std::nullopt}, kTenant, "rprm", "dev-2", sealed, out).ok());
}

TEST(Pii, RecordAadNamesKindTenantSourceAndId) {
  EXPECT_EQ(RecordAad("device", "t", "rprm", "d:1"), "parley:device:v1:t:rprm:d:1");
  EXPECT_EQ(RecordAad("call", "t", "s", "c"), CallAad("t", "s", "c"));
}

}  // namespace
}  // namespace parley::privacy
