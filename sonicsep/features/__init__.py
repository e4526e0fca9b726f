"""librosa-compatible feature functions and :class:`FeatureExtractor` (see ``extractor``)."""

from sonicsep.features.extractor import *  # noqa: F403
from sonicsep.features.extractor import __all__  # noqa: F401
