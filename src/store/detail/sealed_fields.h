// Where each SealedField lives: its table and columns, the same names in both
// backends (the migrations are twins). Used by ListSealed / ReplaceSealed,
// which re-encrypt a tenant's personal data under a new data key.
#pragma once

#include <string>

#include "store/store.h"

namespace parley::store::detail {

struct SealedFieldColumns {
  const char* table;
  const char* source;  // nullptr: the row has no source (users, tokens, TOTP)
  const char* id;
  const char* sealed;
};

inline SealedFieldColumns ColumnsOf(SealedField field) {
  switch (field) {
    case SealedField::kUserEmail: return {"users", nullptr, "id", "email_sealed"};
    case SealedField::kAccountTokenEmail: return {"account_tokens", nullptr, "token_hash", "email_sealed"};
    case SealedField::kTotpSecret: return {"user_totp", nullptr, "user_id", "secret_sealed"};
    case SealedField::kDevice: return {"devices", "source", "id", "pii_sealed"};
    case SealedField::kConference: return {"conferences", "source", "conference_id", "pii_sealed"};
    case SealedField::kParticipant: return {"participants", "source", "participant_id", "pii_sealed"};
    case SealedField::kCall: return {"calls", "source", "call_id", "pii_sealed"};
  }
  return {"users", nullptr, "id", "email_sealed"};
}

// SELECT <source or ''>, id, sealed ... after the cursor, in key order.
// `p` maps a 1-based parameter number to its placeholder ("?1" or "$1").
// Parameters, numbered in this order: tenant, after_source (only when the
// field has a source), after_id, limit.
template <typename Placeholder>
std::string ListSealedSql(SealedField field, Placeholder p) {
  const SealedFieldColumns c = ColumnsOf(field);
  const std::string id = c.id;
  std::string sql = "SELECT ";
  sql += c.source ? std::string(c.source) : std::string("''");
  sql += ", " + id + ", " + c.sealed + " FROM " + c.table + " WHERE tenant_id = " + p(1) + " AND ";
  if (c.source)
    return sql + "(" + c.source + ", " + id + ") > (" + p(2) + ", " + p(3) + ") ORDER BY " + c.source + ", " + id +
           " LIMIT " + p(4);
  return sql + id + " > " + p(2) + " ORDER BY " + id + " LIMIT " + p(3);
}

// UPDATE ... SET sealed = new WHERE the row still holds `expected`.
// Parameters, in order: new blob, expected blob, tenant, source (only when
// the field has a source), id.
template <typename Placeholder>
std::string ReplaceSealedSql(SealedField field, Placeholder p) {
  const SealedFieldColumns c = ColumnsOf(field);
  std::string sql = std::string("UPDATE ") + c.table + " SET " + c.sealed + " = " + p(1) + " WHERE " + c.sealed +
                    " = " + p(2) + " AND tenant_id = " + p(3);
  if (c.source) return sql + " AND " + c.source + " = " + p(4) + " AND " + c.id + " = " + p(5);
  return sql + " AND " + c.id + " = " + p(4);
}

}  // namespace parley::store::detail
