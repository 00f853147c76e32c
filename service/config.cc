#include "service/config.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "core/metadata/listing_metadata_store.h"
#include "core/storage/local_object_store.h"
#include "core/storage/metered_object_store.h"
#include "service/pg_flags.h"
#include "service/s3_flags.h"

namespace sh::service {

void add_backend_flags(CLI::App* app, BackendConfig* cfg) {
  app->add_option("--store", cfg->store,
                  "Where segments live: file:///dir, a directory path, or s3://bucket/prefix")
      ->capture_default_str();
  app->add_option("--metadata", cfg->metadata,
                  "Metadata: 'listing' (derived from the objects, no database) or a "
                  "postgres:// URL / libpq conninfo (PG* variables apply)")
      ->capture_default_str();
  add_s3_flags(app, &cfg->s3);
  add_pg_flags(app, &cfg->pg);
}

void apply_env_twins(CLI::App* app) {
  for (CLI::Option* opt : app->get_options()) {
    const auto& names = opt->get_lnames();
    if (names.empty() || names[0] == "help" || names[0] == "version") continue;
    if (!opt->get_envname().empty()) continue;
    std::string env = "STREAMHOUSE_";
    for (char c : names[0]) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
    opt->envname(env);
  }
  for (CLI::App* sub : app->get_subcommands({})) apply_env_twins(sub);
}

Result<std::pair<std::string, uint16_t>> parse_listen(const std::string& listen) {
  std::string host;
  std::string port;
  if (!listen.empty() && listen[0] == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return invalid_argument("--listen '" + listen + "': expected [ipv6]:port");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) return invalid_argument("--listen '" + listen + "': expected host:port");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) > 65535) {
    return invalid_argument("--listen '" + listen + "': expected host:port with port 0-65535");
  }
  if (host == "localhost") host = "127.0.0.1";
  return std::make_pair(host, static_cast<uint16_t>(std::stoul(port)));
}

Result<std::shared_ptr<ObjectStore>> open_object_store(const std::string& url,
                                                       const s3::S3Options& s3_defaults,
                                                       const std::shared_ptr<prometheus::Registry>& registry,
                                                       std::string* prefix, std::string* bucket) {
  std::shared_ptr<ObjectStore> inner;
  prefix->clear();
  if (bucket) bucket->clear();
  if (url.rfind("s3://", 0) == 0) {
    SH_ASSIGN_OR_RETURN(s3::S3Options opts, s3::parse_s3_url(url));
    // Flags and environment fill in everything but bucket and prefix.
    s3::S3Options merged = s3_defaults;
    merged.bucket = opts.bucket;
    *prefix = opts.prefix;
    if (bucket) *bucket = opts.bucket;
    merged.prefix.clear();  // keys we pass are full keys inside the bucket
    s3::apply_aws_environment(&merged);
    SH_ASSIGN_OR_RETURN(inner, s3::make_s3_object_store(std::move(merged), registry,
                                                        system_clock()));
  } else {
    std::string dir = url;
    if (dir.rfind("file://", 0) == 0) {
      dir = dir.substr(7);
    } else if (dir.find("://") != std::string::npos) {
      return invalid_argument("--store '" + url + "': expected file:///dir, a path or s3://bucket/prefix");
    }
    if (dir.empty()) return invalid_argument("--store '" + url + "': empty directory");
    SH_ASSIGN_OR_RETURN(auto local, LocalObjectStore::open(dir, /*create_if_missing=*/true));
    inner = std::move(local);
  }
  return std::shared_ptr<ObjectStore>(
      std::make_shared<MeteredObjectStore>(std::move(inner), std::make_shared<ObjectStoreMetrics>(*registry)));
}

read::BucketResolver s3_bucket_resolver(const s3::S3Options& s3_defaults,
                                        const std::shared_ptr<prometheus::Registry>& registry,
                                        std::shared_ptr<ObjectStore> configured,
                                        std::string configured_bucket) {
  struct Stores {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<ObjectStore>> by_bucket;
  };
  auto stores = std::make_shared<Stores>();
  stores->by_bucket[configured_bucket] = std::move(configured);
  return [stores, s3_defaults, registry](const std::string& bucket)
             -> Result<std::shared_ptr<ObjectStore>> {
    std::lock_guard lock(stores->mu);
    auto it = stores->by_bucket.find(bucket);
    if (it != stores->by_bucket.end()) return it->second;
    std::string ignored_prefix;
    SH_ASSIGN_OR_RETURN(auto store, open_object_store("s3://" + bucket, s3_defaults, registry,
                                                      &ignored_prefix));
    stores->by_bucket[bucket] = store;
    return store;
  };
}

Result<Backends> open_backends(BackendConfig cfg,
                               const std::shared_ptr<prometheus::Registry>& registry,
                               const read::SegmentSourceOptions* source_opts) {
  Backends b;
  SH_ASSIGN_OR_RETURN(b.store,
                      open_object_store(cfg.store, cfg.s3, registry, &b.prefix, &b.bucket));
  if (source_opts) {
    // A directory has no buckets: every segment is read from it. An S3 store reads
    // segments of other buckets (PostgreSQL's s3_bucket) from those buckets.
    read::BucketResolver resolver;
    if (!b.bucket.empty()) resolver = s3_bucket_resolver(cfg.s3, registry, b.store, b.bucket);
    b.source = std::make_shared<read::SegmentSource>(b.store, *source_opts, *registry, resolver);
  }
  if (cfg.metadata == "listing" || cfg.metadata.empty()) {
    ListingOptions lo;
    lo.prefix = b.prefix;
    // One footer loader and cache for listing and serving.
    if (b.source) lo.meta_loader = b.source->meta_loader();
    b.metadata = std::make_shared<ListingMetadataStore>(b.store, lo);
  } else {
    cfg.pg.conninfo = cfg.metadata;
    SH_ASSIGN_OR_RETURN(auto pg, pg::open_postgres_metadata_store(cfg.pg, registry));
    b.metadata = std::move(pg);
  }
  return b;
}

}  // namespace sh::service
