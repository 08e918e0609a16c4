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
# # Exercise 5: accuracy, and P(spam) after each token
#
# Open this when `pytest exercises/ -m accuracy` passes, last. It measures the tiny classifier with
# your `calc_accuracy_loader`, then follows one message token by token: under the causal mask the
# output at token t has seen only tokens 0..t, so one forward pass gives P(spam) after every prefix
# of the message at once. The dots check it: each prefix classified on its own gives the same values.

# %%
import matplotlib.pyplot as plt
from torch.utils.data import DataLoader

from gpt_from_scratch import seam
from gpt_from_scratch.course.notebook import MODEL_DIR, SMS_FILE, tiny_classifier, token_labels, yours
from gpt_from_scratch.data import SpamDataset
from gpt_from_scratch.data.sms_spam import read_sms_spam
from gpt_from_scratch.predict import load_saved
from gpt_from_scratch.predict.prefixes import spam_after_each_token
from gpt_from_scratch.predict.tokenizer import get_tokenizer

tokenizer = get_tokenizer()
model, config = tiny_classifier()

# %%
if model is not None:
    classifier, _ = load_saved(MODEL_DIR)  # reads each message's last real token, as trained
    test_set = SpamDataset(MODEL_DIR / "data" / "test.csv", tokenizer, max_length=config["max_length"])
    accuracy = yours(seam.calc_accuracy_loader, DataLoader(test_set, batch_size=8), classifier, "cpu")
    if accuracy is not None:
        print(f"your calc_accuracy_loader: test accuracy {accuracy:.3f} after a few seconds of training")

# %%
messages = read_sms_spam(SMS_FILE)
spam = messages[messages["Label"] == "spam"]["Text"]
text = next(t for t in spam if "prize" in t and 15 <= len(tokenizer.encode(t)) <= 25)
ids = tokenizer.encode(text)
print(text)
after_each = yours(spam_after_each_token, model, ids) if model is not None else None
one_by_one = (
    [yours(spam_after_each_token, model, ids[: t + 1])[-1].item() for t in range(len(ids))]
    if after_each is not None
    else None
)

# %%
if after_each is not None:
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(range(len(ids)), after_each, "-", label="one forward pass: every prefix at once")
    ax.plot(range(len(ids)), one_by_one, "o", fillstyle="none", label="each prefix classified on its own")
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(ids)), token_labels(ids, tokenizer), rotation=90)
    ax.set_ylim(0, 1)
    ax.set_ylabel("P(spam) after this token")
    ax.set_title("P(spam) as the message is read, token by token")
    ax.legend()
    fig.tight_layout()
    plt.show()
