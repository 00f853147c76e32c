// Configuration of the `streamhouse` command: every flag has an environment
// twin named by one rule (`--foo-bar` ↔ `STREAMHOUSE_FOO_BAR`), plus the
// standard AWS_* and PG* variables read by the S3 and PostgreSQL layers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <prometheus/registry.h>

#include "core/metadata/metadata_store.h"
#include "core/metadata/postgres/postgres_metadata_store.h"
#include "core/read/segment_source.h"
#include "core/result.h"
#include "core/storage/object_store.h"
#include "core/storage/s3/s3_object_store.h"

namespace sh::service {

// Where segments live and where metadata comes from; shared by serve and the tools.
struct BackendConfig {
  std::string store = "file://./data";  // file:///dir | /dir | s3://bucket/prefix
  std::string metadata = "listing";     // listing | postgres://... (or a libpq conninfo)
  s3::S3Options s3;
  pg::PgOptions pg;
};

struct Backends {
  std::shared_ptr<ObjectStore> store;      // metered
  std::shared_ptr<MetadataStore> metadata;
  std::string prefix;                      // key prefix inside the store ("" or ends with '/')
  std::string bucket;                      // S3 bucket of `store` ("" for a directory)
  // Footer and block caches over `store`; set when open_backends was given options.
  // The listing metadata store reads footers through it, so a footer is read once.
  std::shared_ptr<read::SegmentSource> source;
};

// Adds --store, --metadata and the S3 / PostgreSQL flags.
void add_backend_flags(CLI::App* app, BackendConfig* cfg);

// Opens the object store and metadata store that `cfg` names.
// With `source_opts`, also builds the read path's SegmentSource (serve).
Result<Backends> open_backends(BackendConfig cfg,
                               const std::shared_ptr<prometheus::Registry>& registry,
                               const read::SegmentSourceOptions* source_opts = nullptr);

// Opens the object store of a URL (file:// path or s3://bucket/prefix); the
// prefix of the URL comes back in *prefix.
Result<std::shared_ptr<ObjectStore>> open_object_store(const std::string& url,
                                                       const s3::S3Options& s3_defaults,
                                                       const std::shared_ptr<prometheus::Registry>& registry,
                                                       std::string* prefix, std::string* bucket = nullptr);

// For an S3 store: opens (once) the store of any other bucket with the same
// settings, so segments that metadata places in other buckets are read from there.
read::BucketResolver s3_bucket_resolver(const s3::S3Options& s3_defaults,
                                        const std::shared_ptr<prometheus::Registry>& registry,
                                        std::shared_ptr<ObjectStore> configured,
                                        std::string configured_bucket);

// Gives every long option of `app` and its subcommands its environment twin.
void apply_env_twins(CLI::App* app);

// "host:port" or "[v6]:port".
Result<std::pair<std::string, uint16_t>> parse_listen(const std::string& listen);

}  // namespace sh::service
