import struct

from graco_jax.training import tensorboard


def test_crc32c_known_value():
  assert tensorboard.crc32c(b"123456789") == 0xE3069283


def test_records_are_framed_and_hold_the_scalar(tmp_path):
  writer = tensorboard.EventWriter(str(tmp_path))
  writer.scalar("train/loss", 0.25, 7)
  writer.close()
  data = open(writer.path, "rb").read()
  records = []
  while data:
    (length,) = struct.unpack("<Q", data[:8])
    assert struct.unpack("<I", data[8:12])[0] == tensorboard._masked_crc(data[:8])
    body = data[12:12 + length]
    assert struct.unpack("<I", data[12 + length:16 + length])[0] == tensorboard._masked_crc(body)
    records.append(body)
    data = data[16 + length:]
  assert len(records) == 2 and b"brain.Event:2" in records[0]
  assert b"train/loss" in records[1] and struct.pack("<f", 0.25) in records[1]
  assert b"\x10\x07" in records[1]  # step 7
