"""A dependency-free TensorBoard scalar writer (TFRecord of `Event` protos, hand-encoded).

TensorBoard reads `events.out.tfevents.*` files: each record is
[uint64 length][uint32 masked crc32c of length][Event bytes][uint32 masked crc32c of bytes].
We only write `Event{wall_time, step, summary{value{tag, simple_value}}}` (and the
file-version header), which avoids a TensorFlow dependency for one feature.
"""

import os
import socket
import struct
import time


def _crc32c_table():
  table = []
  for i in range(256):
    crc = i
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
  out = bytearray()
  while True:
    byte = n & 0x7F
    n >>= 7
    if n:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, summary: bytes = b"", version: str = "") -> bytes:
  out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3) + _varint(step)
  if version:
    out += _field_bytes(3, version.encode())
  if summary:
    out += _field_bytes(5, summary)
  return out


def _scalar_summary(tag: str, value: float) -> bytes:
  value_msg = _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)
  return _field_bytes(1, value_msg)


class EventWriter:
  """`EventWriter(logdir).scalar(tag, value, step)`; flush() / close()."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, "ab")
    self._write(_event(time.time(), 0, version="brain.Event:2"))

  def _write(self, data: bytes):
    header = struct.pack("<Q", len(data))
    self._file.write(header + struct.pack("<I", _masked_crc(header)) + data +
                     struct.pack("<I", _masked_crc(data)))

  def scalar(self, tag: str, value: float, step: int):
    self._write(_event(time.time(), int(step), _scalar_summary(tag, float(value))))

  def flush(self):
    self._file.flush()

  def close(self):
    self._file.close()
