"""A part-structured synthetic world: the dataset that needs no download.

Every image holds one to three objects on a cluttered, textured background. Each object is a
hierarchy: object (level 0) -> parts (level 1) -> sub-parts (level 2), built from three
templates (critter, plant, vehicle) with thin parts (legs, tail, stem, antenna), detached parts
(leaves, antenna beacon), sub-parts that differ from their part in colour, texture and shading,
and objects that occlude one another. A click inside a part is genuinely ambiguous: the part,
its sub-part and the whole object are all valid answers, which granularity resolves.

Everything is a deterministic function of (seed, split, index); a 128x128 scene takes a few
milliseconds in numpy.

Ground truth granularity of a node (documented rule, `node_granularity`): the mean of its scale
granularity (visible area / visible area of its object, paper Eq. 4) and a level value standing
in for semantic granularity (1.0 object, 0.5 part, 0.25 sub-part). Objects get exactly 1.0,
parts fall in (0.25, 0.75], sub-parts in (0.125, 0.625].

Sources (grain `RandomAccessDataSource`s):
  SyntheticScenes(split, num_images, ...)[i] -> `Scene` (image and every visible node mask).
  SyntheticSource(level, split, num_images, ...)[i] -> dataset record of one instance at
    `level` in {'object', 'part', 'subpart', 'all'}, the record of `graco_jax.data.sources`.
"""

import colorsys
import dataclasses
import functools

import grain.python as grain
import numpy as np

from graco_jax.errors import InputError

LEVELS = ("object", "part", "subpart")
LEVEL_VALUE = (1.0, 0.5, 0.25)  # the semantic stand-in of `node_granularity`
SPLITS = {"train": 0, "val": 1, "test": 2}
TEMPLATES = ("critter", "plant", "vehicle")
TEXTURES = ("flat", "stripes", "checker", "dots", "noise")


def node_granularity(level: int, area: int, object_area: int) -> float:
  """True granularity: (area ratio to the object + level value) / 2, in (0, 1]."""
  return 0.5 * (area / max(object_area, 1)) + 0.5 * LEVEL_VALUE[level]


@dataclasses.dataclass(frozen=True)
class Node:
  """One node of an image's hierarchy. `parent` is a node id, -1 for objects."""
  node_id: int
  object_id: int
  level: int  # 0 object, 1 part, 2 sub-part
  parent: int
  name: str
  area: int  # visible pixels
  granularity: float


@dataclasses.dataclass(frozen=True)
class Scene:
  """Full ground truth of one image.

  image uint8 [H, W, 3] (None from `generate_scene(..., with_image=False)`); masks bool
  [N, H, W] (visible mask of node n, after occlusion);
  nodes: N `Node`s, objects first (node id = object id for objects).
  Every level partitions its parent: the parts of an object tile the object's visible mask,
  the sub-parts of a part tile the part. Parts without sub-structure have no level-2 node.
  """
  image_id: str
  image: np.ndarray
  masks: np.ndarray
  nodes: tuple

  def level_nodes(self, level: int) -> list:
    return [n for n in self.nodes if n.level == level]

  def instance_map(self) -> np.ndarray:
    """int32 [H, W]: 0 background, k + 1 on object k."""
    out = np.zeros(self.masks.shape[1:], np.int32)
    for n in self.level_nodes(0):
      out[self.masks[n.node_id]] = n.object_id + 1
    return out

  def label_map(self, level: int) -> np.ndarray:
    """int32 [H, W]: node id + 1 of the finest node at or above `level`, 0 background."""
    out = np.zeros(self.masks.shape[1:], np.int32)
    for lv in range(level + 1):
      for n in self.level_nodes(lv):
        out[self.masks[n.node_id]] = n.node_id + 1
    return out


# ---------------------------------------------------------------------------------------------
# Geometry: shapes as boolean masks over the pixel grid (pixel centres at integer coordinates).


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0):
  c, s = np.cos(angle), np.sin(angle)
  u = (xx - cx) * c + (yy - cy) * s
  v = -(xx - cx) * s + (yy - cy) * c
  return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def _box(yy, xx, cy, cx, hy, hx, angle=0.0):
  c, s = np.cos(angle), np.sin(angle)
  u = (xx - cx) * c + (yy - cy) * s
  v = -(xx - cx) * s + (yy - cy) * c
  return (np.abs(u) <= hx) & (np.abs(v) <= hy)


def _capsule(yy, xx, y0, x0, y1, x1, half_width):
  """Thick segment from (y0, x0) to (y1, x1): the thin parts."""
  dy, dx = y1 - y0, x1 - x0
  t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-6), 0.0, 1.0)
  return (yy - y0 - t * dy) ** 2 + (xx - x0 - t * dx) ** 2 <= half_width**2


# Templates: (part name, [(sub-part name, mask), ...]) in paint order; later leaves cover
# earlier ones inside an object. A part with one leaf has no sub-part level.


def _critter(rng, yy, xx, cy, cx, s):
  facing = rng.choice([-1.0, 1.0])
  rx, ry = rng.uniform(15, 20) * s, rng.uniform(9, 12) * s
  tilt = rng.uniform(-0.25, 0.25)
  legs = []
  n_legs = int(rng.integers(2, 5))
  for k, fx in enumerate(np.linspace(-0.6, 0.6, n_legs)):
    x0 = cx + fx * rx
    length = rng.uniform(10, 14) * s
    legs.append((f"leg_{k}", _capsule(yy, xx, cy + 0.5 * ry, x0, cy + 0.7 * ry + length,
                                      x0 + rng.uniform(-3, 3) * s, rng.uniform(1.4, 2.0) * s)))
  tail_x = cx - facing * 0.9 * rx
  tail = _capsule(yy, xx, cy, tail_x, cy - rng.uniform(8, 14) * s,
                  tail_x - facing * rng.uniform(6, 12) * s, rng.uniform(1.1, 1.6) * s)
  hr = rng.uniform(7, 9.5) * s
  hy, hx = cy - 0.6 * ry, cx + facing * (rx + 0.4 * hr)
  head = [
      ("ear", _ellipse(yy, xx, hy - hr, hx - facing * 0.3 * hr, 0.55 * hr, 0.3 * hr, 0.3 * facing)),
      ("face", _ellipse(yy, xx, hy, hx, hr, hr)),
      ("eye", _ellipse(yy, xx, hy - 0.2 * hr, hx + facing * 0.4 * hr, 0.28 * hr, 0.28 * hr)),
  ]
  body = [
      ("torso", _ellipse(yy, xx, cy, cx, ry, rx, tilt)),
      ("belly", _ellipse(yy, xx, cy + 0.45 * ry, cx, 0.45 * ry, 0.6 * rx, tilt)),
  ]
  return [("tail", [("tail", tail)]), ("legs", legs), ("body", body), ("head", head)]


def _plant(rng, yy, xx, cy, cx, s):
  height = rng.uniform(26, 34) * s
  top, bottom = cy - 0.45 * height, cy + 0.55 * height
  lean = rng.uniform(-6, 6) * s
  stem = _capsule(yy, xx, bottom, cx, top, cx + lean, rng.uniform(1.3, 1.9) * s)
  leaves = []
  for k, side in enumerate((-1.0, 1.0)):
    ly = bottom - rng.uniform(0.25, 0.5) * height
    gap = rng.uniform(2.5, 4.0) * s  # detached from the stem
    lrx = rng.uniform(5, 7) * s
    leaves.append((f"leaf_{k}", _ellipse(yy, xx, ly, cx + side * (gap + lrx) + 0.5 * lean,
                                         rng.uniform(2.2, 3.2) * s, lrx, side * 0.4)))
  n_petals = int(rng.integers(5, 8))
  pr = rng.uniform(8, 11) * s
  by, bx = top, cx + lean
  phase = rng.uniform(0, 2 * np.pi)
  petals = []
  for k in range(n_petals):
    a = phase + 2 * np.pi * k / n_petals
    petals.append((f"petal_{k}", _ellipse(yy, xx, by + 0.6 * pr * np.sin(a),
                                          bx + 0.6 * pr * np.cos(a), 0.28 * pr, 0.55 * pr, a)))
  centre = _ellipse(yy, xx, by, bx, 0.4 * pr, 0.4 * pr)
  return [("stem", [("stem", stem)]), ("leaves", leaves), ("petals", petals),
          ("centre", [("centre", centre)])]


def _vehicle(rng, yy, xx, cy, cx, s):
  hx, hy = rng.uniform(18, 23) * s, rng.uniform(5.5, 7.5) * s
  wr = rng.uniform(4.5, 6) * s
  wheels = [(f"wheel_{k}", _ellipse(yy, xx, cy + hy, cx + f * hx, wr, wr))
            for k, f in enumerate((-0.6, 0.6))]
  chassis = [
      ("hull", _box(yy, xx, cy, cx, hy, hx)),
      ("stripe", _box(yy, xx, cy + 0.2 * hy, cx, rng.uniform(1.0, 1.5) * s, 0.92 * hx)),
  ]
  cw, ch = rng.uniform(0.45, 0.6) * hx, rng.uniform(5, 7) * s
  ccx = cx + rng.uniform(-0.25, 0.25) * hx
  ccy = cy - hy - ch + 1
  cabin = [
      ("cabin", _box(yy, xx, ccy, ccx, ch, cw)),
      ("window_0", _box(yy, xx, ccy - 0.1 * ch, ccx - 0.5 * cw, 0.5 * ch, 0.35 * cw)),
      ("window_1", _box(yy, xx, ccy - 0.1 * ch, ccx + 0.5 * cw, 0.5 * ch, 0.35 * cw)),
  ]
  ax = ccx + rng.choice([-0.7, 0.7]) * cw
  atop = ccy - ch - rng.uniform(8, 12) * s
  br = rng.uniform(2.0, 2.8) * s
  antenna = [
      ("rod", _capsule(yy, xx, ccy - ch, ax, atop, ax, rng.uniform(0.8, 1.2) * s)),
      ("beacon", _ellipse(yy, xx, atop - br - rng.uniform(2, 3.5) * s, ax, br, br)),  # detached
  ]
  return [("antenna", antenna), ("wheels", wheels), ("chassis", chassis), ("cabin", cabin)]


_TEMPLATE_FNS = {"critter": _critter, "plant": _plant, "vehicle": _vehicle}


# ---------------------------------------------------------------------------------------------
# Appearance.


@dataclasses.dataclass(frozen=True)
class _Look:
  colour: tuple  # RGB in [0, 1]
  texture: str
  amplitude: float
  period: float
  angle: float
  phase: float


def _random_look(rng, hsv=None) -> _Look:
  if hsv is None:
    hsv = (rng.uniform(), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.95))
  return _Look(colour=colorsys.hsv_to_rgb(*hsv), texture=str(rng.choice(TEXTURES)),
               amplitude=rng.uniform(0.06, 0.2), period=rng.uniform(3.0, 7.0),
               angle=rng.uniform(0, np.pi), phase=rng.uniform(0, 2 * np.pi))


def _texture(look: _Look, yy, xx, rng) -> np.ndarray:
  """[H, W] modulation in [-1, 1]."""
  c, s = np.cos(look.angle), np.sin(look.angle)
  u = (xx * c + yy * s) * (2 * np.pi / look.period) + look.phase
  v = (-xx * s + yy * c) * (2 * np.pi / look.period)
  if look.texture == "flat":
    return np.zeros_like(xx)
  if look.texture == "stripes":
    return np.sign(np.sin(u))
  if look.texture == "checker":
    return np.sign(np.sin(u) * np.sin(v))
  if look.texture == "dots":
    return np.where(np.cos(u) * np.cos(v) > 0.6, 1.0, -0.3)
  return rng.uniform(-1, 1, xx.shape)


def _paint(canvas, mask, look: _Look, yy, xx, rng, shade=None):
  rgb = np.asarray(look.colour, np.float32)
  tex = _texture(look, yy[mask], xx[mask], rng)
  value = rgb[None, :] * (1.0 + look.amplitude * tex[:, None])
  if shade is not None:
    value = value * shade[mask][:, None]
  canvas[mask] = value


def _part_hsv(rng, base_hsv, used_hues):
  """A part colour near the object's hue family but distinct from its sibling parts."""
  for _ in range(20):
    hue = (base_hsv[0] + rng.uniform(-0.22, 0.22)) % 1.0
    if all(min(abs(hue - h), 1 - abs(hue - h)) > 0.06 for h in used_hues):
      break
  used_hues.append(hue)
  return (hue, np.clip(base_hsv[1] + rng.uniform(-0.25, 0.25), 0.25, 1.0),
          np.clip(base_hsv[2] + rng.uniform(-0.3, 0.3), 0.3, 1.0))


def _subpart_hsv(rng, part_hsv):
  """A sub-part: same hue region as its part, clearly lighter or darker."""
  value = part_hsv[2] + rng.choice([-1, 1]) * rng.uniform(0.25, 0.45)
  if not 0.15 <= value <= 1.0:
    value = part_hsv[2] - np.sign(value - part_hsv[2]) * rng.uniform(0.25, 0.45)
  return ((part_hsv[0] + rng.uniform(-0.08, 0.08)) % 1.0,
          np.clip(part_hsv[1] + rng.uniform(-0.2, 0.2), 0.2, 1.0), np.clip(value, 0.1, 1.0))


def _background(rng, yy, xx, height, width):
  """Low-frequency two-colour field plus clutter shapes drawn from the objects' palette."""
  field = np.zeros_like(xx)
  for _ in range(3):
    fy, fx = rng.uniform(0.5, 3.0, 2) * 2 * np.pi / np.array([height, width])
    field += np.sin(yy * fy + xx * fx + rng.uniform(0, 2 * np.pi))
  t = (field - field.min()) / max(np.ptp(field), 1e-6)
  c0 = np.asarray(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.8)))
  c1 = np.asarray(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.8)))
  canvas = (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)
  size = min(height, width) / 128.0
  for _ in range(int(rng.integers(6, 12))):
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    kind = rng.integers(3)
    if kind == 0:
      mask = _ellipse(yy, xx, cy, cx, *(rng.uniform(3, 12, 2) * size), rng.uniform(0, np.pi))
    elif kind == 1:
      mask = _box(yy, xx, cy, cx, *(rng.uniform(2, 10, 2) * size), rng.uniform(0, np.pi))
    else:
      a = rng.uniform(0, 2 * np.pi)
      length = rng.uniform(8, 25) * size
      mask = _capsule(yy, xx, cy, cx, cy + length * np.sin(a), cx + length * np.cos(a),
                      rng.uniform(0.8, 2.0) * size)
    # Clutter takes the objects' textures, in paler colours.
    hsv = (rng.uniform(), rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.9))
    _paint(canvas, mask, _random_look(rng, hsv), yy, xx, rng)
  return canvas


# ---------------------------------------------------------------------------------------------
# Scenes.


def _rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
  """Stream 0 draws the geometry, stream 1 the appearance: the ground truth alone is cheap."""
  if split not in SPLITS:
    raise InputError(f"unknown synthetic split {split!r}; choose from {sorted(SPLITS)}")
  return np.random.default_rng([int(seed), SPLITS[split], int(index), stream])


def _layout(seed, split, index, height, width, max_objects):
  """Geometry: the leaf ownership map [H, W] (later leaves cover earlier ones), the leaves
  (object, part, sub-part or -1), the structure [(template, [(part, [sub-parts])])] and the
  object placements (cy, cx, scale)."""
  rng = _rng(seed, split, index, 0)
  yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
  size = min(height, width) / 128.0
  leaf_owner = np.full((height, width), -1, np.int32)
  leaves, structure, placements = [], [], []
  # One to `max_objects` objects, larger when fewer, so that a patch-16 ViT at 128 px sees
  # every object across 5-9 tokens (thin parts stay a few pixels wide): one object near the
  # centre, two in diagonal cells, three in cells of a jittered 2x2 grid. Neighbours overlap:
  # occlusion without one object hiding another entirely.
  n_objects = int(rng.integers(1, max_objects + 1))
  centre_jitter = 0.08
  if n_objects == 1:
    cells = [None]
  elif n_objects == 2:
    diagonal = int(rng.integers(2))
    cells = [0, 3] if diagonal == 0 else [1, 2]
  else:
    cells = list(rng.permutation(4)[:n_objects])
  scale = {1: (2.0, 2.5), 2: (1.6, 2.0)}.get(n_objects, (1.25, 1.6))
  for obj, cell in enumerate(cells):
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    s = size * rng.uniform(*scale)
    if cell is None:
      cy, cx = 0.5 * height, 0.5 * width
    else:
      cy = height * (0.3 + 0.4 * (cell // 2))
      cx = width * (0.3 + 0.4 * (cell % 2))
    cy += rng.uniform(-centre_jitter, centre_jitter) * height
    cx += rng.uniform(-centre_jitter, centre_jitter) * width
    names = []
    for p, (part_name, subparts) in enumerate(_TEMPLATE_FNS[template](rng, yy, xx, cy, cx, s)):
      names.append((part_name, [n for n, _ in subparts] if len(subparts) > 1 else []))
      for q, (_, mask) in enumerate(subparts):
        leaf_owner[mask] = len(leaves)
        leaves.append((obj, p, q if len(subparts) > 1 else -1))
    structure.append((template, names))
    placements.append((cy, cx, s))
  return leaf_owner, leaves, structure, placements


def _render(seed, split, index, leaf_owner, leaves, structure, placements) -> np.ndarray:
  """Appearance: background, clutter and every visible leaf painted with its look, uint8."""
  rng = _rng(seed, split, index, 1)
  height, width = leaf_owner.shape
  yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
  canvas = _background(rng, yy, xx, height, width)
  leaf = 0
  for (template, names), (cy, cx, s) in zip(structure, placements):
    base_hsv = (rng.uniform(), rng.uniform(0.45, 0.9), rng.uniform(0.45, 0.9))
    # One light direction per object ties its parts together (a shaded solid).
    light = rng.uniform(0, 2 * np.pi)
    shade = 1.0 + 0.22 * np.clip(((yy - cy) * np.sin(light) + (xx - cx) * np.cos(light))
                                 / (25 * s), -1.5, 1.5)
    used_hues = []
    for part_name, sub_names in names:
      part_hsv = _part_hsv(rng, base_hsv, used_hues)
      part_look = _random_look(rng, part_hsv)
      # Decorations (eye, windows, stripe, belly) get their own look; repeated pieces
      # (legs, petals, leaves, wheels) share the part's look.
      repeated = part_name in ("legs", "leaves", "petals", "wheels")
      for q in range(max(len(sub_names), 1)):
        look = part_look if (q == 0 or repeated) else _random_look(
            rng, _subpart_hsv(rng, part_hsv))
        _paint(canvas, leaf_owner == leaf, look, yy, xx, rng, shade)
        leaf += 1
  canvas += rng.normal(0, 0.02, canvas.shape).astype(np.float32)
  return np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)


def generate_scene(seed: int, split: str, index: int, height: int = 128, width: int = 128,
                   max_objects: int = 3, with_image: bool = True) -> Scene:
  """The scene `index` of `split`: image and full hierarchy ground truth, deterministic.

  `with_image=False` returns the same ground truth with `image=None`, a few times faster.
  """
  layout = _layout(seed, split, index, height, width, max_objects)
  image = _render(seed, split, index, *layout) if with_image else None
  return _scene_from_layout(split, index, image, layout)


def _scene_from_layout(split, index, image, layout) -> Scene:
  return _build_scene(f"synthetic-{split}-{index:06d}", image, *layout[:3])


def _build_scene(image_id, image, leaf_owner, leaves, structure) -> Scene:
  """Visible masks and the node list from the leaf ownership map."""
  leaves = np.asarray(leaves, np.int32).reshape(-1, 3)
  valid = leaf_owner >= 0
  owner = np.where(valid, leaf_owner, 0)
  obj_map = np.where(valid, leaves[owner, 0], -1)
  part_map = np.where(valid, leaves[owner, 1], -1)
  sub_map = np.where(valid, leaves[owner, 2], -1)
  masks, nodes = [], []
  object_nodes = []
  for obj, (template, _) in enumerate(structure):
    mask = obj_map == obj
    masks.append(mask)
    object_nodes.append(int(mask.sum()))
  for obj, (template, _) in enumerate(structure):
    nodes.append(Node(obj, obj, 0, -1, template, object_nodes[obj], 1.0))
  for obj, (template, parts) in enumerate(structure):
    obj_area = object_nodes[obj]
    for p, (part_name, sub_names) in enumerate(parts):
      part_mask = (obj_map == obj) & (part_map == p)
      area = int(part_mask.sum())
      if area == 0:
        continue
      part_id = len(nodes)
      masks.append(part_mask)
      nodes.append(Node(part_id, obj, 1, obj, f"{template}/{part_name}", area,
                        node_granularity(1, area, obj_area)))
      for q, sub_name in enumerate(sub_names):
        sub_mask = part_mask & (sub_map == q)
        sub_area = int(sub_mask.sum())
        if sub_area == 0:
          continue
        masks.append(sub_mask)
        nodes.append(Node(len(nodes), obj, 2, part_id, f"{template}/{part_name}/{sub_name}",
                          sub_area, node_granularity(2, sub_area, obj_area)))
  return Scene(image_id, image, np.stack(masks), tuple(nodes))


# ---------------------------------------------------------------------------------------------
# Grain sources.


class SyntheticScenes(grain.RandomAccessDataSource):
  """Random access to whole scenes: the per-image ground truth for tests, AGG and reports."""

  def __init__(self, split: str = "train", num_images: int = 1000, image_size=(128, 128),
               seed: int = 0, max_objects: int = 3, cache_scenes: int = 2048):
    _rng(seed, split, 0, 0)  # validates the split
    if num_images < 1:
      raise InputError(f"num_images must be positive, got {num_images}")
    self.split, self.num_images, self.seed = split, int(num_images), int(seed)
    self.height, self.width = (int(image_size), int(image_size)) if np.isscalar(image_size) \
        else (int(image_size[0]), int(image_size[1]))
    if min(self.height, self.width) < 48:
      raise InputError(f"synthetic images need at least 48 pixels a side, got {image_size}")
    self.max_objects = int(max_objects)
    # Rendering is ~90% of a scene's cost and training revisits every scene once an epoch:
    # keep the rendered image and the geometry (~80 KB a scene at 128 px), not the masks.
    self.cache_scenes = max(int(cache_scenes), 0)
    self._generate = functools.lru_cache(maxsize=self.cache_scenes)(self._render_scene)

  def __getstate__(self):  # grain worker processes get an empty cache
    return {k: v for k, v in self.__dict__.items() if k != "_generate"}

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._generate = functools.lru_cache(maxsize=self.cache_scenes)(self._render_scene)

  def __len__(self) -> int:
    return self.num_images

  def _render_scene(self, index: int) -> tuple:
    layout = _layout(self.seed, self.split, index, self.height, self.width, self.max_objects)
    image = _render(self.seed, self.split, index, *layout)
    image.setflags(write=False)  # shared by every later read of this scene
    return image, (layout[0].astype(np.int16),) + tuple(layout[1:])

  def __getitem__(self, index) -> Scene:
    return self.scene(index)

  def scene(self, index, with_image: bool = True) -> Scene:
    index = int(index)
    if not 0 <= index < self.num_images:
      raise IndexError(f"scene {index} out of range for {self.num_images} {self.split} scenes")
    if not with_image:
      return generate_scene(self.seed, self.split, index, self.height, self.width,
                            self.max_objects, with_image=False)
    image, layout = self._generate(index)
    return _scene_from_layout(self.split, index, image, layout)

  def __repr__(self) -> str:
    return (f"SyntheticScenes(split={self.split!r}, num_images={self.num_images}, "
            f"image_size=({self.height}, {self.width}), seed={self.seed})")


class SyntheticSource(grain.RandomAccessDataSource):
  """One record per instance at `level` ('object' | 'part' | 'subpart' | 'all').

  Record: 'image' uint8 [H, W, 3]; 'mask' int8 [H, W] (1 instance, 0 elsewhere); 'image_id';
  'object_id' (the node id inside the image: objects are 0..n-1, parts and sub-parts follow);
  'granularity' float32 (`node_granularity`). Instances smaller than `min_area` visible pixels
  (mostly occluded or clipped) are left out. The instance index is built once at construction
  from every scene's geometry (about a millisecond each).
  """

  def __init__(self, level: str = "object", split: str = "train", num_images: int = 1000,
               image_size=(128, 128), seed: int = 0, min_area: int = 20, max_objects: int = 3):
    if level not in LEVELS + ("all",):
      raise InputError(f"unknown level {level!r}; choose from {LEVELS + ('all',)}")
    self.level = level
    self.scenes = SyntheticScenes(split, num_images, image_size, seed, max_objects)
    levels = range(3) if level == "all" else [LEVELS.index(level)]
    self._index = []  # (scene index, node id)
    for i in range(len(self.scenes)):
      for node in self.scenes.scene(i, with_image=False).nodes:
        if node.level in levels and node.area >= min_area:
          self._index.append((i, node.node_id))

  @functools.lru_cache(maxsize=8)
  def _scene(self, index: int) -> Scene:
    return self.scenes[index]

  def __len__(self) -> int:
    return len(self._index)

  def locate(self, index: int) -> tuple:
    """(scene index, node id) of record `index`, without generating the scene."""
    return self._index[int(index)]

  def __getitem__(self, index):
    scene_index, node_id = self._index[int(index)]
    scene = self._scene(scene_index)
    node = scene.nodes[node_id]
    return {
        "image": scene.image,
        "mask": scene.masks[node_id].astype(np.int8),
        "image_id": scene.image_id,
        "object_id": node.node_id,
        "granularity": np.float32(node.granularity),
    }

  def __repr__(self) -> str:
    return f"SyntheticSource(level={self.level!r}, {self.scenes!r}, instances={len(self)})"


class SceneInstances:
  """Synthetic scenes as image-level records with all objects as 'instances'."""

  def __init__(self, scenes):
    self.scenes = scenes

  def __len__(self):
    return len(self.scenes)

  def __getitem__(self, index):
    scene = self.scenes[int(index)]
    instances = scene.instance_map()
    return {"image": scene.image, "mask": (instances > 0).astype(np.int8),
            "instances": instances, "image_id": scene.image_id, "object_id": -1,
            "granularity": np.float32(1.0)}


def spread_instances(source, limit: int) -> list:
  """`limit` records of `source` spread evenly over its index range (a benchmark subset that
  covers every image rather than the first few)."""
  pick = np.unique(np.linspace(0, len(source) - 1, min(limit, len(source))).round().astype(int))
  return [source[int(i)] for i in pick]
