"""Independent implementation of StreamHouse segment format v1.

Written from docs/segment-format.md and SEGMENT_FORMAT.md only (not from
core/format), so that the C++ code can be cross-checked against the documents.

Public API:
    crc32c(data: bytes, crc: int = 0) -> int
    encode_uvarint(n) / decode_uvarint(buf, pos, end) -> (value, new_pos)
    encode_svarint(n) / decode_svarint(buf, pos, end) -> (value, new_pos)
    Record(offset, timestamp, key, value, headers)      headers: [(name: str, value: bytes|None)]
    SegmentWriter(compression=0, block_bytes=1 MiB, created_at_ms=0).add(Record) / .finish() -> bytes
    write_segment(records, compression=0, block_bytes=..., created_at_ms=0) -> bytes
    read_segment(data: bytes, name: str) -> Segment      raises CorruptSegment
    segment_key(prefix, topic, partition, base_offset) -> str
    check_block_cuts(segment, block_bytes) -> list[str]  violations of the block-cut rule

Needs Debian's python3-lz4 (run with /usr/bin/python3).
"""

from __future__ import annotations

import dataclasses
import re
import struct
from typing import List, Optional, Tuple

import lz4.block

MAGIC = b"STRS"
VERSION = 1
COMPRESSION_NONE = 0
COMPRESSION_LZ4 = 1
HEADER_SIZE = 32
FOOTER_SIZE = 48
BLOCK_HEADER_SIZE = 12
PAYLOAD_HEADER_SIZE = 20
INDEX_ENTRY_SIZE = 48
MAX_RAW_LEN = 256 << 20
DEFAULT_BLOCK_BYTES = 1 << 20
U64 = (1 << 64) - 1

# ---------------------------------------------------------------- CRC32C

def _make_crc_table() -> List[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_crc_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF)."""
    c = crc ^ 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283, "CRC32C check value"

# ---------------------------------------------------------------- varints


class CorruptSegment(Exception):
    """Any structural or checksum problem in a segment object."""


def encode_uvarint(n: int) -> bytes:
    if n < 0 or n > U64:
        raise ValueError(f"uvarint out of range: {n}")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_uvarint(buf: bytes, pos: int, end: int) -> Tuple[int, int]:
    """Decodes a uvarint at buf[pos:end]; raises CorruptSegment (position relative to buf)."""
    result = 0
    for i in range(10):
        if pos + i >= end:
            raise CorruptSegment(f"uvarint at {pos} runs past the end ({end})")
        b = buf[pos + i]
        if i == 9 and b > 1:
            raise CorruptSegment(f"uvarint at {pos} exceeds 64 bits")
        result |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return result, pos + i + 1
    raise CorruptSegment(f"uvarint at {pos} longer than 10 bytes")


def zigzag(n: int) -> int:
    if n < -(1 << 63) or n >= (1 << 63):
        raise ValueError(f"svarint out of range: {n}")
    return ((n << 1) ^ (n >> 63)) & U64


def unzigzag(u: int) -> int:
    return (u >> 1) ^ -(u & 1)


def encode_svarint(n: int) -> bytes:
    return encode_uvarint(zigzag(n))


def decode_svarint(buf: bytes, pos: int, end: int) -> Tuple[int, int]:
    u, pos = decode_uvarint(buf, pos, end)
    return unzigzag(u), pos


def to_i64(u: int) -> int:
    u &= U64
    return u - (1 << 64) if u >= (1 << 63) else u


# ---------------------------------------------------------------- model


@dataclasses.dataclass
class Record:
    offset: int
    timestamp: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: List[Tuple[str, Optional[bytes]]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Header:
    version: int
    compression: int
    base_offset: int
    created_at_ms: int
    reserved: int
    crc: int


@dataclasses.dataclass
class IndexEntry:
    first_offset: int
    last_offset: int
    position: int
    size: int
    record_count: int
    first_timestamp: int
    max_timestamp: int


@dataclasses.dataclass
class Footer:
    index_position: int
    index_length: int
    block_count: int
    base_offset: int
    last_offset: int
    max_timestamp: int
    crc: int


@dataclasses.dataclass
class Block:
    entry: IndexEntry
    stored_len: int
    raw_len: int
    crc: int
    records: List[Record]
    record_sizes: List[int]  # encoded size of each record inside the payload
    payload: bytes = b""     # the raw (decompressed) payload


@dataclasses.dataclass
class Segment:
    header: Header
    blocks: List[Block]
    footer: Footer

    @property
    def records(self) -> List[Record]:
        return [r for b in self.blocks for r in b.records]


# ---------------------------------------------------------------- writer

_HEADER = struct.Struct("<4sHHQqI")          # bytes 0..27; crc follows
_BLOCK_HEADER = struct.Struct("<III")
_PAYLOAD_HEADER = struct.Struct("<QqI")
_INDEX_ENTRY = struct.Struct("<QQQIIqq")
_FOOTER = struct.Struct("<QIIQQq")            # 40 bytes + crc + magic
assert _HEADER.size == 28 and _PAYLOAD_HEADER.size == 20
assert _INDEX_ENTRY.size == 48 and _FOOTER.size == 40


def _encode_bytes(b: Optional[bytes]) -> bytes:
    if b is None:
        return encode_svarint(-1)
    return encode_svarint(len(b)) + bytes(b)


def encode_record(r: Record, first_offset: int, first_timestamp: int) -> bytes:
    out = bytearray()
    out += encode_uvarint(r.offset - first_offset)
    out += encode_svarint(to_i64((r.timestamp - first_timestamp) & U64))
    out += _encode_bytes(r.key)
    out += _encode_bytes(r.value)
    out += encode_uvarint(len(r.headers))
    for name, value in r.headers:
        nb = name.encode("utf-8")
        out += encode_uvarint(len(nb)) + nb
        out += _encode_bytes(value)
    return bytes(out)


class SegmentWriter:
    def __init__(self, compression: int = COMPRESSION_NONE,
                 block_bytes: int = DEFAULT_BLOCK_BYTES, created_at_ms: int = 0):
        if compression not in (COMPRESSION_NONE, COMPRESSION_LZ4):
            raise ValueError("compression must be 0 or 1")
        self.compression = compression
        self.block_bytes = block_bytes
        self.created_at_ms = created_at_ms
        self._blocks: List[Tuple[List[Record], bytes]] = []  # closed blocks: records, raw payload
        self._cur: List[Record] = []
        self._cur_bytes = bytearray()

    def add(self, r: Record) -> None:
        last = self._cur[-1] if self._cur else (self._blocks[-1][0][-1] if self._blocks else None)
        if last is not None and r.offset <= last.offset:
            raise ValueError(f"offset {r.offset} does not follow {last.offset}")
        if not 0 <= r.offset <= U64:
            raise ValueError("offset out of range")
        alone = PAYLOAD_HEADER_SIZE + len(encode_record(r, r.offset, r.timestamp))
        if self._cur and alone >= self.block_bytes:
            self._close_block()
        if not self._cur:
            enc = encode_record(r, r.offset, r.timestamp)
        else:
            enc = encode_record(r, self._cur[0].offset, self._cur[0].timestamp)
        self._cur.append(r)
        self._cur_bytes += enc
        if PAYLOAD_HEADER_SIZE + len(self._cur_bytes) >= self.block_bytes:
            self._close_block()

    def _close_block(self) -> None:
        if not self._cur:
            return
        first = self._cur[0]
        payload = _PAYLOAD_HEADER.pack(first.offset, first.timestamp, len(self._cur)) + bytes(self._cur_bytes)
        self._blocks.append((self._cur, payload))
        self._cur = []
        self._cur_bytes = bytearray()

    def finish(self) -> bytes:
        self._close_block()
        if not self._blocks:
            raise ValueError("a segment needs at least one record")
        base = self._blocks[0][0][0].offset
        hdr = _HEADER.pack(MAGIC, VERSION, self.compression, base, self.created_at_ms, 0)
        out = bytearray(hdr + struct.pack("<I", crc32c(hdr)))
        entries = []
        for records, payload in self._blocks:
            if self.compression == COMPRESSION_LZ4:
                stored = lz4.block.compress(payload, mode="default", store_size=False)
            else:
                stored = payload
            pos = len(out)
            out += _BLOCK_HEADER.pack(len(stored), len(payload), crc32c(stored))
            out += stored
            entries.append(_INDEX_ENTRY.pack(records[0].offset, records[-1].offset, pos,
                                             BLOCK_HEADER_SIZE + len(stored), len(records),
                                             records[0].timestamp,
                                             max(r.timestamp for r in records)))
        index_pos = len(out)
        index = struct.pack("<I", len(entries)) + b"".join(entries)
        index += struct.pack("<I", crc32c(index))
        out += index
        last = self._blocks[-1][0][-1].offset
        max_ts = max(r.timestamp for recs, _ in self._blocks for r in recs)
        footer = _FOOTER.pack(index_pos, len(index), len(entries), base, last, max_ts)
        out += footer + struct.pack("<I", crc32c(footer)) + MAGIC
        return bytes(out)


def write_segment(records, compression: int = COMPRESSION_NONE,
                  block_bytes: int = DEFAULT_BLOCK_BYTES, created_at_ms: int = 0) -> bytes:
    w = SegmentWriter(compression, block_bytes, created_at_ms)
    for r in records:
        w.add(r)
    return w.finish()


_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def segment_key(prefix: str, topic: str, partition: int, base_offset: int) -> str:
    if not _TOPIC_RE.match(topic) or topic in (".", ".."):
        raise ValueError(f"invalid topic {topic!r}")
    if not 0 <= partition <= (1 << 31) - 1:
        raise ValueError("invalid partition")
    if prefix and not prefix.endswith("/"):
        raise ValueError("prefix must be empty or end with /")
    return f"{prefix}{topic}/{partition}/seg_{base_offset:020d}.bin"


# ---------------------------------------------------------------- reader


def _parse_records(payload: bytes, where: str, entry: IndexEntry) -> Tuple[List[Record], List[int]]:
    n = len(payload)
    if n < PAYLOAD_HEADER_SIZE:
        raise CorruptSegment(f"{where}: payload of {n} bytes is shorter than its 20-byte header")
    first_offset, first_ts, count = _PAYLOAD_HEADER.unpack_from(payload, 0)
    if count == 0:
        raise CorruptSegment(f"{where}: block has no records")
    if first_offset != entry.first_offset:
        raise CorruptSegment(f"{where}: payload first_offset {first_offset} != index {entry.first_offset}")
    if first_ts != entry.first_timestamp:
        raise CorruptSegment(f"{where}: payload first_timestamp {first_ts} != index {entry.first_timestamp}")
    if count != entry.record_count:
        raise CorruptSegment(f"{where}: payload record_count {count} != index {entry.record_count}")
    # Each record takes at least 5 bytes; reject absurd counts before looping.
    if count * 5 > n - PAYLOAD_HEADER_SIZE:
        raise CorruptSegment(f"{where}: record_count {count} cannot fit in {n} bytes")
    pos = PAYLOAD_HEADER_SIZE
    records: List[Record] = []
    sizes: List[int] = []
    prev_offset = None

    def read_bytes(p: int, what: str) -> Tuple[Optional[bytes], int]:
        ln, p = decode_svarint(payload, p, n)
        if ln == -1:
            return None, p
        if ln < -1:
            raise CorruptSegment(f"{where}: {what} length {ln} < -1 at payload byte {p}")
        if ln > n - p:
            raise CorruptSegment(f"{where}: {what} length {ln} exceeds the {n - p} bytes left at payload byte {p}")
        return bytes(payload[p:p + ln]), p + ln

    for i in range(count):
        start = pos
        try:
            od, pos = decode_uvarint(payload, pos, n)
            td, pos = decode_svarint(payload, pos, n)
        except CorruptSegment as e:
            raise CorruptSegment(f"{where}: record {i}: {e}") from None
        if i == 0 and (od != 0 or td != 0):
            raise CorruptSegment(f"{where}: record 0 has deltas ({od}, {td}), expected (0, 0)")
        offset = first_offset + od
        if offset > U64:
            raise CorruptSegment(f"{where}: record {i} offset overflows u64")
        if prev_offset is not None and offset <= prev_offset:
            raise CorruptSegment(f"{where}: record {i} offset {offset} does not increase (after {prev_offset})")
        ts = to_i64(first_ts + td)
        try:
            key, pos = read_bytes(pos, "key")
            value, pos = read_bytes(pos, "value")
            hc, pos = decode_uvarint(payload, pos, n)
            if hc > n - pos:
                raise CorruptSegment(f"header_count {hc} cannot fit")
            headers = []
            for _ in range(hc):
                nl, pos = decode_uvarint(payload, pos, n)
                if nl > n - pos:
                    raise CorruptSegment(f"header name length {nl} exceeds the {n - pos} bytes left")
                try:
                    name = bytes(payload[pos:pos + nl]).decode("utf-8", errors="strict")
                except UnicodeDecodeError:
                    raise CorruptSegment(f"header name at payload byte {pos} is not UTF-8") from None
                pos += nl
                hv, pos = read_bytes(pos, "header value")
                headers.append((name, hv))
        except CorruptSegment as e:
            raise CorruptSegment(f"{where}: record {i} (offset {offset}): {e}") from None
        records.append(Record(offset, ts, key, value, headers))
        sizes.append(pos - start)
        prev_offset = offset
    if pos != n:
        raise CorruptSegment(f"{where}: {n - pos} trailing bytes after the last record")
    if records[-1].offset != entry.last_offset:
        raise CorruptSegment(f"{where}: last record offset {records[-1].offset} != index last_offset {entry.last_offset}")
    mts = max(r.timestamp for r in records)
    if mts != entry.max_timestamp:
        raise CorruptSegment(f"{where}: max timestamp {mts} != index max_timestamp {entry.max_timestamp}")
    return records, sizes


def read_segment(data: bytes, name: str = "<segment>") -> Segment:
    """Parses and fully verifies a segment. Raises CorruptSegment naming `name` and the position."""
    data = bytes(data)
    size = len(data)

    def fail(msg: str):
        raise CorruptSegment(f"{name}: {msg}")

    if size < HEADER_SIZE + BLOCK_HEADER_SIZE + 8 + FOOTER_SIZE:
        fail(f"object of {size} bytes is too small for a segment")
    # Footer first (as a tail reader would).
    fpos = size - FOOTER_SIZE
    if data[size - 4:] != MAGIC:
        fail(f"footer at {fpos}: bad magic {data[size - 4:]!r}")
    fcrc_stored = struct.unpack_from("<I", data, fpos + 40)[0]
    fcrc = crc32c(data[fpos:fpos + 40])
    if fcrc != fcrc_stored:
        fail(f"footer at {fpos}: CRC mismatch (stored 0x{fcrc_stored:08x}, computed 0x{fcrc:08x})")
    footer = Footer(*_FOOTER.unpack_from(data, fpos), crc=fcrc_stored)
    if footer.index_position < HEADER_SIZE:
        fail(f"footer at {fpos}: index_position {footer.index_position} < 32")
    if footer.index_position + footer.index_length + FOOTER_SIZE != size:
        fail(f"footer at {fpos}: index_position {footer.index_position} + index_length "
             f"{footer.index_length} + 48 != object size {size}")
    if footer.block_count == 0:
        fail(f"footer at {fpos}: block_count 0")
    if footer.index_length != 8 + INDEX_ENTRY_SIZE * footer.block_count:
        fail(f"footer at {fpos}: index_length {footer.index_length} does not fit block_count {footer.block_count}")
    # Index.
    ipos = footer.index_position
    index = data[ipos:ipos + footer.index_length]
    icrc_stored = struct.unpack_from("<I", index, len(index) - 4)[0]
    icrc = crc32c(index[:-4])
    if icrc != icrc_stored:
        fail(f"index at {ipos}: CRC mismatch (stored 0x{icrc_stored:08x}, computed 0x{icrc:08x})")
    count = struct.unpack_from("<I", index, 0)[0]
    if count != footer.block_count:
        fail(f"index at {ipos}: entry_count {count} != footer block_count {footer.block_count}")
    entries = [IndexEntry(*_INDEX_ENTRY.unpack_from(index, 4 + INDEX_ENTRY_SIZE * i)) for i in range(count)]
    expect_pos = HEADER_SIZE
    prev_last = None
    for i, e in enumerate(entries):
        where = f"index at {ipos}: entry {i}"
        if e.position != expect_pos:
            fail(f"{where}: position {e.position}, expected {expect_pos}")
        if e.size < BLOCK_HEADER_SIZE + 1 or e.position + e.size > ipos:
            fail(f"{where}: size {e.size} at {e.position} does not fit before the index at {ipos}")
        if e.record_count == 0:
            fail(f"{where}: record_count 0")
        if e.first_offset > e.last_offset:
            fail(f"{where}: first_offset {e.first_offset} > last_offset {e.last_offset}")
        if e.last_offset - e.first_offset + 1 < e.record_count:
            fail(f"{where}: {e.record_count} records cannot fit in offsets {e.first_offset}..{e.last_offset}")
        if prev_last is not None and e.first_offset <= prev_last:
            fail(f"{where}: first_offset {e.first_offset} overlaps previous last_offset {prev_last}")
        if e.max_timestamp < e.first_timestamp:
            fail(f"{where}: max_timestamp {e.max_timestamp} < first_timestamp {e.first_timestamp}")
        prev_last = e.last_offset
        expect_pos = e.position + e.size
    if expect_pos != ipos:
        fail(f"index at {ipos}: blocks end at {expect_pos}, not where the index begins")
    if footer.base_offset != entries[0].first_offset:
        fail(f"footer at {fpos}: base_offset {footer.base_offset} != first block first_offset {entries[0].first_offset}")
    if footer.last_offset != entries[-1].last_offset:
        fail(f"footer at {fpos}: last_offset {footer.last_offset} != last block last_offset {entries[-1].last_offset}")
    mts = max(e.max_timestamp for e in entries)
    if footer.max_timestamp != mts:
        fail(f"footer at {fpos}: max_timestamp {footer.max_timestamp} != largest index max_timestamp {mts}")
    # Header.
    if data[0:4] != MAGIC:
        fail(f"header at 0: bad magic {data[0:4]!r}")
    hcrc_stored = struct.unpack_from("<I", data, 28)[0]
    hcrc = crc32c(data[0:28])
    if hcrc != hcrc_stored:
        fail(f"header at 0: CRC mismatch (stored 0x{hcrc_stored:08x}, computed 0x{hcrc:08x})")
    magic, version, compression, base, created, reserved = _HEADER.unpack_from(data, 0)
    header = Header(version, compression, base, created, reserved, hcrc_stored)
    if version != VERSION:
        fail(f"header at 0: unsupported version {version}")
    if compression not in (COMPRESSION_NONE, COMPRESSION_LZ4):
        fail(f"header at 0: unknown compression {compression}")
    if reserved != 0:
        fail(f"header at 0: reserved is {reserved}, must be 0")
    if base != footer.base_offset:
        fail(f"header at 0: base_offset {base} != footer base_offset {footer.base_offset}")
    # Blocks.
    blocks: List[Block] = []
    for i, e in enumerate(entries):
        where = f"block at {e.position}"
        stored_len, raw_len, bcrc_stored = _BLOCK_HEADER.unpack_from(data, e.position)
        if BLOCK_HEADER_SIZE + stored_len != e.size:
            fail(f"{where}: stored_len {stored_len} + 12 != index size {e.size}")
        if raw_len > MAX_RAW_LEN:
            fail(f"{where}: raw_len {raw_len} exceeds 256 MiB")
        stored = data[e.position + BLOCK_HEADER_SIZE:e.position + e.size]
        bcrc = crc32c(stored)
        if bcrc != bcrc_stored:
            fail(f"{where}: CRC mismatch (stored 0x{bcrc_stored:08x}, computed 0x{bcrc:08x})")
        if compression == COMPRESSION_NONE:
            if stored_len != raw_len:
                fail(f"{where}: stored_len {stored_len} != raw_len {raw_len} in an uncompressed segment")
            payload = stored
        else:
            try:
                payload = lz4.block.decompress(stored, uncompressed_size=raw_len)
            except Exception as ex:  # lz4.block.LZ4BlockError
                fail(f"{where}: LZ4 decompression failed: {ex}")
            if len(payload) != raw_len:
                fail(f"{where}: decompressed to {len(payload)} bytes, raw_len says {raw_len}")
        try:
            records, sizes = _parse_records(payload, where, e)
        except CorruptSegment as ex:
            fail(str(ex))
        blocks.append(Block(e, stored_len, raw_len, bcrc_stored, records, sizes, bytes(payload)))
    return Segment(header, blocks, footer)


def check_block_cuts(seg: Segment, block_bytes: int) -> List[str]:
    """Checks the documented writer rule: a block is cut as soon as its raw payload reaches
    block_bytes; a record that alone reaches block_bytes gets a block of its own."""
    problems = []
    for i, b in enumerate(seg.blocks):
        if len(b.records) > 1 and b.raw_len - b.record_sizes[-1] >= block_bytes:
            problems.append(f"block {i}: payload reached {b.raw_len - b.record_sizes[-1]} >= {block_bytes} "
                            f"before its last record, but the block was not cut")
        if i + 1 < len(seg.blocks) and b.raw_len < block_bytes:
            nxt = seg.blocks[i + 1]
            alone = PAYLOAD_HEADER_SIZE + len(encode_record(nxt.records[0], nxt.records[0].offset,
                                                            nxt.records[0].timestamp))
            if alone < block_bytes:
                problems.append(f"block {i}: cut at {b.raw_len} < {block_bytes} raw bytes although the next "
                                f"record alone ({alone} B) does not reach the block size")
    return problems
