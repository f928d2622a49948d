"""`graco-jax demo`: the page and its JSON API over the standard library's threaded HTTP server.

No web framework: one local user, a dozen routes, and nothing to install beyond graco-jax. The
server keeps running through bad input: a user mistake (`InputError`) is a 400 with its message,
anything else a 500 whose traceback goes to the log; the page shows either message.

Routes (JSON unless named otherwise): GET / (page.html), GET /api/state, POST /api/example?name=,
POST /api/image (the file's bytes), GET /api/image.png, POST /api/click {"y", "x", "positive"},
POST /api/undo, POST /api/reset, GET /api/mask.png?granularity=, GET /api/mask.json?granularity=
(COCO RLE). The state carries one overlay PNG per granularity bin, so the slider needs no request.
"""

import argparse
import base64
import http.server
import io
import json
import logging
import os
import threading
import urllib.parse

import numpy as np
from PIL import Image

from graco_jax import config_utils
from graco_jax.demo import session as session_lib
from graco_jax.errors import InputError, MissingInputError

log = logging.getLogger("graco_jax.demo")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CHECKPOINT = "quickstart_out/graco"
DEFAULT_GRABCUT = os.path.join(REPO_ROOT, "..", "shared", "data", "grabcut")
NUM_GRABCUT_EXAMPLES = 4
NUM_SYNTHETIC_EXAMPLES = 3
MAX_UPLOAD_BYTES = 64 << 20
OVERLAY_RGBA = (30, 144, 255, 140)
NO_CHECKPOINT = (f"no checkpoint: {DEFAULT_CHECKPOINT} does not exist. Train one with "
                 "`graco-jax quickstart` (about an hour on a CPU; it writes quickstart_out/graco), "
                 "or convert the official weights with `graco-jax import --checkpoint "
                 "sbd_vit_base.pth --lora GraCo_base_lora.pth --out DIR`, then run "
                 "`graco-jax demo --checkpoint DIR`.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--checkpoint", help=f"checkpoint directory (default: {DEFAULT_CHECKPOINT} "
                      "when it exists)")
  parser.add_argument("--config", help="model config (configs/*.py[:arg]) for a random-init "
                      "model when no checkpoint is given: to try the page, not the model")
  parser.add_argument("--host", default="127.0.0.1")
  parser.add_argument("--port", type=int, default=7860, help="0 picks a free port")
  parser.add_argument("--grabcut", default=DEFAULT_GRABCUT,
                      help="GrabCut folder for the bundled examples (skipped when absent)")
  parser.add_argument("--max-pixels", type=int, default=session_lib.MAX_PIXELS)
  parser.add_argument("--seed", type=int, default=0, help="seed of a random init")


def load_model(checkpoint, config, config_overrides=(), seed=0):
  """(model_config, variables, description) of the model to serve; raises with what to do."""
  import jax
  if checkpoint is None and config is None:
    if not os.path.isdir(DEFAULT_CHECKPOINT):
      raise MissingInputError(NO_CHECKPOINT)
    checkpoint = DEFAULT_CHECKPOINT
  if checkpoint is not None:
    from graco_jax.checkpoints import load_for_inference
    if not os.path.isdir(checkpoint):
      raise MissingInputError(f"checkpoint directory {checkpoint} does not exist")
    try:
      model_config, variables = load_for_inference(checkpoint)
    except Exception as error:  # orbax and json raise many types for a damaged directory
      raise InputError(f"could not load the checkpoint {checkpoint}: {error}") from error
    return model_config, variables, f"checkpoint {checkpoint}"
  from graco_jax.model import init_params
  model_config = config_utils.load_config(config, list(config_overrides)).model
  return (model_config, init_params(model_config, jax.random.PRNGKey(seed)),
          f"random init of {config} (seed {seed}): masks show the page, not a model")


def examples(grabcut_root: str) -> dict:
  """name -> function returning float32 [H, W, 3]: a few GrabCut images when the folder is
  there, generated synthetic scenes always."""
  from graco_jax.data.image_io import read_image
  from graco_jax.data.sources.synthetic import generate_scene
  found = {}
  folder = os.path.join(grabcut_root, "data_GT")
  if os.path.isdir(folder):
    for name in sorted(os.listdir(folder))[:NUM_GRABCUT_EXAMPLES]:
      found[f"grabcut/{os.path.splitext(name)[0]}"] = (
          lambda path=os.path.join(folder, name): read_image(path))
  for index in range(NUM_SYNTHETIC_EXAMPLES):
    found[f"synthetic/{index}"] = (
        lambda i=index: generate_scene(0, "test", i, 256, 256).image.astype(np.float32) / 255.0)
  return found


def png_bytes(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="PNG")
  return buffer.getvalue()


def overlay_url(mask: np.ndarray) -> str:
  rgba = np.zeros((*mask.shape, 4), np.uint8)
  rgba[mask] = OVERLAY_RGBA
  return "data:image/png;base64," + base64.b64encode(png_bytes(rgba)).decode("ascii")


class Demo:
  """The served state: a session (None when no model loaded) behind one lock."""

  def __init__(self, session, model_text, model_error=None, example_loaders=None,
               max_pixels=session_lib.MAX_PIXELS):
    self.session, self.model_text, self.model_error = session, model_text, model_error
    self.examples = example_loaders or {}
    self.max_pixels = max_pixels
    self.image_version = 0
    self.lock = threading.Lock()

  def _session(self):
    if self.session is None:
      raise InputError(self.model_error)
    return self.session

  def state(self) -> dict:
    s = self.session
    out = {"model": self.model_text, "model_error": self.model_error,
           "examples": list(self.examples), "forwards": 0, "image": None, "clicks": [],
           "use_granularity": bool(s and s.use_granularity),
           "granularities": list(s.granularities) if s else [], "overlays": [], "areas": [],
           "latency_ms": None, "included_compile": False}
    if s is None:
      return out
    out["forwards"] = s.forwards
    if s.image is not None:
      out["image"] = {"height": s.image.shape[0], "width": s.image.shape[1],
                      "version": self.image_version}
      out["clicks"] = [{"y": y, "x": x, "positive": p} for y, x, p in s.clicks]
      if s.clicks:
        masks = s.masks()
        out["overlays"] = [overlay_url(m) for m in masks]
        out["areas"] = [int(m.sum()) for m in masks]
        out["latency_ms"] = round(1000 * s.last_latency_s, 1) if s.last_latency_s else None
        out["included_compile"] = s.last_included_compile
    return out

  def _set_image(self, image):
    self._session().set_image(image)
    self.image_version += 1
    log.info("image %dx%d", image.shape[1], image.shape[0])

  def handle(self, method: str, path: str, query: dict, body: bytes):
    """-> (status, content type, payload bytes, extra headers)."""
    if method == "GET" and path == "/":
      with open(os.path.join(os.path.dirname(__file__), "page.html"), "rb") as f:
        return 200, "text/html; charset=utf-8", f.read(), {}
    with self.lock:
      if method == "GET" and path == "/api/state":
        pass
      elif method == "POST" and path == "/api/example":
        name = query.get("name", "")
        if name not in self.examples:
          raise InputError(f"no example {name!r}; have {list(self.examples)}")
        self._set_image(self.examples[name]())
      elif method == "POST" and path == "/api/image":
        self._session()
        self._set_image(session_lib.decode_image(body, self.max_pixels))
      elif method == "GET" and path == "/api/image.png":
        image = self._session().image
        if image is None:
          raise InputError("open an image first")
        return 200, "image/png", png_bytes(np.round(image * 255).astype(np.uint8)), {}
      elif method == "POST" and path == "/api/click":
        try:
          click = json.loads(body)
          y, x, positive = int(click["y"]), int(click["x"]), bool(click["positive"])
        except (ValueError, KeyError, TypeError) as error:
          raise InputError(f"a click is JSON {{'y', 'x', 'positive'}}: {error}") from None
        seconds = self._session().click(y, x, positive)
        log.info("click (%d, %d, %s): %.1f ms%s", y, x, "+" if positive else "-",
                 1000 * seconds, " (compile)" if self.session.last_included_compile else "")
      elif method == "POST" and path == "/api/undo":
        self._session().undo()
      elif method == "POST" and path == "/api/reset":
        self._session().reset()
      elif method == "GET" and path in ("/api/mask.png", "/api/mask.json"):
        return self._mask_download(path, query)
      else:
        return 404, "application/json", json.dumps({"error": f"no route {method} {path}"}
                                                    ).encode(), {}
      return 200, "application/json", json.dumps(self.state()).encode(), {}

  def _mask_download(self, path, query):
    s = self._session()
    if not s.clicks:
      raise InputError("click on the object first: there is no mask yet")
    granularity = None
    if s.use_granularity:
      try:
        granularity = float(query.get("granularity", ""))
      except ValueError:
        raise InputError("the mask download needs ?granularity= in (0, 1]") from None
    mask = s.mask(granularity)
    headers = {"Content-Disposition": f'attachment; filename="{os.path.basename(path)}"'}
    if path.endswith(".png"):
      return 200, "image/png", png_bytes(mask.astype(np.uint8) * 255), headers
    record = {"segmentation": session_lib.rle(mask), "area": int(mask.sum()),
              "granularity": granularity, "clicks": [list(c) for c in s.clicks]}
    return 200, "application/json", json.dumps(record).encode(), headers


def make_handler(demo: Demo):
  class Handler(http.server.BaseHTTPRequestHandler):
    def _respond(self, method):
      url = urllib.parse.urlsplit(self.path)
      query = dict(urllib.parse.parse_qsl(url.query))
      try:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_UPLOAD_BYTES:
          raise InputError(f"the upload is {length:,} bytes; the demo takes at most "
                           f"{MAX_UPLOAD_BYTES:,}")
        body = self.rfile.read(length) if length else b""
        status, kind, payload, headers = demo.handle(method, url.path, query, body)
      except InputError as error:
        log.warning("%s %s: %s", method, url.path, error)
        status, kind, headers = 400, "application/json", {}
        payload = json.dumps({"error": str(error)}).encode()
      except Exception as error:  # a bug: keep serving, show it, log the traceback
        log.exception("%s %s failed", method, url.path)
        status, kind, headers = 500, "application/json", {}
        payload = json.dumps({"error": f"internal error: {error!r} (see the log)"}).encode()
      self.send_response(status)
      self.send_header("Content-Type", kind)
      self.send_header("Content-Length", str(len(payload)))
      self.send_header("Cache-Control", "no-store")
      for key, value in headers.items():
        self.send_header(key, value)
      self.end_headers()
      self.wfile.write(payload)

    def do_GET(self):
      self._respond("GET")

    def do_POST(self):
      self._respond("POST")

    def log_message(self, format, *args):
      log.debug(format, *args)

  return Handler


def build_demo(args) -> Demo:
  """The model and the examples; a model that fails to load leaves the page up with the reason."""
  from graco_jax import predictor as predictor_lib
  loaders = examples(args.grabcut)
  try:
    model_config, variables, text = load_model(args.checkpoint, args.config,
                                               getattr(args, "config_overrides", ()), args.seed)
  except InputError as error:
    log.error("%s", error)
    return Demo(None, None, str(error), loaders, args.max_pixels)
  predictor = predictor_lib.for_model(model_config, variables, "zoom_in_flip")
  session = session_lib.Session(predictor, bool(model_config.use_granularity))
  log.info("model: %s (%s, granularity %s)", text, model_config.size,
           model_config.use_granularity)
  return Demo(session, f"{text} ({model_config.size}, "
              f"{'GraCo' if model_config.use_granularity else 'SimpleClick'})",
              None, loaders, args.max_pixels)


def run(args) -> int:
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
  demo = build_demo(args)
  server = http.server.ThreadingHTTPServer((args.host, args.port), make_handler(demo))
  host, port = server.server_address[:2]
  print(f"graco-jax demo on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
  return 0
