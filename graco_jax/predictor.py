"""The one predictor interface shared by evaluation, AGG, training's click loop and the demo.

`predict_fn(images, clicks, prev_probs, granularity) -> probs`: images [B, H, W, 3] in [0, 1],
a `ClickSet`, previous probabilities [B, H, W, 1], granularity [B] or None; returns
foreground probabilities [B, H, W, 1]. Any pure JAX function with this signature plugs in.
"""

import jax


def make_predict_fn(model, params):
  """Wraps a segmenter and its parameters as a `predict_fn` (inference mode)."""
  def predict_fn(images, clicks, prev_probs, granularity=None):
    logits = model.apply(params, images, clicks, prev_probs, granularity)
    return jax.nn.sigmoid(logits)
  return predict_fn
