// `streamhouse segment write|dump|verify`: the tools that make, show and check
// segment objects.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "service/config.h"

namespace sh::service {

struct SegmentWriteOptions {
  BackendConfig backend;
  std::string topic;
  int32_t partition = 0;
  uint64_t segment_records = 0;          // 0 = no record limit
  uint64_t segment_bytes = 64ull << 20;  // cut a segment when it reaches this size
  uint32_t block_bytes = 1u << 20;
  std::string compression = "lz4";
};

struct SegmentReadOptions {
  std::string target;  // FILE path, file:///path or s3://bucket/key
  s3::S3Options s3;
};

void add_segment_write_flags(CLI::App* cmd, SegmentWriteOptions* o);
void add_segment_read_flags(CLI::App* cmd, SegmentReadOptions* o);

// Reads JSON lines from `in` and appends them with write::PartitionAppender
// (segments cut, written, registered); a JSON summary on `out`.
// Returns the process exit code; errors name the input line.
int run_segment_write(const SegmentWriteOptions& o, std::istream& in, std::ostream& out,
                      std::ostream& err);
int run_segment_dump(const SegmentReadOptions& o, std::ostream& out, std::ostream& err);
int run_segment_verify(const SegmentReadOptions& o, std::ostream& out, std::ostream& err);

}  // namespace sh::service
