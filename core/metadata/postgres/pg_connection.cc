#include "core/metadata/postgres/pg_connection.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace sh::pg {
namespace {

// libpq must not write to stderr: notices go to the log.
void notice_to_log(void* /*arg*/, const char* message) noexcept {
  try {
    std::string_view m(message != nullptr ? message : "");
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.remove_suffix(1);
    spdlog::info("postgres notice: {}", m);
  } catch (...) {
    // Nothing may escape into libpq.
  }
}

std::string trimmed(const char* s) {
  std::string out = s != nullptr ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  // libpq's messages can span lines ("...failed: FATAL:  ...\n"); keep one line.
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

enum class WaitResult { kReady, kTimeout, kError };

WaitResult wait_socket(int fd, short events, Deadline deadline) {
  if (fd < 0) return WaitResult::kError;
  for (;;) {
    int timeout_ms = -1;
    if (!deadline.is_never()) {
      timeout_ms = static_cast<int>(std::min<int64_t>(deadline.remaining_ms(), INT_MAX));
      if (timeout_ms == 0 && deadline.expired()) return WaitResult::kTimeout;
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, timeout_ms);
    if (rc > 0) return WaitResult::kReady;
    if (rc == 0) return WaitResult::kTimeout;
    if (errno != EINTR) return WaitResult::kError;
  }
}


}  // namespace

Errc errc_from_sqlstate(std::string_view s) {
  if (s == "57014" || s == "55P03") return Errc::kTimeout;  // statement / lock timeout
  if (s.substr(0, 2) == "08" || s.substr(0, 3) == "57P" || s.substr(0, 2) == "53" ||
      s == "40001" || s == "40P01" || s == "42P01" || s == "25006") {
    return Errc::kUnavailable;
  }
  if (s.substr(0, 2) == "28") return Errc::kPermissionDenied;
  if (s.substr(0, 2) == "22") return Errc::kInvalidArgument;
  if (s == "23505") return Errc::kAlreadyExists;
  return Errc::kInternal;
}

PgConnection::PgConnection(PgConnPtr conn, const ConnSettings& settings)
    : conn_(std::move(conn)), target_(settings.redacted), secrets_(settings.secrets) {}

Error PgConnection::scrubbed(Errc code, std::string message, bool retryable) const {
  return Error(code, scrub_secrets(std::move(message), secrets_), retryable);
}

Result<std::unique_ptr<PgConnection>> PgConnection::connect(const ConnectParams& params,
                                                            Deadline deadline) {
  const auto& settings = params.settings;
  deadline = Deadline::earliest(deadline, Deadline::after(Millis(std::max<int64_t>(params.connect_timeout_ms, 1))));

  // Our settings ride in the startup packet: no extra round trip per
  // connection, nothing counted as a query.
  std::string options;
  std::vector<std::pair<std::string, std::string>> kv;
  for (const auto& [k, v] : settings.params) {
    if (k == "options") {
      options = v;
    } else {
      kv.emplace_back(k, v);
    }
  }
  if (!options.empty()) options += ' ';
  options += "-c statement_timeout=" + std::to_string(std::max<int64_t>(params.statement_timeout_ms, 0));
  kv.emplace_back("options", options);
  kv.emplace_back("fallback_application_name", "streamhouse-reader");
  bool has_timeout = std::any_of(settings.params.begin(), settings.params.end(),
                                 [](const auto& p) { return p.first == "connect_timeout"; });
  if (!has_timeout) {
    int64_t secs = std::max<int64_t>(2, (params.connect_timeout_ms + 999) / 1000);
    kv.emplace_back("connect_timeout", std::to_string(secs));
  }
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [k, v] : kv) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);

  PgConnPtr conn(PQconnectStartParams(keys.data(), values.data(), /*expand_dbname=*/0));
  auto fail = [&](Errc code, std::string why) -> Error {
    return Error(code, scrub_secrets("cannot connect to PostgreSQL at " + settings.redacted + ": " + why,
                                     settings.secrets),
                 code == Errc::kUnavailable);
  };
  if (!conn) return fail(Errc::kUnavailable, "out of memory");
  PQsetNoticeProcessor(conn.get(), &notice_to_log, nullptr);

  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  if (PQstatus(conn.get()) == CONNECTION_BAD) st = PGRES_POLLING_FAILED;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    short events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    WaitResult w = wait_socket(PQsocket(conn.get()), events, deadline);
    if (w == WaitResult::kTimeout) {
      return fail(Errc::kUnavailable, "no answer within the connect timeout");
    }
    if (w == WaitResult::kError) break;  // PQconnectPoll reports why
    st = PQconnectPoll(conn.get());
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string why = trimmed(PQerrorMessage(conn.get()));
    if (why.empty()) why = "connection failed";
    bool auth = why.find("authentication failed") != std::string::npos ||
                why.find("no password supplied") != std::string::npos ||
                why.find("password authentication") != std::string::npos;
    return fail(auth ? Errc::kPermissionDenied : Errc::kUnavailable, why);
  }
  if (PQsetnonblocking(conn.get(), 1) != 0) {
    return fail(Errc::kUnavailable, "cannot switch the connection to non-blocking mode");
  }
  return std::unique_ptr<PgConnection>(new PgConnection(std::move(conn), settings));
}

bool PgConnection::broken() const {
  return dropped_ || !conn_ || PQstatus(conn_.get()) != CONNECTION_OK;
}

bool PgConnection::idle_in_no_transaction() const {
  return !broken() && PQtransactionStatus(conn_.get()) == PQTRANS_IDLE;
}

Error PgConnection::connection_error(std::string_view what) const {
  std::string why = conn_ ? trimmed(PQerrorMessage(conn_.get())) : "connection closed";
  if (why.empty()) why = "connection lost";
  return scrubbed(Errc::kUnavailable,
                  "lost connection to PostgreSQL at " + target_ + " during " + std::string(what) +
                      ": " + why,
                  true);
}

Result<PgResultPtr> PgConnection::await_result(std::string_view what, Deadline deadline) {
  PGconn* c = conn_.get();
  auto timed_out = [&]() -> Error {
    // The server did not answer in time (its own statement_timeout should have
    // fired first): the connection is in an unknown state, so drop it.
    conn_.reset();
    dropped_ = true;
    return scrubbed(Errc::kTimeout,
                    "PostgreSQL at " + target_ + " did not answer " + std::string(what) +
                        " before the deadline; connection dropped",
                    true);
  };
  // Send everything buffered.
  for (;;) {
    int f = PQflush(c);
    if (f == 0) break;
    if (f < 0) return connection_error(what);
    WaitResult w = wait_socket(PQsocket(c), POLLIN | POLLOUT, deadline);
    if (w == WaitResult::kTimeout) return timed_out();
    if (w == WaitResult::kError) return connection_error(what);
    if (PQconsumeInput(c) == 0) return connection_error(what);
  }
  // Read results until libpq says the command is complete.
  PgResultPtr first_error;
  PgResultPtr last;
  for (;;) {
    while (PQisBusy(c) != 0) {
      WaitResult w = wait_socket(PQsocket(c), POLLIN, deadline);
      if (w == WaitResult::kTimeout) return timed_out();
      if (w == WaitResult::kError || PQconsumeInput(c) == 0) return connection_error(what);
    }
    PgResultPtr r(PQgetResult(c));
    if (!r) break;
    ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
      if (!first_error) first_error = std::move(r);
    } else {
      last = std::move(r);
    }
    if (PQstatus(c) == CONNECTION_BAD) break;
  }
  if (first_error) {
    if (PQstatus(c) == CONNECTION_BAD) return connection_error(what);
    const char* state = PQresultErrorField(first_error.get(), PG_DIAG_SQLSTATE);
    std::string sqlstate = state != nullptr ? state : "";
    std::string msg = trimmed(PQresultErrorMessage(first_error.get()));
    Errc code = sqlstate.empty() ? Errc::kUnavailable : errc_from_sqlstate(sqlstate);
    std::string prefix = code == Errc::kTimeout ? "PostgreSQL statement timeout in " : "PostgreSQL error in ";
    return scrubbed(code, prefix + std::string(what) + " (SQLSTATE " + sqlstate + "): " + msg,
                    code == Errc::kUnavailable || code == Errc::kTimeout);
  }
  if (!last) {
    if (PQstatus(c) == CONNECTION_BAD) return connection_error(what);
    return scrubbed(Errc::kBadResponse, "PostgreSQL returned no result for " + std::string(what), false);
  }
  return last;
}

Result<PgResultPtr> PgConnection::exec_prepared(const Statement& stmt,
                                                const std::vector<Param>& params,
                                                Deadline deadline) {
  if (broken()) return connection_error(stmt.name);
  if (stmt.index < 0 || stmt.index >= kMaxStatements) {
    return internal_error("statement index out of range: " + std::string(stmt.name));
  }
  if (!prepared_[stmt.index]) {
    if (PQsendPrepare(conn_.get(), stmt.name, stmt.sql, 0, nullptr) == 0) {
      return connection_error(stmt.name);
    }
    SH_ASSIGN_OR_RETURN(auto prep, await_result(std::string("PREPARE ") + stmt.name, deadline));
    (void)prep;
    prepared_[stmt.index] = true;
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (PQsendQueryPrepared(conn_.get(), stmt.name, static_cast<int>(values.size()), values.data(),
                          nullptr, nullptr, 0) == 0) {
    return connection_error(stmt.name);
  }
  return await_result(stmt.name, deadline);
}

Result<PgResultPtr> PgConnection::exec_constant(const char* sql, Deadline deadline) {
  // Name the statement by its first words, on one line.
  std::string what;
  for (const char* p = sql; *p != '\0' && what.size() < 48; ++p) {
    bool space = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
    if (space && (what.empty() || what.back() == ' ')) continue;
    what.push_back(space ? ' ' : *p);
  }
  while (!what.empty() && what.back() == ' ') what.pop_back();
  if (broken()) return connection_error(what);
  if (PQsendQuery(conn_.get(), sql) == 0) return connection_error(what);
  return await_result(what, deadline);
}

}  // namespace sh::pg
