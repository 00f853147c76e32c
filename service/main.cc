// streamhouse: the read path of a Kafka-style log kept in object storage.
//
//   streamhouse serve            serve the HTTP API
//   streamhouse segment write    append JSON lines to a partition as segments
//   streamhouse segment dump     print a segment's records as JSON lines
//   streamhouse segment verify   check every byte of a segment
//   streamhouse migrate          create or upgrade the PostgreSQL schema
//   streamhouse probe URL        GET URL; exit 0 on 2xx (container health checks)
#include <iostream>

#include <CLI/CLI.hpp>

#include "service/config.h"
#include "service/probe.h"
#include "service/segment_commands.h"
#include "service/serve.h"

int main(int argc, char** argv) {
  using namespace sh::service;
  CLI::App app{"StreamHouse Reader: the read path of a Kafka-style log kept in object storage",
               "streamhouse"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "streamhouse 0.1.0");

  ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve the HTTP API");
  add_serve_flags(serve_cmd, &serve);

  CLI::App* segment_cmd = app.add_subcommand("segment", "Write, dump or verify segment objects");
  segment_cmd->require_subcommand(1);
  SegmentWriteOptions write;
  CLI::App* write_cmd = segment_cmd->add_subcommand(
      "write", "Append records (JSON lines on stdin) to a partition as new segments");
  add_segment_write_flags(write_cmd, &write);
  SegmentReadOptions dump;
  CLI::App* dump_cmd = segment_cmd->add_subcommand("dump", "Print a segment's records as JSON lines");
  add_segment_read_flags(dump_cmd, &dump);
  SegmentReadOptions verify;
  CLI::App* verify_cmd = segment_cmd->add_subcommand(
      "verify", "Check every CRC and length of a segment; exit 1 on any corruption");
  add_segment_read_flags(verify_cmd, &verify);

  BackendConfig migrate;
  CLI::App* migrate_cmd = app.add_subcommand("migrate", "Create or upgrade the PostgreSQL schema");
  add_backend_flags(migrate_cmd, &migrate);

  ProbeOptions probe;
  CLI::App* probe_cmd = app.add_subcommand("probe", "GET an http:// URL; exit 0 on a 2xx status (health checks)");
  add_probe_flags(probe_cmd, &probe);

  apply_env_twins(&app);
  CLI11_PARSE(app, argc, argv);

  std::ios::sync_with_stdio(false);
  if (*serve_cmd) return run_serve(serve);
  if (*probe_cmd) return run_probe(probe, std::cout, std::cerr);
  if (*write_cmd) return run_segment_write(write, std::cin, std::cout, std::cerr);
  if (*dump_cmd) return run_segment_dump(dump, std::cout, std::cerr);
  if (*verify_cmd) return run_segment_verify(verify, std::cout, std::cerr);
  if (*migrate_cmd) {
    if (migrate.metadata == "listing") {
      std::cerr << "migrate: --metadata must name a PostgreSQL database (postgres://...)\n";
      return 2;
    }
    sh::pg::PgOptions pgo = migrate.pg;
    pgo.conninfo = migrate.metadata;
    auto st = sh::pg::migrate(pgo);
    if (!st.ok()) {
      std::cerr << "migrate: " << st.error().message() << "\n";
      return 1;
    }
    std::cout << "migrations applied\n";
    return 0;
  }
  return 2;
}
