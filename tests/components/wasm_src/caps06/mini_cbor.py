"""A small CBOR codec (RFC 8949 subset: ints, bytes, text, arrays, maps, bools, null, floats).

The guest cannot use cbor2's C extension, and a test component should not depend on the host's
libraries anyway; this is enough for JSON-shaped payloads.
"""

import struct


def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | info]) + struct.pack(fmt, n)
    raise ValueError("integer too large")


def dumps(value):
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(dumps(v) for v in value)
    if isinstance(value, dict):
        return _head(5, len(value)) + b"".join(dumps(k) + dumps(v) for k, v in value.items())
    raise TypeError(f"cannot encode {type(value).__name__}")


def loads(data):
    value, end = _item(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after CBOR item")
    return value


def _item(data, pos):
    initial = data[pos]
    major, info = initial >> 5, initial & 31
    pos += 1
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info in (22, 23):
            return None, pos
        if info == 25:
            return struct.unpack(">e", data[pos : pos + 2])[0], pos + 2
        if info == 26:
            return struct.unpack(">f", data[pos : pos + 4])[0], pos + 4
        if info == 27:
            return struct.unpack(">d", data[pos : pos + 8])[0], pos + 8
        raise ValueError(f"unsupported simple value {info}")
    if info < 24:
        n = info
    elif info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        n = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    else:
        raise ValueError("indefinite lengths are not supported")
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        raw = bytes(data[pos : pos + n])
        if len(raw) != n:
            raise ValueError("truncated string")
        return (raw if major == 2 else raw.decode()), pos + n
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = _item(data, pos)
            items.append(item)
        return items, pos
    if major == 5:
        out = {}
        for _ in range(n):
            key, pos = _item(data, pos)
            out[key], pos = _item(data, pos)
        return out, pos
    if major == 6:
        return _item(data, pos)  # tags: keep the tagged value
    raise ValueError(f"unsupported major type {major}")
