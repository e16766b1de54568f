#!/usr/bin/env python3
"""Copy chosen tensors of a GGUF file, byte for byte, into a smaller GGUF.

Used once to cut llama.cpp's Q4_0 quantization of stories15M down to a few
tensors that the tests compare with Lumen's own quantization (see README.md).
Standard library only. Key-value pairs are copied verbatim, except the
tokenizer's (large, and not needed to compare weights).

usage: subset_gguf.py IN.gguf OUT.gguf TENSOR_NAME...
"""
import struct
import sys

SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        out = self.data[self.pos:self.pos + n]
        if len(out) != n:
            raise ValueError("file ends inside a record")
        self.pos += n
        return out

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u64()).decode("utf-8")

    def skip_value(self, vtype):
        if vtype == STRING:
            self.take(self.u64())
        elif vtype == ARRAY:
            etype, count = self.u32(), self.u64()
            for _ in range(count):
                self.skip_value(etype)
        else:
            self.take(SCALAR_SIZES[vtype])


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, dst, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
    data = open(src, "rb").read()
    r = Reader(data)
    if r.take(4) != b"GGUF":
        sys.exit(f"{src}: not a GGUF file")
    version, n_tensors, n_kv = r.u32(), r.u64(), r.u64()
    kvs, alignment = [], 32
    for _ in range(n_kv):
        start = r.pos
        key = r.string()
        vtype = r.u32()
        value_start = r.pos
        r.skip_value(vtype)
        if key == "general.alignment":
            alignment = struct.unpack("<I", data[value_start:value_start + 4])[0]
        if not key.startswith("tokenizer."):
            kvs.append(data[start:r.pos])
    infos = {}
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.u32()
        dims = [r.u64() for _ in range(n_dims)]
        ttype, offset = r.u32(), r.u64()
        infos[name] = (dims, ttype, offset)
    data_start = (r.pos + alignment - 1) // alignment * alignment
    offsets = sorted(o for _, _, o in infos.values()) + [len(data) - data_start]
    missing = [n for n in wanted if n not in infos]
    if missing:
        sys.exit(f"{src}: no tensor named {', '.join(missing)}")

    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(wanted), len(kvs)))
    for kv in kvs:
        out += kv
    blobs, offset = [], 0
    for name in wanted:
        dims, ttype, src_offset = infos[name]
        size = offsets[offsets.index(src_offset) + 1] - src_offset  # includes the source's padding
        blob = data[data_start + src_offset:data_start + src_offset + size]
        encoded = name.encode("utf-8")
        out += struct.pack("<Q", len(encoded)) + encoded + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ttype, offset)
        blobs.append(blob)
        offset += (len(blob) + alignment - 1) // alignment * alignment
    out += b"\0" * ((-len(out)) % alignment)
    for blob in blobs:
        out += blob + b"\0" * ((-len(blob)) % alignment)
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
