"""Write the exercise tests' golden files from the reference solutions: `python tests/make_golden.py`.

Every input comes from a fixed seed and every output from solutions/, on the CPU, so the files are
reproducible bit for bit. Each recorded mistake (tests/mutants.py) is run on the same inputs and its
output stored too, so that a test can recognise a learner's exact mistake and show its hint.
`--check` (what `tox -e golden` runs) regenerates the files and exits 1 if any byte changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.nn.attention import SDPBackend, sdpa_kernel

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mutants import MUTANTS  # noqa: E402

from gpt_from_scratch.grading.checks import GOLDEN_DIR, TokenLookup  # noqa: E402
from gpt_from_scratch.grading.contract import guarded_global_state  # noqa: E402
from gpt_from_scratch.model import GPTConfig, GPTModel, MultiHeadAttention  # noqa: E402
from solutions import accuracy, attention, causal_mask, classification_head, loss  # noqa: E402

SOLUTIONS = {
    "attention": attention,
    "causal_mask": causal_mask,
    "classification_head": classification_head,
    "loss": loss,
    "accuracy": accuracy,
}
# The tiny architecture the classification-head exercise is checked on.
HEAD_CONFIG = GPTConfig(vocab_size=50, context_length=8, emb_dim=8, n_heads=2, n_layers=3)


def randn(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def gradients(key: str, function, inputs: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """The reference's gradients of sum(output * upstream) with respect to each input, and the upstreams.

    function(*inputs) returns a tuple of outputs; each upstream gradient is drawn from its own seed.
    The exercise tests give the learner's function the same inputs and upstreams
    (checks.assert_gradients_match_golden).
    """
    leaves = {name: torch.nn.Parameter(t.detach().clone()) for name, t in inputs.items()}
    outputs = function(*leaves.values())
    upstream = {f"{key}.upstream.{i}": randn(seed + i, *o.shape) for i, o in enumerate(outputs)}
    total = sum((o * u).sum() for o, u in zip(outputs, upstream.values(), strict=True))
    grads = torch.autograd.grad(total, list(leaves.values()))
    return upstream | {f"{key}.grad.{name}": g for name, g in zip(leaves, grads, strict=True)}


CTX = ("context", "weights")


def clones(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t.clone() for t in tensors)


def attention_golden() -> tuple[dict, dict, list]:
    """Inputs, and for each case (key, function name, call) how to compute the outputs."""
    q, k, v = randn(1, 2, 3, 5, 4), randn(2, 2, 3, 5, 4), randn(3, 2, 3, 5, 4)
    mask = causal_mask.causal_mask(5)
    x, heads = randn(4, 2, 5, 12), randn(5, 2, 3, 5, 4)
    torch.manual_seed(6)
    mha = MultiHeadAttention(d_in=12, d_out=12, dropout=0.0, num_heads=3, qkv_bias=True)
    mha_x = randn(7, 2, 6, 12)
    with torch.no_grad():
        mha_output = mha(mha_x)  # through the seam, which points at solutions/
    inputs = {"sdpa.queries": q, "sdpa.keys": k, "sdpa.values": v, "sdpa.mask": mask}
    inputs |= {"heads.x": x, "heads.split_output": heads, "mha.x": mha_x, "mha.output": mha_output}
    inputs |= {f"mha.state.{name}": t for name, t in mha.state_dict().items()}
    inputs |= gradients(
        "sdpa.masked",
        lambda q, k, v: attention.scaled_dot_product_attention(q, k, v, mask),
        {"queries": q, "keys": k, "values": v},
        seed=20,
    )
    inputs |= gradients("heads.split", lambda x: (attention.split_heads(x, 3),), {"x": x}, seed=22)
    inputs |= gradients("heads.merged", lambda h: (attention.merge_heads(h),), {"x": heads}, seed=23)
    # Every call gets its own copies: a mistake that writes into its inputs must not change the next call's.
    cases = [
        ("sdpa.unmasked", "scaled_dot_product_attention", lambda f: f(*clones(q, k, v), None), CTX),
        ("sdpa.masked", "scaled_dot_product_attention", lambda f: f(*clones(q, k, v), mask), CTX),
        ("heads.split", "split_heads", lambda f: f(x.clone(), 3), None),
        ("heads.merged", "merge_heads", lambda f: f(heads.clone()), None),
    ]
    return inputs, {"heads.num_heads": 3}, cases


def causal_mask_golden() -> tuple[dict, dict, list]:
    scores = randn(8, 2, 4, 4)
    mask = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)  # an input, written out
    inputs = {"apply.scores": scores, "apply.mask": mask}
    inputs |= gradients(
        "apply.masked",
        lambda s: (torch.softmax(causal_mask.apply_mask(s, mask), dim=-1),),
        {"scores": scores},
        seed=24,
    )
    cases = [
        ("mask.5", "causal_mask", lambda f: f(5), None),
        ("mask.1", "causal_mask", lambda f: f(1), None),
        ("apply.masked", "apply_mask", lambda f: f(scores.clone(), mask), None),
    ]
    return inputs, {}, cases


def trainable_names(freeze, trainable: str) -> list[str]:
    torch.manual_seed(0)
    model = classification_head.replace_head(GPTModel(HEAD_CONFIG), 2)
    try:
        with guarded_global_state():  # a mistake may switch off grad mode for the program
            freeze(model, trainable)
    except ValueError:
        return []
    return [name for name, p in model.named_parameters() if p.requires_grad]


def classification_head_golden() -> tuple[dict, dict, list]:
    metadata = {"head.config": HEAD_CONFIG.to_dict()}
    for choice in classification_head.TRAINABLE_CHOICES:
        metadata[f"trainable.{choice}"] = trainable_names(classification_head.freeze_all_but, choice)
        for m in MUTANTS:
            if m.function == "freeze_all_but":
                metadata[f"mistake.{m.name}.trainable.{choice}"] = trainable_names(m.implementation, choice)
    return {}, metadata, []


def lookup_inputs(seed: int, batch: int, num_tokens: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "table": torch.randn(20, 3, generator=g),  # 20 token ids, 3 classes
        "inputs": torch.randint(0, 20, (batch, num_tokens), generator=g),
        "targets": torch.randint(0, 3, (batch,), generator=g),
    }


def lookup(table: torch.nn.Parameter) -> TokenLookup:
    """A TokenLookup whose table is this very parameter, so that gradients reach it."""
    model = TokenLookup(table.detach())
    model.table = table
    return model


def loss_golden() -> tuple[dict, dict, list]:
    data = lookup_inputs(9, batch=6, num_tokens=5)
    model = TokenLookup(data["table"])
    inputs = {f"batch.{name}": t for name, t in data.items()}
    inputs |= gradients(
        "batch.loss",
        lambda table: (loss.calc_loss_batch(data["inputs"], data["targets"], lookup(table), "cpu"),),
        {"table": data["table"]},
        seed=25,
    )
    cases = [
        ("batch.loss", "calc_loss_batch", lambda f: f(data["inputs"], data["targets"], model, "cpu"), None)
    ]
    return inputs, {}, cases


def accuracy_golden() -> tuple[dict, dict, list]:
    data = lookup_inputs(10, batch=10, num_tokens=4)
    model = TokenLookup(data["table"])
    inputs = {f"batch.{name}": t for name, t in data.items()}
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data["inputs"], data["targets"]), batch_size=4
    )

    def counts(f):
        correct, total = f(data["inputs"], data["targets"], model, "cpu")
        return torch.tensor([correct, total], dtype=torch.float64)

    cases = [
        ("batch.counts", "calc_accuracy_batch", counts, None),
        (
            "loader.all",
            "calc_accuracy_loader",
            lambda f: torch.as_tensor(f(loader, model, "cpu"), dtype=torch.float64),
            None,
        ),
        (
            "loader.first2",
            "calc_accuracy_loader",
            lambda f: torch.as_tensor(f(loader, model, "cpu", 2), dtype=torch.float64),
            None,
        ),
    ]
    return inputs, {}, cases


GOLDEN = {
    "attention": attention_golden,
    "causal_mask": causal_mask_golden,
    "classification_head": classification_head_golden,
    "loss": loss_golden,
    "accuracy": accuracy_golden,
}


def outputs(key: str, result, names) -> dict[str, torch.Tensor]:
    if names is None:
        return {key: result}
    return {f"{key}.{name}": value for name, value in zip(names, result, strict=True)}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether a mistake's output cannot be told from the correct one on these inputs.

    Looser than any test's tolerance and than the mistake matching in checks.py: a mistake that
    differs only by rounding here (an unstable softmax on small scores) is not recorded, so a
    learner's output near the correct one is never taken for that mistake.
    """
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    return torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-4, equal_nan=True)


def build(concept: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and metadata of one concept's golden file."""
    inputs, metadata, cases = GOLDEN[concept]()
    tensors = dict(inputs)
    meta = dict(metadata)
    for key, function, call, names in cases:
        tensors |= outputs(key, call(getattr(SOLUTIONS[concept], function)), names)
        for m in MUTANTS:
            if m.concept == concept and m.function == function:
                try:
                    with guarded_global_state():  # a mistake may switch off grad mode for the program
                        result = call(m.implementation)
                    mistake = outputs(key, result, names)
                except Exception:  # a mutant that crashes on these inputs needs no recognising
                    continue
                correct = outputs(key, call(getattr(SOLUTIONS[concept], function)), names)
                tensors |= {
                    f"mistake.{m.name}.{k}": v
                    for k, v in mistake.items()
                    if isinstance(v, torch.Tensor) and not _same(v, correct[k])
                }
    for m in MUTANTS:
        if m.concept == concept:
            meta[f"hint.{m.name}"] = m.hint
    # One metadata key: safetensors writes a dict of several in no fixed order.
    meta = {"golden": json.dumps(meta, sort_keys=True)}
    # Cloned: outputs can be views of inputs, and safetensors stores no shared memory.
    return {k: v.detach().clone().contiguous() for k, v in tensors.items()}, meta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a regenerated file differs")
    args = parser.parse_args()
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    changed = []
    for concept in GOLDEN:
        path = GOLDEN_DIR / f"{concept}.safetensors"
        before = path.read_bytes() if path.exists() else None
        # PyTorch's fused CPU attention kernel (a mistake calls it) rounds its last bit differently on
        # different CPUs (AVX-512 or AVX2); its math backend is matmul and softmax, which give the same
        # bits everywhere, as the reference's own attention does.
        with sdpa_kernel(SDPBackend.MATH):
            tensors, metadata = build(concept)
        save_file(tensors, str(path), metadata=metadata)
        if path.read_bytes() != before:
            changed.append(path.name)
    print(
        f"golden files in {GOLDEN_DIR.relative_to(ROOT)}: "
        + (f"changed {changed}" if changed else "unchanged")
    )
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
