"""The AGG proposal store: JSON lines with COCO RLE masks, one chunk file per host and batch.

Layout of a store directory:

  meta.json                         what generated the store (source name and size, AGG config)
  chunk-h0000-b000012-0.jsonl       one file per (host, batch), written atomically

Each chunk file is JSON lines. Its first line is the chunk header
  {"type": "chunk", "host": 0, "batch": 12, "done": [source indices finished in this chunk]}
and every other line one proposal:
  {"type": "proposal", "index": 37, "rank": 0, "source_index": 12, "image_id": "2008_000123",
   "object_id": 2,
   "image_path": null | "/data/img.jpg", "height": H, "width": W,
   "rle": {"size": [H, W], "counts": "..."},            (pycocotools, column-major)
   "area": int, "object_area": int,
   "scale_granularity": raw area ratio (Eq. 4),
   "semantic_granularity": raw peak-difference ratio (Eq. 5),
   "granularity": combined value on the 0.1 bins (Eq. 6)}
`index` is the instance index of the generation run (per-instance sources: the record index;
per-image sources with an 'instances' label map: the position in instances.json), `source_index`
the record index in the image source the store was generated from (meta.json names it) and
`object_id` the object in that record; `rank` is 0 for the loop proposal and 1 for its
complement. An empty proposal is not stored: the official generator keeps an empty loop
proposal with granularity [0, 0], which its loader never samples (probability 0), so dropping
it changes no training draw. An instance is done once its index is in some chunk's `done`
list, even when it yielded no proposal, so a resumed run skips it. Since the header and the proposals of a chunk land in one atomic rename, a crash never
leaves an instance half written. Never pickles.
"""

import json

import numpy as np
from pycocotools import mask as mask_utils

from graco_jax import io
from graco_jax.errors import InputError, MissingInputError

FORMAT = "graco-jax/agg-proposals"
VERSION = 1
META_FILE = "meta.json"
PROPOSAL_FIELDS = (
    "index", "rank", "source_index", "image_id", "object_id", "image_path", "height", "width",
    "rle", "area", "object_area", "scale_granularity", "semantic_granularity", "granularity")


def encode_mask(mask) -> dict:
  """bool/0-1 [H, W] -> COCO RLE {'size': [H, W], 'counts': str} (JSON-ready)."""
  mask = np.asarray(mask)
  if mask.ndim != 2:
    raise ValueError(f"mask must be [H, W], got shape {mask.shape}")
  rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
  return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_mask(rle: dict) -> np.ndarray:
  """COCO RLE (as `encode_mask` writes it) -> bool [H, W]."""
  return mask_utils.decode({"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")
                            }).astype(bool)


def make_proposal(*, index, rank, source_index, image_id, object_id, image_path, mask,
                  object_area, scale_granularity, semantic_granularity, granularity) -> dict:
  """One proposal line; `mask` is bool [H, W] at the source image's resolution."""
  mask = np.asarray(mask, bool)
  return {
      "type": "proposal", "index": int(index), "rank": int(rank),
      "source_index": int(source_index), "image_id": str(image_id),
      "object_id": int(object_id), "image_path": None if image_path is None else str(image_path),
      "height": int(mask.shape[0]), "width": int(mask.shape[1]), "rle": encode_mask(mask),
      "area": int(mask.sum()), "object_area": int(object_area),
      "scale_granularity": float(scale_granularity),
      "semantic_granularity": float(semantic_granularity), "granularity": float(granularity)}


def write_meta(store_dir: str, meta: dict) -> None:
  """Writes meta.json, or checks that an existing one matches (a resumed run)."""
  io.makedirs(store_dir)
  meta = {"format": FORMAT, "version": VERSION, **meta}
  path = io.join(store_dir, META_FILE)
  if io.exists(path):
    existing = read_meta(store_dir)
    # Round-trip through JSON so tuples and lists compare equal.
    if existing != json.loads(json.dumps(meta)):
      raise InputError(
          f"store {store_dir} was generated with different settings ({path}); resume with the "
          f"same source and config or write to a new directory.\nexisting: {existing}\nnew: {meta}")
    return
  io.atomic_write_bytes(path, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_meta(store_dir: str) -> dict:
  path = io.join(store_dir, META_FILE)
  if not io.exists(path):
    raise MissingInputError(f"{store_dir} is not a proposal store: {path} does not exist")
  try:
    meta = json.loads(io.read_text(path))
  except json.JSONDecodeError as e:
    raise InputError(f"proposal store metadata {path} is not valid JSON: {e}") from None
  if meta.get("format") != FORMAT or meta.get("version") != VERSION:
    raise InputError(f"{path} is not a {FORMAT} v{VERSION} store (format={meta.get('format')}, "
                     f"version={meta.get('version')})")
  return meta


def chunk_files(store_dir: str) -> list:
  return io.glob(store_dir, "chunk-h*-b*.jsonl")


def write_chunk(store_dir: str, host: int, batch: int, done, proposals) -> str:
  """Atomically writes one chunk: the instances `done` [indices] and their proposal lines."""
  lines = [json.dumps({"type": "chunk", "host": int(host), "batch": int(batch),
                       "done": [int(i) for i in done]})]
  lines += [json.dumps(p, sort_keys=True) for p in proposals]
  # A resumed run may finish a batch this host started: a new file, never an overwrite.
  n = 0
  while io.exists(path := io.join(store_dir,
                                            f"chunk-h{host:04d}-b{batch:06d}-{n}.jsonl")):
    n += 1
  io.atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
  return path


def _read_chunk(path: str):
  lines = [line for line in io.read_text(path).splitlines() if line.strip()]
  try:
    records = [json.loads(line) for line in lines]
  except json.JSONDecodeError as e:
    raise InputError(f"proposal chunk {path} has a line that is not JSON: {e}") from None
  if not records or records[0].get("type") != "chunk":
    raise InputError(f"proposal chunk {path} does not start with a chunk header")
  proposals = records[1:]
  for p in proposals:
    missing = [k for k in PROPOSAL_FIELDS if k not in p]
    if p.get("type") != "proposal" or missing:
      raise InputError(f"proposal chunk {path} has a malformed proposal line (missing {missing})")
  return records[0]["done"], proposals


def read_done(store_dir: str) -> set:
  """Source indices already processed (with or without proposals)."""
  done = set()
  for path in chunk_files(store_dir):
    done.update(_read_chunk(path)[0])
  return done


def read_proposals(store_dir: str) -> list:
  """All proposal dicts sorted by (index, rank), whatever host or batch wrote them."""
  proposals, seen = [], {}
  for path in chunk_files(store_dir):
    for p in _read_chunk(path)[1]:
      key = (p["index"], p["rank"])
      if key in seen:
        raise InputError(f"proposal (index {key[0]}, rank {key[1]}) is in both {seen[key]} "
                         f"and {path}")
      seen[key] = path
      proposals.append(p)
  proposals.sort(key=lambda p: (p["index"], p["rank"]))
  return proposals
