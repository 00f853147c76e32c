// The versioned schema. Migration N is applied once, in its own transaction,
// and recorded in schema_migrations(version, applied_at).
#pragma once

#include <span>

namespace sh::pg {

struct Migration {
  int version;
  const char* description;
  const char* sql;  // one or more statements, run as a simple query
};

// Ascending by version. Append only: never edit an applied migration.
std::span<const Migration> schema_migrations();

}  // namespace sh::pg
