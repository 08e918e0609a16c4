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
# # Exercise 4: the loss at the last position, against the others
#
# Open this when `pytest exercises/ -m loss` passes. Under the causal mask only the last token has
# seen the whole message, so the classifier is trained, and your `calc_loss_batch` computes the
# loss, there. This notebook computes the cross-entropy the tiny classifier would have at every
# position of real validation messages, counted from the end, and puts your loss beside the last.

# %%
import matplotlib.pyplot as plt
import torch

from gpt_from_scratch import seam
from gpt_from_scratch.course.notebook import split_messages, tiny_classifier, yours
from gpt_from_scratch.predict.tokenizer import get_tokenizer

LAST = 12  # positions shown, counted back from the end of each message
tokenizer = get_tokenizer()
model, config = tiny_classifier()


# %%
def losses_by_position(model, texts, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy at each of the LAST positions before a message's end, and your loss of each."""
    per_position, yours_ = [], []
    for text, label in zip(texts, labels, strict=True):
        ids = torch.tensor([tokenizer.encode(text)])  # (1, tokens): the whole message
        target = torch.tensor([label])
        with torch.no_grad():
            logits = model(ids)[0]  # (tokens, classes): one answer per prefix
            losses = torch.nn.functional.cross_entropy(logits, target.expand(len(logits)), reduction="none")
            per_position.append(losses[-LAST:])
            yours_.append(seam.calc_loss_batch(ids, target, model, "cpu"))
    return torch.stack(per_position).mean(dim=0), torch.stack(yours_)


validation = split_messages("validation").head(80) if model is not None else None
long_enough = (
    validation[[len(tokenizer.encode(t)) >= LAST for t in validation["Text"]]] if model is not None else None
)
result = (
    yours(losses_by_position, model, long_enough["Text"], long_enough["Label"]) if model is not None else None
)

# %%
if result is not None:
    mean_loss, your_losses = result
    positions = list(range(-LAST, 0))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(positions, mean_loss, color=["tab:gray"] * (LAST - 1) + ["tab:blue"])
    ax.plot([-1], [your_losses.mean()], "r*", markersize=16, label="your calc_loss_batch (mean)")
    ax.set_xlabel("position, counted from the end of the message (-1: the last token)")
    ax.set_ylabel("mean cross-entropy")
    ax.set_title(f"Loss at each position, {len(your_losses)} validation messages")
    ax.legend()
    plt.show()
    print(f"last position: {mean_loss[-1]:.4f}, your loss: {your_losses.mean():.4f}")
