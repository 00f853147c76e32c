#include "core/metadata/postgres/schema.h"

namespace sh::pg {
namespace {

// Table and column names are a contract with the writers that register
// segments: keep them. IF NOT EXISTS keeps a schema a writer created first.
constexpr const char* kV1 = R"sql(
CREATE TABLE IF NOT EXISTS topics (
  name text PRIMARY KEY,
  partition_count int NOT NULL,
  config jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS partitions (
  topic text REFERENCES topics (name),
  partition_id int,
  high_watermark bigint NOT NULL DEFAULT 0,
  log_start_offset bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (topic, partition_id)
);
CREATE TABLE IF NOT EXISTS segments (
  id text PRIMARY KEY,
  topic text NOT NULL,
  partition_id int NOT NULL,
  base_offset bigint NOT NULL,
  end_offset bigint NOT NULL, -- inclusive
  record_count bigint NOT NULL,
  size_bytes bigint NOT NULL,
  s3_bucket text NOT NULL,
  s3_key text NOT NULL,
  min_timestamp bigint,
  max_timestamp bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (topic, partition_id) REFERENCES partitions
);
CREATE INDEX IF NOT EXISTS idx_segments_offsets ON segments (topic, partition_id, base_offset);
CREATE TABLE IF NOT EXISTS consumer_groups (
  group_id text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS consumer_offsets (
  group_id text REFERENCES consumer_groups,
  topic text,
  partition_id int,
  committed_offset bigint NOT NULL,
  metadata text,
  committed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition_id)
);
)sql";

constexpr Migration kMigrations[] = {
    {1, "topics, partitions, segments, consumer groups and offsets", kV1},
};

}  // namespace

std::span<const Migration> schema_migrations() { return kMigrations; }

}  // namespace sh::pg
