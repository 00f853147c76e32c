// RAII owners for libpq handles. Every PGconn* and PGresult* lives in one.
#pragma once

#include <libpq-fe.h>

#include <memory>

namespace sh::pg {

struct PGconnCloser {
  void operator()(PGconn* c) const noexcept {
    if (c != nullptr) PQfinish(c);
  }
};
struct PGresultClearer {
  void operator()(PGresult* r) const noexcept {
    if (r != nullptr) PQclear(r);
  }
};
struct PQconninfoOptionFreer {
  void operator()(PQconninfoOption* o) const noexcept {
    if (o != nullptr) PQconninfoFree(o);
  }
};

using PgConnPtr = std::unique_ptr<PGconn, PGconnCloser>;
using PgResultPtr = std::unique_ptr<PGresult, PGresultClearer>;
using PgConnInfoPtr = std::unique_ptr<PQconninfoOption, PQconninfoOptionFreer>;

}  // namespace sh::pg
