"""Build DisplayP3.icc: an ICC v2 matrix/TRC monitor profile from Display P3's published definition.

Display P3 (Apple; SMPTE EG 432-1 primaries with the D65 white and the sRGB transfer function):
red (0.680, 0.320), green (0.265, 0.690), blue (0.150, 0.060), white D65 (0.3127, 0.3290). The RGB-to-XYZ matrix
is computed from these, adapted to the ICC's D50 connection space with Bradford, and the curve is sRGB's, as a
1024-entry table. No free package here ships a Display P3 profile, so it is built; the test then checks the
pipeline's output against the published RGB-to-XYZ matrix of Display P3, not against this script's arithmetic.

    python tests/data/profiles/make_display_p3.py    (writes DisplayP3.icc beside this file; deterministic)
"""

from __future__ import annotations

import struct
from pathlib import Path

Matrix = list[list[float]]
PRIMARIES = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]
D65 = (0.3127, 0.3290)
D50_XYZ = (0.9642, 1.0, 0.8249)  # the ICC connection space's illuminant
BRADFORD: Matrix = [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]


def xyz(x: float, y: float) -> list[float]:
    """The XYZ of a chromaticity at Y = 1."""
    return [x / y, 1.0, (1 - x - y) / y]


def mul(a: Matrix, b: Matrix) -> Matrix:
    """Matrix product."""
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def inverse(m: Matrix) -> Matrix:
    """The inverse of a 3x3 matrix (by cofactors)."""
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    cof = [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    return [[v / det for v in row] for row in cof]


def rgb_to_xyz_d50() -> Matrix:
    """Display P3's RGB-to-XYZ matrix for D65, Bradford-adapted to D50."""
    cols = [xyz(*p) for p in PRIMARIES]
    m = [[cols[j][i] for j in range(3)] for i in range(3)]
    white = xyz(*D65)
    s = [sum(inverse(m)[i][k] * white[k] for k in range(3)) for i in range(3)]
    m_d65 = [[m[i][j] * s[j] for j in range(3)] for i in range(3)]
    src = [sum(BRADFORD[i][k] * white[k] for k in range(3)) for i in range(3)]
    dst = [sum(BRADFORD[i][k] * D50_XYZ[k] for k in range(3)) for i in range(3)]
    scale = [[dst[i] / src[i] if i == j else 0.0 for j in range(3)] for i in range(3)]
    adapt = mul(inverse(BRADFORD), mul(scale, BRADFORD))
    return mul(adapt, m_d65)


def s15(v: float) -> bytes:
    """An s15Fixed16Number."""
    return struct.pack(">i", round(v * 65536))


def xyz_tag(v: list[float] | tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)


def curve_tag() -> bytes:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else float(((c + 0.055) / 1.055) ** 2.4)

    table = [round(65535 * linear(i / 1023)) for i in range(1024)]
    return b"curv\0\0\0\0" + struct.pack(">I", len(table)) + struct.pack(f">{len(table)}H", *table)


def text_tag(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    # textDescriptionType: ASCII, then empty Unicode and ScriptCode parts (the last with its 67-byte field)
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 8 + b"\0\0\0" + b"\0" * 67


def build() -> bytes:
    """The profile's bytes."""
    m = rgb_to_xyz_d50()
    curve = curve_tag()
    tags = [
        (b"desc", desc_tag("Display P3 (imgpipe test profile)")),
        (b"cprt", text_tag("No copyright: built from published definitions (CC0)")),
        (b"wtpt", xyz_tag(D50_XYZ)),
        (b"rXYZ", xyz_tag([m[0][0], m[1][0], m[2][0]])),
        (b"gXYZ", xyz_tag([m[0][1], m[1][1], m[2][1]])),
        (b"bXYZ", xyz_tag([m[0][2], m[1][2], m[2][2]])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)  # every tag starts on a 4-byte boundary
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"  # preferred CMM: none
        + bytes([2, 0x10, 0, 0])  # version 2.1
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 12, 2, 0, 0, 0)  # fixed, so the file is reproducible
        + b"acsp"
        + b"\0" * 24  # platform, flags, manufacturer, model, attributes
        + struct.pack(">I", 0)  # perceptual intent
        + b"".join(s15(c) for c in D50_XYZ)
        + b"\0" * 4  # creator
        + b"\0" * 44  # profile ID (v2: reserved) and reserved bytes
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


if __name__ == "__main__":
    out = Path(__file__).with_name("DisplayP3.icc")
    out.write_bytes(build())
    print(out)
