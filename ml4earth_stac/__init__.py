"""ml4earth-stac: Earth-observation archives -> ML-ready benchmark datasets published as STAC."""

__version__ = "0.1.0"
