"""Where each tensor lies in a safetensors file, read from its header without loading the data."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SafetensorsEntry:
    """Where one tensor lies in a safetensors file."""

    dtype: str
    shape: tuple[int, ...]
    offset: int  # from the start of the file
    length: int


def read_safetensors_index(path: Path) -> dict[str, SafetensorsEntry]:
    """The tensors of a safetensors file: an 8-byte little-endian header length, a JSON header, the data."""
    with open(path, "rb") as file:
        (header_length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_length))
    base = 8 + header_length
    return {
        name: SafetensorsEntry(
            info["dtype"],
            tuple(info["shape"]),
            base + info["data_offsets"][0],
            info["data_offsets"][1] - info["data_offsets"][0],
        )
        for name, info in header.items()
        if name != "__metadata__"
    }
