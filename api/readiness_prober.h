// ReadinessProber: the state behind /readyz, kept by a background thread so a
// probe never waits on storage. Every `interval` it pings the metadata store and
// lists one key of the object store (each bounded by `timeout`) and publishes
// the outcome; /readyz reads the last outcome.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/metadata/metadata_store.h"
#include "core/storage/object_store.h"

namespace sh::api {

// The *_error texts are for logs and tests only: /readyz never sends them.
struct ReadinessState {
  bool probed = false;  // false until the first round finished
  bool metadata_ok = false;
  std::string metadata_error;
  bool store_ok = false;
  std::string store_error;
  SteadyTime probed_at{};
};

class ReadinessProber {
 public:
  ReadinessProber(std::shared_ptr<MetadataStore> metadata, std::shared_ptr<ObjectStore> store,
                  Millis interval = Millis(2000), Millis timeout = Millis(2000));
  ~ReadinessProber();  // stop()
  ReadinessProber(const ReadinessProber&) = delete;
  ReadinessProber& operator=(const ReadinessProber&) = delete;

  // Probes once on the calling thread (so readiness is known before serving),
  // then keeps probing in the background. Idempotent.
  void start();
  void stop();
  // Asks for a new round now instead of at the next interval (a request just
  // saw storage or metadata fail). Does not wait for it.
  void probe_soon();
  ReadinessState state() const;

 private:
  void probe_once();
  void run();
  static void log_change(const char* what, bool was_probed, bool was_ok, bool ok, const Error* error);

  std::shared_ptr<MetadataStore> metadata_;
  std::shared_ptr<ObjectStore> store_;
  const Millis interval_;
  const Millis timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  ReadinessState state_;
  bool stopping_ = false;
  bool soon_ = false;
  std::thread thread_;
};

}  // namespace sh::api
