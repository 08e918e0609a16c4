"""The model card: what a saved classifier is, how it was trained, and how well it does, in words."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..predict import ClassifierInfo

TRAINABLE = {
    "last_layer": "the new output head only",
    "last_block": "the last transformer block, the final LayerNorm and the new head",
    "last_two_blocks": "the last two transformer blocks, the final LayerNorm and the new head",
    "all": "every weight",
}


def card_rows(info: ClassifierInfo, metrics: dict | None) -> list[tuple[str, str]]:
    """(what, value) rows describing the classifier from its config.json and metrics.json."""
    model, trained = info.model, info.options
    size = trained.get("model_size") or "a GPT-2 shape"
    shape = f"{model['n_layers']} blocks, {model['emb_dim']} dims, {model['n_heads']} heads"
    if trained.get("weights_dir"):
        start = f"the weights in {trained['weights_dir']}"
    elif trained.get("weights") == "random":
        start = "random weights (no pretraining)"
    else:
        start = "OpenAI's pretrained weights"
    rows = [
        (
            "base model",
            f"{size} ({shape}), from {start}; its LM head replaced by a {info.num_classes}-class head",
        ),
        ("labels", ", ".join(info.labels)),
        ("trainable", _trainable(trained, metrics)),
        ("position read", _position(info)),
        ("decision", _decision(info)),
    ]
    if trained:
        rows.append(("recipe", _recipe(trained)))
    if metrics:
        accuracies = (
            f"train {metrics['train_accuracy']:.2%} · validation {metrics['validation_accuracy']:.2%} · "
            f"test {metrics['test_accuracy']:.2%}"
        )
        rows.append(("accuracy", accuracies))
        rows += _trust_rows(metrics.get("evaluation"))
        seen, seconds = metrics.get("examples_seen", 0), metrics.get("training_seconds", 0)
        rows.append(
            ("training", f"{seen:,} examples seen in {seconds:.1f} s on {metrics.get('device', '?')}")
        )
    return rows


def _decision(info: ClassifierInfo) -> str:
    """How a label is chosen: the most probable one, or the threshold finetune --target-fpr chose."""
    threshold, labels = info.threshold, info.labels
    if threshold is None:
        return "the more probable label"
    return (
        f"{labels[1]} when P({labels[1]}) >= {threshold['value']:.4f}, chosen on validation data for at "
        f"most {threshold['target_false_positive_rate']:.2%} of {labels[0]} flagged "
        f"({threshold['validation_false_positive_rate']:.2%} of {threshold['validation_negatives']:,})"
    )


def _trust_rows(evaluation: dict | None) -> list[tuple[str, str]]:
    """The test messages never seen in training, and the false positives at the natural share."""
    rows = []
    leakage = (evaluation or {}).get("leakage")
    if leakage and leakage["unseen_normalised_accuracy"] is not None:
        rows.append(
            (
                "unseen test messages",
                f"{leakage['unseen_normalised_accuracy']:.2%} of the {leakage['unseen_normalised_messages']} "
                f"test messages not in training ({leakage['seen_normalised']} are)",
            )
        )
    natural = (evaluation or {}).get("natural")
    if natural and natural.get("false_positive_rate") is not None:
        low, high = natural["false_positives_per_1000_interval"]
        precision = "-" if natural["precision"] is None else f"{natural['precision']:.2%}"
        rows.append(
            (
                "false positives",
                f"{natural['false_positives_per_1000']:.1f} per 1,000 (95% interval {low:.1f}-{high:.1f}, "
                f"{natural['negatives']:,} messages), precision {precision} at the "
                f"natural share of {natural['positive_share']:.1%}",
            )
        )
    return rows


def card_markdown(info: ClassifierInfo, metrics: dict | None, model_dir: Path) -> str:
    """The card as a Markdown list, with a line saying so when there is no metrics.json."""
    rows = "\n".join(f"- **{what}**: {value}" for what, value in card_rows(info, metrics))
    text = f"### The classifier in `{model_dir}`\n\n{rows}\n"
    if metrics is None:
        text += (
            f"\n{model_dir} holds no metrics.json, so no accuracies or curves: `finetune` writes it "
            "beside the model.\n"
        )
    return text


def curves(metrics: dict | None, num_epochs: int) -> dict[str, pd.DataFrame]:
    """{'loss': ..., 'accuracy': ...}: epoch, value and split (training, validation) from metrics.json."""
    if not metrics:
        return {}
    frames = {}
    for name, train_key, val_key in (
        ("loss", "train_losses", "val_losses"),
        ("accuracy", "train_accs", "val_accs"),
    ):
        rows = []
        for split, key in (("training", train_key), ("validation", val_key)):
            values = metrics.get(key) or []
            rows += [
                {"epoch": x, name: value, "split": split}
                for x, value in zip(_epochs(name, len(values), num_epochs), values, strict=True)
            ]
        frames[name] = pd.DataFrame(rows, columns=["epoch", name, "split"])
    return frames


def _epochs(name: str, count: int, num_epochs: int) -> list[float]:
    """Where on the epoch axis each value was measured."""
    if name == "accuracy":  # at the end of each epoch (the last one perhaps cut short by --max-steps)
        return [num_epochs * (i + 1) / count for i in range(count)]
    # The losses, every --eval-freq steps from the first: spread over the epochs as plots.py does.
    return [num_epochs * i / (count - 1) if count > 1 else 0.0 for i in range(count)]


def _trainable(trained: dict, metrics: dict | None) -> str:
    choice = trained.get("trainable", "last_block")
    if choice == "lora":
        what = (
            f"LoRA updates of rank {trained.get('lora_rank')} (alpha {trained.get('lora_alpha')}, "
            f"{trained.get('lora_scaling', 'book')} scaling) and the new head"
        )
    else:
        what = TRAINABLE.get(choice, choice)
    if metrics and "trainable_parameters" in metrics:
        what += f": {metrics['trainable_parameters']:,} of {metrics['total_parameters']:,} parameters"
    return f"`{choice}`: {what}"


def _position(info: ClassifierInfo) -> str:
    position, pooling, causal = info.position, info.pooling, info.causal
    if pooling == "mean":
        text = "the mean of the vectors of the message's real tokens"
    elif pooling == "mean_with_padding":
        text = "the mean of the vectors of every position, padding included"
    elif position == "first":
        text = "the first token's vector" + (
            ": under the causal mask it has seen only itself, so the rest of a message cannot change "
            "the answer"
            if causal
            else ""
        )
    elif position == "flexible":
        text = "the vector of each message's last real token"
    else:
        text = "the last position's vector (the book's choice)" + (
            f": messages are padded to {info.max_length} tokens, so for most it is a padding token that has "
            "seen the whole message through the causal mask"
            if info.padded
            else ""
        )
    if not causal:
        text += "; trained without the causal mask, every token sees every other"
    return text


def _recipe(trained: dict) -> str:
    context = {
        "longest": "padded to the longest training message",
        "full": "padded to the model's context",
        "none": "unpadded",
    }
    steps = f", at most {trained['max_steps']} steps" if trained.get("max_steps") else ""
    if trained.get("max_length"):
        messages = f"padded or truncated to {trained['max_length']} tokens"
    else:
        messages = context.get(trained.get("context", "longest"), str(trained.get("context")))
    return (
        f"{trained.get('num_epochs')} epoch(s){steps}, batch {trained.get('batch_size')}, AdamW lr "
        f"{trained.get('lr')} and weight decay {trained.get('weight_decay')}, seed {trained.get('seed')}; "
        f"messages {messages}"
    )
