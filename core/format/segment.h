// Segment format v1 (docs/segment-format.md), for callers outside core/format.
// Code inside core/format includes the header that owns what it uses:
//
//   format.h          constants (kMagic, kVersion, kMaxBlockBytes, Compression,
//                     layout sizes), SegmentHeader, BlockHandle, IndexEntry,
//                     Footer, decode_index, SegmentMeta, TailParse, parse_tail
//   block.h           DecodedBlock, decode_block (block header, CRC,
//                     decompression, record parsing)
//   block_builder.h   BlockBuilder (one block's raw payload)
//   segment_writer.h  kDefaultBlockBytes, SegmentWriterOptions, SegmentWriter
//   segment_reader.h  SegmentContents, read_segment (whole-object verification)
//   names.h           segment_key, parse_segment_file_name, topic names
//   record.h          Record, RecordView
#pragma once

#include "core/format/block.h"
#include "core/format/format.h"
#include "core/format/names.h"
#include "core/format/record.h"
#include "core/format/segment_reader.h"
#include "core/format/segment_writer.h"
