// The record encodings of the API, as format::RecordEncoders: each response
// format in each framing, so that a block's records are encoded once per
// format and framing and kept with the decoded block (DecodedBlock::encoded).
// A warm response is then a few contiguous copies (read::append_encoded).
//
//   records       the records route's record object + ','            (api/records_json.h)
//   topic         {"partition":P, + the same object's fields + ','   (GET /topics/{t}/records)
//   ndjson        the record object + '\n'                           (records/stream, NDJSON)
//   sse           "id: <offset>\ndata: " + the record object + "\n\n" (records/stream, SSE)
//   topic_stream  {"partition":P, + the object's fields, one line       (topic stream payloads;
//                 the stream frames it with the positions as it merges: NDJSON or SSE)
//
// In the stream framings a record is one line: in format=json, raw line breaks
// inside an embedded JSON value (whitespace between its tokens, never inside a
// string) become spaces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/records_json.h"
#include "core/format/block.h"

namespace sh::api {

enum class RecordFraming { kRecords = 0, kTopic = 1, kNdjson = 2, kSse = 3, kTopicStream = 4 };

// The encoder of a framing and format (stateless, thread-safe). `partition`
// is written by kTopic and kTopicStream only (a block belongs to one
// partition, so all its encoders share one slot).
std::shared_ptr<const format::RecordEncoder> record_encoder(RecordFraming framing,
                                                            RecordFormat fmt,
                                                            int32_t partition = 0);

// What that encoder writes for one record, without any cache (the reference
// the cached encodings are tested against).
void append_framed_record(std::string* out, const RecordView& r, RecordFraming framing,
                          RecordFormat fmt, int32_t partition = 0);

// Raw line breaks in out[from, end) become spaces (see above).
void flatten_line_breaks(std::string* out, size_t from);

}  // namespace sh::api
