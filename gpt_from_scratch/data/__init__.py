"""The data: the SMS Spam Collection or your own labelled file, split as the book splits it, as tensors.

sms_spam.py downloads and reads the SMS file; message_files.py reads a user's .csv, .tsv, .jsonl or
text file (one reader per format); splits.py balances and splits the messages into train,
validation and test CSV files; dataset.py is the book's SpamDataset over one of them.
"""

from .dataset import SpamDataset
from .splits import (
    HELDOUT_NAMES,
    LABEL_NAMES,
    MIN_EVAL_MESSAGES,
    SMS_SOURCE,
    SPLIT_NAMES,
    SPLITS_INFO,
    TABLE_SOURCE,
    balance_classes,
    check_evaluable,
    class_names,
    create_balanced_dataset,
    drop_duplicates_normalised,
    normalise,
    prepare_splits,
    random_split,
    read_heldout,
    read_split_csv,
    read_split_info,
)

__all__ = [
    "HELDOUT_NAMES",
    "LABEL_NAMES",
    "MIN_EVAL_MESSAGES",
    "SMS_SOURCE",
    "SPLITS_INFO",
    "SPLIT_NAMES",
    "SpamDataset",
    "TABLE_SOURCE",
    "balance_classes",
    "check_evaluable",
    "class_names",
    "create_balanced_dataset",
    "drop_duplicates_normalised",
    "normalise",
    "prepare_splits",
    "random_split",
    "read_heldout",
    "read_split_csv",
    "read_split_info",
]
