"""Tiny but real images made in code: a PNG (zlib and struct) and a baseline JPEG of one 8x8 block.

Object storage and the services check uploads by their magic bytes, so the demo sends files that
image viewers open, not placeholders.
"""

import struct
import zlib


def png(width: int = 32, height: int = 24, seed: int = 0) -> bytes:
    """Return an RGB PNG with a gradient that depends on ``seed``, so photos differ."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(((x * 8 + seed * 37) % 256, (y * 10 + seed * 11) % 256, (x * y + seed * 53) % 256))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")


def jpeg_grey() -> bytes:
    """Return a baseline JPEG of one 8x8 mid-grey block.

    Mid-grey (128) level-shifts to zero, so the only coefficient is a DC difference of 0 followed by
    end-of-block; both Huffman tables therefore hold a single one-bit code, "0".
    """
    soi = b"\xff\xd8"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes((1, 1, 0, 0, 1, 0, 1, 0, 0))
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 8, 8, 1) + bytes((1, 0x11, 0))
    one_code = bytes([1] + [0] * 15)  # one code of length 1
    dht_dc = b"\xff\xc4" + struct.pack(">H", 2 + 1 + 16 + 1) + b"\x00" + one_code + b"\x00"  # category 0
    dht_ac = b"\xff\xc4" + struct.pack(">H", 2 + 1 + 16 + 1) + b"\x10" + one_code + b"\x00"  # EOB
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + bytes((1, 0x00, 0, 63, 0))
    scan = bytes((0b00111111,))  # DC "0", EOB "0", padded with ones
    eoi = b"\xff\xd9"
    return soi + app0 + dqt + sof0 + dht_dc + dht_ac + sos + scan + eoi
