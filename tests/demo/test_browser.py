"""`graco-jax demo` end to end in a real headless chromium (Debian's, driven by Playwright).

The demo runs as a subprocess on a free localhost port with a tiny checkpoint made here. The
test uploads a GrabCut image (a generated one when GrabCut is absent), clicks on the object,
moves the slider and checks that a mask appears, that it follows the slider without a forward
pass, and that the downloaded mask equals `graco-jax segment`'s for the same clicks.
"""

import json
import os
import re
import subprocess
import sys
import urllib.request

import jax
import numpy as np
import pytest
from PIL import Image

from graco_jax import checkpoints, cli
from graco_jax.model import init_params, model_config

CHROMIUM = "/usr/bin/chromium"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRABCUT_IMAGE = os.path.join(REPO, "..", "shared", "data", "grabcut", "data_GT", "124080.jpg")
CONFIG = os.path.join(REPO, "configs", "graco.py") + ":size=tiny"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason=f"no {CHROMIUM}: apt-get install chromium (.ci/run does)")


def tiny_checkpoint(workdir):
  """A random-init tiny GraCo at crop 64, last layer sharpened (logits far from 0), no bias."""
  config = model_config("tiny", crop_size=64, lora_rank=4)
  config.window_size = 64
  variables = init_params(config, jax.random.PRNGKey(5))
  head = variables["params"]["head"]["conv_seg"]
  head["kernel"], head["bias"] = 50.0 * head["kernel"], 0.0 * head["bias"]
  return checkpoints.save_params(str(workdir), config, jax.device_get(variables))


def input_image(tmp_path):
  if os.path.exists(GRABCUT_IMAGE):
    return GRABCUT_IMAGE
  from graco_jax.segment import generated_image
  path = tmp_path / "generated.png"
  Image.fromarray(np.round(generated_image() * 255).astype(np.uint8)).save(path)
  return str(path)


@pytest.fixture
def demo_url(tmp_path):
  workdir = tiny_checkpoint(tmp_path / "ckpt")
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
             PYTHONUNBUFFERED="1")
  log = open(tmp_path / "demo.log", "w")
  proc = subprocess.Popen([sys.executable, "-m", "graco_jax.cli", "demo", "--checkpoint",
                           workdir, "--port", "0"], stdout=subprocess.PIPE, stderr=log,
                          text=True, env=env)
  try:
    line = proc.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+/", line)
    assert match, f"no URL in {line!r}; log: {(tmp_path / 'demo.log').read_text()}"
    yield match.group(0), workdir, tmp_path / "demo.log"
  finally:
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def forwards(url):
  with urllib.request.urlopen(url + "api/state") as response:
    return json.load(response)["forwards"]


def test_click_slide_download_in_chromium(demo_url, tmp_path):
  sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
  sync_playwright = sync_api.sync_playwright
  url, workdir, log_path = demo_url
  image_path = input_image(tmp_path)
  height, width = np.asarray(Image.open(image_path)).shape[:2]
  with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
    page = browser.new_page(viewport={"width": max(1000, width + 60), "height": height + 260},
                            accept_downloads=True)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#examples option").count() >= 4  # chooser + synthetic scenes

    page.set_input_files("#file", image_path)
    page.wait_for_function(f"document.getElementById('canvas').width === {width}")
    page.wait_for_function("document.getElementById('message').textContent === ''")
    # The object of 124080 (and the generated image's ellipse) covers the centre.
    page.locator("#canvas").click(position={"x": width // 2 + 0.5, "y": height // 2 + 0.5})
    page.wait_for_function("document.getElementById('nclicks').textContent === '1'")
    assert page.inner_text("#message") == ""
    assert forwards(url) == 1
    assert re.fullmatch(r"[\d.]+ ms( \(includes compiling for this size\))?",
                        page.inner_text("#latency"))

    areas = {}
    for step in range(1, 11):
      page.locator("#granularity").fill(str(step))
      assert page.inner_text("#gvalue") == f"{step / 10:.1f}"
      areas[step] = int(page.locator("#canvas").get_attribute("data-area"))
    assert forwards(url) == 1  # ten slider positions, no forward
    assert any(0 < a < width * height for a in areas.values())  # (a) a mask appears
    assert len(set(areas.values())) > 1  # (b) it follows the slider

    page.locator("#granularity").fill("4")
    with page.expect_download() as download:
      page.click("#download-png")
    download.value.save_as(tmp_path / "demo_mask.png")
    with page.expect_download() as download:
      page.click("#download-rle")
    download.value.save_as(tmp_path / "demo_mask.json")
    page.screenshot(path=str(tmp_path / "demo.png"))

    page.set_input_files("#file", __file__)  # not an image: a message, the server keeps going
    page.wait_for_function("document.getElementById('message').textContent.includes("
                           "'not a readable image')")
    browser.close()
  assert forwards(url) == 1
  assert "not a readable image" in log_path.read_text()

  state = json.loads((tmp_path / "demo_mask.json").read_text())
  y, x, positive = state["clicks"][0]
  assert (y, x, positive) == (height // 2, width // 2, True)
  out = tmp_path / "segment_mask.png"
  cli.main(["segment", "--config", CONFIG, "--checkpoint", workdir, "--image", image_path,
            "--click", f"{y},{x},+", "--granularity", "0.4", "--out", str(out)])
  expected = np.asarray(Image.open(out))
  downloaded = np.asarray(Image.open(tmp_path / "demo_mask.png"))
  np.testing.assert_array_equal(downloaded, expected)  # (c) the segment CLI's mask
  assert areas[4] == int((expected > 0).sum()) == state["area"]
  from pycocotools import mask as mask_utils
  rle = state["segmentation"]
  decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
  np.testing.assert_array_equal(decoded * 255, expected)
