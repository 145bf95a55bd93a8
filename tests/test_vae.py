import pytest
import torch

from latentlab.vae import AutoencoderKL, DiagonalGaussian, VAEConfig, compute_scaling_factor


@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    return AutoencoderKL(VAEConfig.tiny()).eval()


@pytest.mark.parametrize("preset,f,c", [("f8c4", 8, 4), ("f4c3", 4, 3), ("f16c16", 16, 16), ("sd_v1", 8, 4), ("tiny", 8, 4)])
def test_presets_have_the_geometry_their_name_says(preset, f, c):
    config = VAEConfig.preset(preset)
    assert config.downsample_factor == f and config.latent_channels == c
    assert config.name == f"f{f}c{c}"


def test_sd_v1_config_matches_stable_diffusion():
    config = VAEConfig.sd_v1()
    assert config.block_out_channels == (128, 256, 512, 512)
    assert config.layers_per_block == 2 and config.norm_groups == 32 and config.mid_attention
    assert config.scaling_factor == pytest.approx(0.18215)


@pytest.mark.parametrize("preset", ["tiny", "f4c3", "f16c16"])
def test_encode_decode_shapes(preset):
    config = VAEConfig.preset(preset)
    vae = AutoencoderKL(config).eval()
    f, c = config.downsample_factor, config.latent_channels
    x = torch.rand(2, 3, 2 * f, 3 * f) * 2 - 1
    with torch.no_grad():
        posterior = vae.encode(x)
        assert posterior.mean.shape == (2, c, 2, 3)
        assert vae.decode(posterior.mode()).shape == x.shape


def test_512_image_becomes_64x64x4_latent_48x_fewer_values(tiny_vae):
    with torch.no_grad():
        z = tiny_vae.encode(torch.zeros(1, 3, 512, 512)).mode()
    assert z.shape == (1, 4, 64, 64)
    assert (512 * 512 * 3) / z.numel() == 48


def test_config_json_round_trip():
    config = VAEConfig.f8c4()
    config.scaling_factor = 0.5
    assert VAEConfig.from_json(config.to_json()) == config


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="norm_groups"):
        VAEConfig(block_out_channels=(10, 20), norm_groups=8)
    with pytest.raises(ValueError, match="unknown VAE preset.*f8c4"):
        VAEConfig.preset("f7c2")


def test_diagonal_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(1)
    moments = torch.randn(3, 8, 5, 5)
    q = DiagonalGaussian(moments)
    ref = torch.distributions.Normal(q.mean, q.std)
    prior = torch.distributions.Normal(torch.zeros_like(q.mean), torch.ones_like(q.std))
    expected = torch.distributions.kl_divergence(ref, prior).sum(dim=(1, 2, 3))
    torch.testing.assert_close(q.kl(), expected, rtol=1e-5, atol=1e-5)


def test_reparameterised_sample_has_the_right_moments_and_gradients():
    mean = torch.full((1, 1, 100, 100), 2.0, requires_grad=True)
    logvar = torch.full((1, 1, 100, 100), torch.log(torch.tensor(0.25)).item(), requires_grad=True)
    q = DiagonalGaussian(torch.cat([mean, logvar], dim=1))
    z = q.sample(torch.Generator().manual_seed(0))
    assert z.mean().item() == pytest.approx(2.0, abs=0.02)
    assert z.std().item() == pytest.approx(0.5, abs=0.02)
    z.sum().backward()  # gradients reach μ and log σ² through z = μ + σ·ε
    assert mean.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0
    assert torch.equal(q.mode(), q.mean)


def test_logvar_is_clamped_so_kl_stays_finite():
    q = DiagonalGaussian(torch.cat([torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 1e4)], dim=1))
    assert torch.isfinite(q.kl()).all()


def test_scaling_factor_is_one_over_latent_std(tiny_vae):
    batches = [torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(3)]
    factor = compute_scaling_factor(tiny_vae, batches)
    torch.manual_seed(0)
    with torch.no_grad():
        z = torch.cat([tiny_vae.encode(x).sample() for x in batches])
    assert factor == pytest.approx(1.0 / z.std().item(), rel=0.05)


def test_to_latent_and_from_latent_apply_the_scaling_factor():
    config = VAEConfig.tiny()
    config.scaling_factor = 0.5
    vae = AutoencoderKL(config).eval()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(vae.to_latent(x), vae.encode(x).mode() * 0.5)
        z = torch.randn(1, 4, 2, 2)
        torch.testing.assert_close(vae.from_latent(z), vae.decode(z / 0.5))


def test_encode_rejects_wrong_shapes(tiny_vae):
    with pytest.raises(ValueError, match="multiples of f=8"):
        tiny_vae.encode(torch.zeros(1, 3, 20, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        tiny_vae.encode(torch.zeros(3, 16, 16))


def test_decoder_rejects_wrong_channel_count(tiny_vae):
    with pytest.raises(ValueError, match=r"expects latents shaped \(B, 4, h, w\).*\(1, 3, 2, 2\)"):
        tiny_vae.decode(torch.zeros(1, 3, 2, 2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_decoder_rejects_nan_and_inf(tiny_vae, bad):
    z = torch.zeros(1, 4, 2, 2)
    z[0, 1, 0, 0] = bad
    with pytest.raises(ValueError, match="1 NaN/inf"):
        tiny_vae.decode(z)


def test_to_latent_and_from_latent_apply_shift_then_scale():
    # diffusers' convention (SD3, FLUX): latent = (z − shift) · scale; decoding inverts it.
    config = VAEConfig.tiny()
    config.scaling_factor, config.shift_factor = 0.5, 0.3
    vae = AutoencoderKL(config).eval()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(vae.to_latent(x), (vae.encode(x).mode() - 0.3) * 0.5)
        z = torch.randn(1, 4, 2, 2)
        torch.testing.assert_close(vae.from_latent(z), vae.decode(z / 0.5 + 0.3))


def test_shift_factor_is_written_only_when_there_is_one():
    assert "shift_factor" not in VAEConfig.f8c4().to_json()  # files from before it existed stay identical
    config = VAEConfig.tiny()
    config.shift_factor = 0.0609
    assert VAEConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("field, value", [("scaling_factor", float("nan")), ("scaling_factor", 0.0),
                                          ("shift_factor", float("inf"))])
def test_non_finite_or_zero_factors_are_refused(field, value):
    import dataclasses

    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        dataclasses.replace(VAEConfig.tiny(), **{field: value})


def test_float64_input_is_converted(tiny_vae):
    # NumPy's default dtype: torch.from_numpy(array) gives float64.
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        posterior = tiny_vae.encode(x)
        assert posterior.mean.dtype == torch.float32
        torch.testing.assert_close(posterior.mean, tiny_vae.encode(x.float()).mean)
        assert tiny_vae.decode(posterior.mean.double()).dtype == torch.float32
    # a float64 NumPy picture goes through images.to_tensor as [0, 1] floats
    import numpy as np

    from latentlab.images import to_tensor

    picture = to_tensor(np.random.default_rng(0).random((16, 16, 3)), multiple=8)
    assert picture.dtype == torch.float32 and tiny_vae.encode(picture).mean.shape == (1, 4, 2, 2)


def test_integer_pixels_get_a_message_with_the_fix(tiny_vae):
    with pytest.raises(TypeError, match="must be a float tensor, got torch.uint8.*images.to_tensor"):
        tiny_vae.encode(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
