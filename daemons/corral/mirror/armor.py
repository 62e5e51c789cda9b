"""Whether an ASCII-armored detached signature holds exactly one signature packet.

The keyring checks all of a document's signatures in one gpg run and maps gpg's
reports back to the envelope's entries in order (one report per signature packet).
That mapping is sound only if every entry is exactly one signature packet: an entry
holding two signatures, or none (gpg skips an empty block, or one of marker packets,
in silence), would shift every report after it. This file decides, without gpg,
which entries may take part in such a run; any other entry is checked on its own.

Only the strict form gpg writes is recognised (BEGIN line, optional headers, blank
line, base64, optional `=CRC`, END line): anything else is simply not batched, never
rejected here. The CRC is left to gpg, which refuses a block whose CRC is wrong.
"""

from __future__ import annotations

import binascii
import re

_BLOCK = re.compile(
    r"\A\s*-----BEGIN PGP SIGNATURE-----\r?\n"
    r"(?:[A-Za-z][A-Za-z0-9-]*: [^\r\n]*\r?\n)*"  # armor headers (Version:, Comment:...)
    r"\r?\n"
    r"(?P<body>(?:[A-Za-z0-9+/=]+\r?\n)+?)"
    r"(?:=[A-Za-z0-9+/]{4}\r?\n)?"
    r"-----END PGP SIGNATURE-----\s*\Z"
)
_SIGNATURE_TAG = 2


def _packet(data: bytes) -> tuple[int, int] | None:
    """(tag, total length with header) of the packet at the start of `data`, if definite."""
    if not data or not data[0] & 0x80:
        return None
    first = data[0]
    if first & 0x40:  # new format: tag in 6 bits, length in 1, 2 or 5 octets
        tag = first & 0x3F
        if len(data) < 2:
            return None
        o1 = data[1]
        if o1 < 192:
            return tag, 2 + o1
        if o1 < 224:
            if len(data) < 3:
                return None
            return tag, 3 + ((o1 - 192) << 8) + data[2] + 192
        if o1 == 255 and len(data) >= 6:
            return tag, 6 + int.from_bytes(data[2:6], "big")
        return None  # partial body lengths: never used for a signature packet
    tag, kind = (first >> 2) & 0x0F, first & 0x03  # old format
    if kind == 3:
        return None  # indeterminate length
    width = 1 << kind
    if len(data) < 1 + width:
        return None
    return tag, 1 + width + int.from_bytes(data[1 : 1 + width], "big")


def is_single_signature(armor: str) -> bool:
    """True if `armor` is one armored block holding one signature packet and nothing else."""
    match = _BLOCK.match(armor)
    if match is None:
        return False
    try:
        data = binascii.a2b_base64("".join(match.group("body").split()), strict_mode=True)
    except binascii.Error:
        return False
    packet = _packet(data)
    return packet is not None and packet == (_SIGNATURE_TAG, len(data))
