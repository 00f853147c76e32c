#include "service/pg_flags.h"

namespace sh::service {

void add_pg_flags(CLI::App* app, pg::PgOptions* opts) {
  app->add_option("--pg-pool-size", opts->pool_size,
                  "PostgreSQL connections per process (metadata store pool)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app->add_option("--pg-statement-timeout-ms", opts->statement_timeout_ms,
                  "Server-side statement_timeout of every metadata query, in ms")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}))
      ->capture_default_str();
  app->add_option("--pg-connect-timeout-ms", opts->connect_timeout_ms,
                  "Give up connecting to PostgreSQL after this many ms")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))
      ->capture_default_str();
  app->add_option("--pg-acquire-timeout-ms", opts->acquire_timeout_ms,
                  "Wait at most this long for a free pooled connection, in ms")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))
      ->capture_default_str();
}

}  // namespace sh::service
