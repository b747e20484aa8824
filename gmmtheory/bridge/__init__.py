"""gmmtheory.bridge: measure class-conditional entropy in trained diffusion models and hold it against theory.

Optional (``pip install 'gmmtheory[bridge]'``: torch, diffusers, scikit-learn). Importing this subpackage imports
torch; ``import gmmtheory`` does not.
"""

from gmmtheory.bridge.base import Denoiser, Measurement, as_sigma

__all__ = ["Denoiser", "Measurement", "as_sigma"]
