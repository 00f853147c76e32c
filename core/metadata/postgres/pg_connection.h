// One libpq connection with deadlines on every wait: connecting, sending and
// reading results all poll the socket, so a hung or vanished server costs at
// most the deadline, never a blocked thread. Not thread-safe (the pool hands a
// connection to one caller at a time).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/metadata/postgres/conninfo.h"
#include "core/metadata/postgres/pg_handles.h"
#include "core/result.h"

namespace sh::pg {

// A statement prepared once per connection (PQprepare) and run with text
// parameters. `sql` is a compile-time constant: request input only ever
// travels as a parameter.
struct Statement {
  int index;         // 0..kMaxStatements-1, unique per statement
  const char* name;  // server-side prepared statement name
  const char* sql;
};
inline constexpr int kMaxStatements = 32;

struct ConnectParams {
  ConnSettings settings;
  int64_t statement_timeout_ms = 5000;  // server side, set in the startup packet
  int64_t connect_timeout_ms = 3000;
};

// NULL parameter = nullopt.
using Param = std::optional<std::string>;

class PgConnection {
 public:
  // Connects within min(deadline, connect_timeout). kUnavailable if the server
  // cannot be reached, kPermissionDenied if it rejects the credentials.
  static Result<std::unique_ptr<PgConnection>> connect(const ConnectParams& params,
                                                       Deadline deadline);

  // Prepares `stmt` on first use on this connection, then executes it.
  // Errors: kTimeout (statement_timeout or `deadline`), kUnavailable (lost
  // connection), others by SQLSTATE (see error_from_sqlstate).
  Result<PgResultPtr> exec_prepared(const Statement& stmt, const std::vector<Param>& params,
                                    Deadline deadline);
  // REQUIRES: `sql` is a constant (BEGIN, COMMIT, migration DDL), never input.
  Result<PgResultPtr> exec_constant(const char* sql, Deadline deadline);

  // True once the connection is unusable (lost, or dropped after a client-side
  // deadline); the pool then discards it.
  bool broken() const;
  // True if not inside a transaction (safe to hand to another caller).
  bool idle_in_no_transaction() const;

  // "postgres://user@host:port/db", no password.
  const std::string& target() const { return target_; }

 private:
  PgConnection(PgConnPtr conn, const ConnSettings& settings);

  Result<PgResultPtr> await_result(std::string_view what, Deadline deadline);
  Error connection_error(std::string_view what) const;
  Error scrubbed(Errc code, std::string message, bool retryable) const;

  PgConnPtr conn_;
  std::string target_;
  std::vector<std::string> secrets_;
  std::vector<bool> prepared_ = std::vector<bool>(kMaxStatements, false);
  bool dropped_ = false;
};

// Maps a SQLSTATE to the error enum: 57014/55P03 -> kTimeout, class 08 / 57P0x /
// 53xxx / 40001 / 40P01 / 42P01 (schema missing) -> kUnavailable, 28xxx ->
// kPermissionDenied, 22xxx -> kInvalidArgument, 23505 -> kAlreadyExists, else kInternal.
Errc errc_from_sqlstate(std::string_view sqlstate);

}  // namespace sh::pg
