"""The one prediction core: what a classifier reads, a message's encoding, its probabilities.

readout.py decides which vector the head classifies (the last token, the first, a mean); encode.py
turns a message into the ids a classifier was trained on; probabilities.py runs the classifier and
reads its probabilities, once for every caller; classifier.py describes a saved classifier
(config.json, read once), loads it, and classifies texts with it.
"""

from .classifier import (
    ClassifierInfo,
    check_threshold,
    classify_text,
    classify_texts,
    gpt2_tokenizer,
    labelled,
    load_saved,
    positive_probabilities,
    text_probabilities,
)
from .encode import encode_for_classifier
from .probabilities import (
    LABEL_NAMES,
    Prediction,
    class_probabilities,
    loader_probabilities,
    positive_class,
    read_probabilities,
)
from .readout import gpt_model, token_embedding

__all__ = [
    "LABEL_NAMES",
    "ClassifierInfo",
    "Prediction",
    "check_threshold",
    "class_probabilities",
    "classify_text",
    "classify_texts",
    "encode_for_classifier",
    "gpt2_tokenizer",
    "gpt_model",
    "labelled",
    "load_saved",
    "loader_probabilities",
    "positive_class",
    "positive_probabilities",
    "read_probabilities",
    "text_probabilities",
    "token_embedding",
]
