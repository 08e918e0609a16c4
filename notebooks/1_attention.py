# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 1: your attention on a real message
#
# Open this when `pytest exercises/ -m attention` passes. It runs your `split_heads` and
# `scaled_dot_product_attention` (exercises/attention.py), with your causal mask (exercise 2), in the
# first transformer block of a tiny GPT-2 classifier trained for a few seconds on the SMS messages,
# and draws each head's attention weights: a row is the token that looks (the query), a column the
# token it looks at (the key). Each row sums to 1, and nothing lies above the diagonal: the future.

# %%
import matplotlib.pyplot as plt
import torch

from gpt_from_scratch import seam
from gpt_from_scratch.course.notebook import SMS_FILE, tiny_classifier, token_labels, yours
from gpt_from_scratch.data.sms_spam import read_sms_spam
from gpt_from_scratch.predict.tokenizer import get_tokenizer

tokenizer = get_tokenizer()
model, config = tiny_classifier()

# %% [markdown]
# One real spam message, short enough to read on the axes.

# %%
messages = read_sms_spam(SMS_FILE)
spam = messages[messages["Label"] == "spam"]["Text"]
text = next(t for t in spam if 10 <= len(tokenizer.encode(t)) <= 16)
ids = tokenizer.encode(text)
tokens = token_labels(ids, tokenizer)
print(text)


# %%
def first_block_attention(model, ids: list[int]) -> torch.Tensor:
    """The attention weights of the model's first block on one message: (heads, tokens, tokens)."""
    block = model.trf_blocks[0]
    attention = block.att
    with torch.no_grad():
        x = model.tok_emb(torch.tensor([ids])) + model.pos_emb(torch.arange(len(ids)))  # (1, tokens, emb_dim)
        x = block.norm1(x)  # the block normalises its input before attention
        queries = seam.split_heads(attention.W_query(x), attention.num_heads)  # (1, heads, tokens, head_dim)
        keys = seam.split_heads(attention.W_key(x), attention.num_heads)
        values = seam.split_heads(attention.W_value(x), attention.num_heads)
        mask = seam.causal_mask(len(ids))  # (tokens, tokens), True above the diagonal
        _, weights = seam.scaled_dot_product_attention(queries, keys, values, mask)
    return weights[0]  # (heads, tokens, tokens)


weights = yours(first_block_attention, model, ids) if model is not None else None

# %%
if weights is not None:
    heads = weights.shape[0]
    fig, axes = plt.subplots(1, heads, figsize=(6 * heads, 6), squeeze=False)
    for head, ax in enumerate(axes[0]):
        ax.imshow(weights[head], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90)
        ax.set_yticks(range(len(tokens)), tokens)
        ax.set_xlabel("key: the token looked at")
        ax.set_ylabel("query: the token looking")
        ax.set_title(f"head {head + 1}")
    fig.suptitle("Your attention weights, first block of the tiny classifier")
    fig.tight_layout()
    plt.show()
    print("row sums:", weights.sum(dim=-1).min().item(), "to", weights.sum(dim=-1).max().item())
