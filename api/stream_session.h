// StreamSession: moves framed chunks from a stream producer (read::RecordStream
// of a partition, read::TopicStream of a topic) into a ResponseStream while the
// response holds less than kHighWaterBytes, and counts them in StreamMetrics.
//
// Owned by the response's drain callback (so it lives exactly as long as the
// response body); the producer refers to it weakly. Destroying it closes the
// producer. One thread pumps at a time: a pump() meanwhile — from another
// thread, or from this one re-entering through the producer (pop() resumes
// production, the engine refuses it, and the error piece's ready-callback
// calls pump() again) — makes the running pump go round once more instead of
// waiting for it.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_server.h"
#include "api/response_stream.h"
#include "api/stream_handler.h"
#include "core/read/record_stream.h"
#include "core/read/topic_stream.h"

namespace sh::api {

// The streams_total outcome of a stream's last chunk.
inline std::string_view end_outcome(const read::StreamChunk& c) {
  return c.failed ? "error" : read::stream_end_reason_name(c.end_reason);
}
inline std::string_view end_outcome(const read::TopicStreamChunk& c) {
  return c.failed ? "error" : read::stream_end_reason_name(read::StreamEndReason::kHighWatermark);
}

// Accept: text/event-stream asks for SSE (else NDJSON).
inline bool wants_sse(const HttpRequest& request) {
  const std::string* accept = request.header("accept");
  return accept != nullptr && accept->find("text/event-stream") != std::string::npos;
}

template <class Producer>
class StreamSession {
 public:
  StreamSession(std::shared_ptr<Producer> producer, std::weak_ptr<ResponseStream> out,
                StreamMetrics* metrics)
      : producer_(std::move(producer)), out_(std::move(out)), metrics_(metrics) {
    metrics_->active.Increment();
  }
  ~StreamSession() {
    producer_->close();
    if (!outcome_) metrics_->ended.Add({{"outcome", "client_gone"}}).Increment();
    metrics_->active.Decrement();
  }
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  // Runs on producer threads (a chunk was queued) and on server threads (the
  // response drained, or closed). Never blocks beyond the stream's locks.
  void pump() noexcept {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pumping_) {
        again_ = true;
        return;
      }
      pumping_ = true;
    }
    for (;;) {
      pump_once();
      std::lock_guard<std::mutex> lock(mu_);
      if (!again_) {
        pumping_ = false;
        return;
      }
      again_ = false;
    }
  }

 private:
  // One round of pump(): only the pumping thread runs it.
  void pump_once() noexcept {
    try {
      if (stopped_) return;
      std::shared_ptr<ResponseStream> out = out_.lock();
      if (out == nullptr) return stop(nullptr);
      if (!out->open()) return stop(out.get());
      while (out->buffered() < StreamHandler::kHighWaterBytes) {
        auto c = producer_->pop();
        if (!c) return;
        if (!c->bytes.empty() && !out->write(c->bytes)) return stop(out.get());
        metrics_->records.Increment(static_cast<double>(c->records));
        metrics_->bytes.Increment(static_cast<double>(c->bytes.size()));
        if (c->last) {
          outcome_ = end_outcome(*c);
          metrics_->ended.Add({{"outcome", std::string(*outcome_)}}).Increment();
          return stop(out.get());
        }
      }
    } catch (...) {
      // Only allocation can throw here; the stream then ends when its client
      // or the server closes it.
    }
  }

  // Ends the body (a no-op if the client is gone: it resumes a connection
  // suspended while its peer hung up, so the server completes and frees it)
  // and closes the producer.
  void stop(ResponseStream* out) {
    stopped_ = true;
    if (out != nullptr) out->finish();
    producer_->close();
  }

  std::mutex mu_;         // guards pumping_ and again_
  bool pumping_ = false;  // a thread runs pump_once()
  bool again_ = false;    // pump() was called meanwhile: go round once more
  const std::shared_ptr<Producer> producer_;
  const std::weak_ptr<ResponseStream> out_;
  StreamMetrics* const metrics_;
  // Touched by the pumping thread only (and the destructor, when no pump runs).
  bool stopped_ = false;
  std::optional<std::string_view> outcome_;
};

// The streamed response of `producer`: a ResponseStream whose drain callback
// owns the session (it lives as long as the body does), production started,
// NDJSON or SSE headers set.
template <class Producer>
HttpResponse streaming_response(const std::shared_ptr<Producer>& producer, StreamMetrics* metrics,
                                bool sse) {
  auto body = std::make_shared<ResponseStream>();
  auto session = std::make_shared<StreamSession<Producer>>(producer, body, metrics);
  body->on_drain(StreamHandler::kLowWaterBytes, [session] { session->pump(); });
  std::weak_ptr<StreamSession<Producer>> weak = session;
  producer->start([weak] {
    if (auto s = weak.lock()) s->pump();
  });
  HttpResponse r;
  r.content_type = sse ? "text/event-stream" : "application/x-ndjson";
  r.stream = std::move(body);
  r.with_header("Cache-Control", "no-store");
  r.with_header("X-Accel-Buffering", "no");
  return r;
}

}  // namespace sh::api
