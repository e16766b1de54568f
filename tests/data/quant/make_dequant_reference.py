#!/usr/bin/env python3
"""Writes the dequantization references of test_dequantize_types: for each GGUF type
below, seeded random blocks and the floats gguf-py's `gguf.quants.dequantize` makes of
them, plus one GGUF file (written by gguf-py's GGUFWriter) holding a tensor of each type.

    PYTHONPATH=PATH/TO/llama.cpp/gguf-py python3 tests/data/quant/make_dequant_reference.py

Every block is random bytes except its f16 scale fields, which hold finite values
(mostly moderate, a few blocks zero, negative zero, subnormal or the largest half), so
that every result is finite. For the grid types the grid indices of the first blocks
sweep the whole grid, so a wrong byte anywhere in a grid changes some expected value.

<type>.bin: the 24-byte header "LQDR", then u32 version (1), ggml type, block
elements, block bytes and block count; the raw blocks; then the expected float32
values, all little-endian.
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants
from gguf.constants import GGML_QUANT_SIZES

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
SEED = 19
N_ELEMENTS = 32768  # per type: 128 super-blocks of 256, or 1024 blocks of 32
GGUF_NAME = "gguf_types.gguf"

# Where each type keeps its f16 scales (byte offsets in the block); IQ1_M spreads its
# one f16 over the top nibbles of four u16 and is handled apart.
HALF_OFFSETS = {
    T.Q2_K: [80, 82], T.Q3_K: [108], T.IQ4_NL: [0], T.IQ4_XS: [0], T.IQ3_XXS: [0],
    T.IQ3_S: [0], T.IQ2_XXS: [0], T.IQ2_XS: [0], T.IQ2_S: [0], T.IQ1_S: [0], T.IQ1_M: [],
    T.TQ1_0: [52], T.TQ2_0: [64],
}


# --------------------------------------------------------------- grid index writers
# Each sets grid index `k` (its position in the block) of block `b` to `v`.

def set_iq2_xxs(b, k, v):
    b[2 + 8 * (k // 4) + k % 4] = v


def set_iq2_xs(b, k, v):
    q = int.from_bytes(b[2 + 2 * k:4 + 2 * k], "little")
    b[2 + 2 * k:4 + 2 * k] = ((q & ~511) | v).to_bytes(2, "little")


def set_iq2_s(b, k, v):
    b[2 + k] = v & 0xFF
    shift = 2 * (k % 4)
    qh = 2 + 64 + k // 4
    b[qh] = (b[qh] & ~(3 << shift)) | (v >> 8) << shift


def set_iq3_xxs(b, k, v):
    b[2 + k] = v


def set_iq3_s(b, k, v):
    b[2 + k] = v & 0xFF
    qh = 2 + 64 + k // 8
    b[qh] = (b[qh] & ~(1 << (k % 8))) | (v >> 8) << (k % 8)


def set_iq1_s(b, k, v):
    b[2 + k] = v & 0xFF
    at = 2 + 32 + 2 * (k // 4)
    h = int.from_bytes(b[at:at + 2], "little")
    shift = 3 * (k % 4)
    h = (h & ~(7 << shift)) | (v >> 8) << shift
    b[at:at + 2] = h.to_bytes(2, "little")


def set_iq1_m(b, k, v):
    b[k] = v & 0xFF
    qh = 32 + k // 2
    shift = 4 * (k % 2)
    b[qh] = (b[qh] & ~(7 << shift)) | (v >> 8) << shift


# type: (grid entries, indices per block, writer)
GRIDS = {
    T.IQ2_XXS: (256, 32, set_iq2_xxs), T.IQ2_XS: (512, 32, set_iq2_xs), T.IQ2_S: (1024, 32, set_iq2_s),
    T.IQ3_XXS: (256, 64, set_iq3_xxs), T.IQ3_S: (512, 64, set_iq3_s),
    T.IQ1_S: (2048, 32, set_iq1_s), T.IQ1_M: (2048, 32, set_iq1_m),
}

# --------------------------------------------------------------- scales

SPECIAL_HALVES = [0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF, 0xFBFF]  # 0, -0, subnormals, +-65504


def moderate_half(rng) -> int:
    value = np.float16(rng.choice([-1.0, 1.0]) * 2.0 ** rng.uniform(-10, 4))
    return int(value.view(np.uint16))


def set_half(b, at, h):
    b[at:at + 2] = h.to_bytes(2, "little")


def set_iq1_m_half(b, h):
    for k in range(4):
        at = 48 + 2 * k
        s = int.from_bytes(b[at:at + 2], "little")
        s = (s & 0x0FFF) | ((h >> (4 * k)) & 0xF) << 12
        b[at:at + 2] = s.to_bytes(2, "little")


def make_blocks(qtype, rng) -> np.ndarray:
    block_elements, block_bytes = GGML_QUANT_SIZES[qtype]
    n_blocks = N_ELEMENTS // block_elements
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    blocks = [bytearray(row.tobytes()) for row in raw]
    sweep_blocks = 0
    if qtype in GRIDS:
        entries, per_block, set_index = GRIDS[qtype]
        sweep_blocks = -(-entries // per_block)
        for i in range(entries):
            set_index(blocks[i // per_block], i % per_block, i)
    for i, b in enumerate(blocks):
        special = i - sweep_blocks
        h = SPECIAL_HALVES[special] if 0 <= special < len(SPECIAL_HALVES) else moderate_half(rng)
        if qtype == T.IQ1_M:
            set_iq1_m_half(b, h)
        for at in HALF_OFFSETS[qtype]:
            set_half(b, at, h if at == HALF_OFFSETS[qtype][0] else moderate_half(rng))
    return np.frombuffer(b"".join(blocks), dtype=np.uint8).reshape(n_blocks, block_bytes)


def check_every_grid_entry_matters(qtype, blocks, expected) -> None:
    """Changes each grid entry in gguf-py's own copy and requires the result to change."""
    if qtype not in GRIDS:
        return
    entries, per_block, _ = GRIDS[qtype]
    sweep = blocks[:-(-entries // per_block)]
    grid = quants._type_traits[qtype].grid
    for e in range(entries):
        saved = grid[..., e, :].copy()
        grid[..., e, :] += 1
        changed = not np.array_equal(quants.dequantize(sweep, qtype), expected[:len(sweep)])
        grid[..., e, :] = saved
        assert changed, f"{qtype.name}: grid entry {e} is not used by the reference blocks"


def main() -> None:
    rng = np.random.default_rng(SEED)
    writer = GGUFWriter(os.path.join(OUT_DIR, GGUF_NAME), arch="lumen-dequant-test")
    for qtype in HALF_OFFSETS:
        block_elements, block_bytes = GGML_QUANT_SIZES[qtype]
        blocks = make_blocks(qtype, rng)
        expected = quants.dequantize(blocks, qtype).astype("<f4")
        assert expected.shape == (blocks.shape[0], block_elements)
        assert np.isfinite(expected).all(), qtype.name
        check_every_grid_entry_matters(qtype, blocks, expected)
        header = b"LQDR" + struct.pack("<5I", 1, int(qtype), block_elements, block_bytes, blocks.shape[0])
        with open(os.path.join(OUT_DIR, qtype.name.lower() + ".bin"), "wb") as f:
            f.write(header + blocks.tobytes() + expected.tobytes())
        # Two rows of two blocks each: the first four blocks of the reference.
        writer.add_tensor(qtype.name.lower(), blocks[:4].reshape(2, 2 * block_bytes), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    sys.exit(main())
