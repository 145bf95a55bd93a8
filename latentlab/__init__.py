"""latentlab: Stable Diffusion's latent space, built from scratch and taught in notebooks."""

__version__ = "0.1.0"
