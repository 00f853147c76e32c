// Encodes a ReadResult as the records response body, writing straight into the
// response buffer (no DOM per record).
//
//   {"topic","partition","records":[{"offset","timestamp","key","value","headers":[{"key","value"}]}],
//    "next_offset","high_watermark","log_start_offset"}
//
// format=string: keys and values as JSON strings; bytes that are not UTF-8 go
//   base64 with "key_encoding"/"value_encoding":"base64" on that record.
// format=base64: keys, values and header values base64 (no *_encoding fields).
// format=json:   values that are valid JSON are embedded as JSON; others as in
//   format=string, with "value_encoding":"string" (or "base64").
// null stays null in every format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/format/record.h"
#include "core/read/log_reader.h"

namespace sh::api {

enum class RecordFormat { kString, kBase64, kJson };

// Appends one record object.
void append_record_json(std::string* out, const RecordView& r, RecordFormat fmt);

// Bytes append_record_json(out, r, fmt) appends, without encoding (exact; costs
// one scan of the key, value and headers). The records route charges max_bytes
// with it (ReadRequest::record_cost).
uint64_t encoded_record_size(const RecordView& r, RecordFormat fmt);

// The whole response body. Records read with record_encoder(kRecords, fmt)
// (api/record_encoders.h) are copied from their block's encoding; others are
// encoded here.
std::string encode_records_response(std::string_view topic, int32_t partition,
                                    const read::ReadResult& result, RecordFormat fmt);

}  // namespace sh::api
