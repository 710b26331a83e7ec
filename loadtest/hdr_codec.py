"""hdrh's histogram encoding (V2 payload, zlib, base64), without a new type per call.

hdrh's `encode()` makes its buffer as `(c_byte * n)()`, with n following the
histogram's highest value: nearly every call makes a new ctypes array type, and a type
is a reference cycle (its dict, its mro) that only the cyclic collector frees. Under
the run's frozen collector (loadtest.loop) those types, ~1.8 KB each, one per interval
histogram, piled up until the ten-minute full collection: the client's RSS grew by
about 16 MB every ten minutes at 500 req/s over three targets. Here one buffer, as
big as any histogram of the range can need, is made once and reused, and hdrh's own
C varint encoder fills it; the bytes are encode()'s (tests/test_recorder.py compares).
"""

from __future__ import annotations

import base64
import ctypes
import zlib

from hdrh.codec import (
    V2_MAX_WORD_SIZE_IN_BYTES,
    ExternalHeader,
    ext_header_size,
    get_compression_cookie,
    payload_header_size,
)
from hdrh.histogram import HdrHistogram
from pyhdrh import encode as _encode_varints


class Encoder:
    """Encodes histograms of COUNTS_LEN counters (one range) into one reused buffer."""

    def __init__(self, counts_len: int) -> None:
        self.counts_len = counts_len
        size = payload_header_size + counts_len * (V2_MAX_WORD_SIZE_IN_BYTES + 1)
        self._buf = ctypes.create_string_buffer(size)
        self._header = ExternalHeader()
        self._header.cookie = get_compression_cookie()

    def encode(self, h: HdrHistogram) -> bytes:
        """What `h.encode()` returns (H's counts_len must be this encoder's)."""
        if h.counts_len != self.counts_len:
            raise ValueError(f"a histogram of {h.counts_len} counters, not {self.counts_len}")
        payload = h.encoder.payload
        limit = h.get_counts_array_index(h.max_value) + 1 if h.total_count else 0
        start = ctypes.addressof(self._buf)
        n = _encode_varints(
            ctypes.addressof(payload.counts),
            limit,
            payload.word_size,
            start + payload_header_size,
            limit * (payload.word_size + 1),
        )
        payload.payload.payload_len = n
        ctypes.memmove(start, ctypes.addressof(payload.payload), payload_header_size)
        compressed = zlib.compress(ctypes.string_at(start, payload_header_size + n))
        self._header.length = len(compressed)
        head = ctypes.string_at(ctypes.addressof(self._header), ext_header_size)
        return base64.b64encode(head + compressed)
