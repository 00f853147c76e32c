// Command-line flags of the PostgreSQL metadata store. The connection itself
// comes from --metadata (URL or conninfo, added by the service) and the
// standard PG* environment variables.
#pragma once

#include <CLI/CLI.hpp>

#include "core/metadata/postgres/postgres_metadata_store.h"

namespace sh::service {

// Adds --pg-pool-size, --pg-statement-timeout-ms, --pg-connect-timeout-ms and
// --pg-acquire-timeout-ms, writing into *opts (its values are the defaults).
// REQUIRES: app and opts outlive parsing.
void add_pg_flags(CLI::App* app, pg::PgOptions* opts);

}  // namespace sh::service
