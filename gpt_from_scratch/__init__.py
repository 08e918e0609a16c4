"""GPT-2 from scratch in PyTorch, finetuned as an SMS spam classifier."""

from .model import GPTConfig, GPTModel, MultiHeadAttention, model_config

__all__ = ["GPTConfig", "GPTModel", "MultiHeadAttention", "model_config"]
__version__ = "0.1.0"
