"""SonicSep: librosa-exact music features, Dask featurization into Zarr, and genre models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sonicsep")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

from sonicsep.config import FeatureConfig  # noqa: E402
from sonicsep.errors import SonicSepError  # noqa: E402

__all__ = ["FeatureConfig", "SonicSepError", "__version__"]
