"""The matmul forms of the model's pointwise and patch convolutions, the head's fusion conv,
attention and GELU against the computations they replace (flax's nn.Conv, the
concatenate-resize-conv of the official head, a numpy softmax attention, jax's GELU)."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from graco_jax.model.activation import exact_gelu
from graco_jax.model.conv import Conv1x1, PatchConv
from graco_jax.model.head import FusionConv
from graco_jax.model.resize import bilinear_matrix
from graco_jax.model import vit
from graco_jax.model.vit import per_image_attention, plain_attention


def test_conv1x1_equals_flax_conv_with_the_same_parameters():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 7, 6))
  ours = Conv1x1(4)
  params = ours.init(jax.random.PRNGKey(1), x)
  params = jax.tree.map(lambda p: p + 0.3, params)  # a non-zero bias too
  reference = nn.Conv(4, (1, 1)).apply(params, x)  # same names and shapes
  np.testing.assert_allclose(ours.apply(params, x), reference, rtol=1e-5, atol=1e-5)
  grad = lambda m: jax.grad(lambda p: jnp.sum(m.apply(p, x) ** 2))(params)
  np.testing.assert_allclose(grad(ours)["params"]["kernel"],
                             grad(nn.Conv(4, (1, 1)))["params"]["kernel"], rtol=1e-4)


def test_patch_conv_equals_strided_flax_conv_with_the_same_parameters():
  x = jax.random.normal(jax.random.PRNGKey(4), (2, 12, 8, 3))
  ours = PatchConv(5, 4)
  params = ours.init(jax.random.PRNGKey(5), x)
  params = jax.tree.map(lambda p: p + 0.2, params)
  reference = nn.Conv(5, (4, 4), strides=(4, 4), padding="VALID")
  assert (jax.tree.map(jnp.shape, reference.init(jax.random.PRNGKey(5), x))
          == jax.tree.map(jnp.shape, params))
  out = ours.apply(params, x)
  assert out.shape == (2, 3, 2, 5)
  np.testing.assert_allclose(out, reference.apply(params, x), rtol=1e-5, atol=1e-5)
  # One output pixel by hand: the 4x4x3 patch at rows 4-7, columns 0-3 dotted with the kernel.
  kernel, bias = params["params"]["kernel"], params["params"]["bias"]
  by_hand = np.einsum("pqc,pqco->o", np.asarray(x[1, 4:8, 0:4]), np.asarray(kernel)) + bias
  np.testing.assert_allclose(out[1, 1, 0], by_hand, rtol=1e-5, atol=1e-5)
  grad = lambda m: jax.grad(lambda p: jnp.sum(m.apply(p, x) ** 2))(params)
  np.testing.assert_allclose(grad(ours)["params"]["kernel"], grad(reference)["params"]["kernel"],
                             rtol=1e-4, atol=1e-4)


def test_exact_gelu_is_x_phi_x():
  x = np.linspace(-8, 8, 2001).astype(np.float32)
  phi = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x.astype(np.float64)])
  np.testing.assert_allclose(exact_gelu(jnp.asarray(x)), x * phi, rtol=2e-6, atol=2e-6)
  np.testing.assert_allclose(exact_gelu(jnp.asarray(x)), jax.nn.gelu(x, approximate=False),
                             rtol=2e-6, atol=2e-6)


def test_fusion_conv_equals_conv_of_the_concatenated_resized_maps():
  keys = jax.random.split(jax.random.PRNGKey(2), 4)
  maps = [jax.random.normal(k, (2, s, s, c)) for k, s, c in zip(keys, (8, 4, 2, 1), (3, 5, 2, 4))]
  fusion = FusionConv(6)
  params = fusion.init(jax.random.PRNGKey(3), maps)
  kernel = np.asarray(params["params"]["kernel"])[0, 0]
  bias = np.asarray(params["params"]["bias"]) + 0.5
  params = {"params": {"kernel": params["params"]["kernel"], "bias": jnp.asarray(bias)}}

  def resize(m):  # torch bilinear, align_corners=False, in numpy
    my, mx = bilinear_matrix(8, m.shape[1], False), bilinear_matrix(8, m.shape[2], False)
    return np.einsum("oh,bhwc,pw->bopc", my, np.asarray(m), mx)

  concatenated = np.concatenate([resize(m) for m in maps], axis=-1)
  reference = concatenated @ kernel + bias
  np.testing.assert_allclose(fusion.apply(params, maps), reference, rtol=1e-5, atol=1e-5)


def test_plain_attention_equals_softmax_attention_in_numpy():
  rng = np.random.default_rng(0)
  q, k, v = (rng.normal(size=(2, 7, 3, 4)).astype(np.float32) * 3 for _ in range(3))
  logits = np.einsum("bqhd,bkhd->bhqk", q, k) / 2.0  # sqrt(d) = 2
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  reference = np.einsum("bhqk,bkhd->bqhd", weights, v)
  np.testing.assert_allclose(plain_attention(q, k, v), reference, rtol=1e-5, atol=1e-5)
  library = jax.nn.dot_product_attention(q, k, v)
  np.testing.assert_allclose(plain_attention(q, k, v), library, rtol=1e-5, atol=1e-5)
  # The gradient too (the max is held constant: it cancels in the exact softmax).
  loss = lambda f: jax.grad(lambda q: jnp.sum(f(q, k, v) * v))(jnp.asarray(q))
  ours, theirs = loss(plain_attention), loss(jax.nn.dot_product_attention)
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * np.abs(theirs).max())


def test_global_attention_runs_one_image_at_a_time_on_the_cpu_with_the_same_numbers():
  rng = np.random.default_rng(1)
  q, k, v = (jnp.asarray(rng.normal(size=(3, 300, 2, 8)).astype(np.float32)) for _ in range(3))
  np.testing.assert_allclose(per_image_attention(q, k, v), plain_attention(q, k, v),
                             rtol=1e-6, atol=1e-6)
  loss = lambda f: jax.grad(lambda q: jnp.sum(f(q, k, v) * v))(q)
  np.testing.assert_allclose(loss(per_image_attention), loss(plain_attention),
                             rtol=1e-5, atol=1e-6)
  # The module takes the per-image path above PER_IMAGE_ATTENTION_TOKENS tokens only.
  attention = vit.Attention(dim=16, num_heads=2)
  for tokens, mapped in ((vit.PER_IMAGE_ATTENTION_TOKENS + 1, True),
                         (vit.PER_IMAGE_ATTENTION_TOKENS, False)):
    x = jnp.asarray(rng.normal(size=(2, tokens, 16)).astype(np.float32))
    params = attention.init(jax.random.PRNGKey(0), x)
    jaxpr = str(jax.make_jaxpr(attention.apply)(params, x))
    assert ("scan" in jaxpr) == mapped, tokens
  # A symbolic batch (graco-jax export) takes the batched path: no comparison on its size.
  (batch,) = jax.export.symbolic_shape("batch")
  spec = jax.ShapeDtypeStruct((batch, vit.PER_IMAGE_ATTENTION_TOKENS + 1, 16), jnp.float32)
  exported = jax.export.export(jax.jit(attention.apply))(params, spec)
  x = jnp.asarray(rng.normal(size=(3, vit.PER_IMAGE_ATTENTION_TOKENS + 1, 16)).astype(np.float32))
  np.testing.assert_allclose(exported.call(params, x), attention.apply(params, x),
                             rtol=1e-6, atol=1e-6)
