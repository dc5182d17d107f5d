"""The frame rectangles of a GIF, read from its blocks without decoding anything (stdlib only).

Pillow learns a frame's rectangle only as it seeks to it, and the seek itself already allocates for it: it grows
the canvas to hold a frame past the logical screen and fills the frame's disposal area. So the budget must know
every rectangle before the first seek; walking the blocks reads a few bytes per frame.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator


def frame_rects(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of each frame in file order; stops quietly where the file is cut or malformed."""
    if len(data) < 13 or data[:3] != b"GIF":
        return
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # past the header and the global colour table
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:  # trailer
            return
        if block == 0x21:  # extension: label, then sub-blocks up to a zero length
            pos = _past_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor
            if pos + 10 > len(data):
                return
            x, y, w, h, frame_flags = struct.unpack_from("<HHHHB", data, pos + 1)
            yield x, y, x + w, y + h
            pos += 10 + (3 << ((frame_flags & 7) + 1) if frame_flags & 0x80 else 0)
            pos = _past_sub_blocks(data, pos + 1)  # past the LZW minimum code size, then the image data
        else:
            return


def _past_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos]:
        pos += data[pos] + 1
    return pos + 1
