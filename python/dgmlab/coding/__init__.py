"""Entropy coding: the ANS message, entropy models as codecs, and their compositions (sequence, bits-back).

Numpy in and out; no torch here. See :mod:`dgmlab.coding.message` and :mod:`dgmlab.coding.codecs`.
"""

from dgmlab.coding.codecs import (
    DEFAULT_BIN_WIDTH,
    Categorical,
    DiscretizedGaussian,
    DiscretizedLogistic,
    DiscretizedMixtureLogistic,
    GaussianBuckets,
    Uniform,
)
from dgmlab.coding.compose import BitsBack, Codec, Sequence
from dgmlab.coding.linear_ar import DiscretizedLinearAR
from dgmlab.coding.message import Message

__all__ = [
    "DEFAULT_BIN_WIDTH",
    "BitsBack",
    "Categorical",
    "Codec",
    "DiscretizedGaussian",
    "DiscretizedLinearAR",
    "DiscretizedLogistic",
    "DiscretizedMixtureLogistic",
    "GaussianBuckets",
    "Message",
    "Sequence",
    "Uniform",
]
