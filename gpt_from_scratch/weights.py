"""Load OpenAI's GPT-2 weights (Hugging Face safetensors files) into our GPTModel.

download.py fetches the files from the hub; this module reads them.

The released checkpoint uses Hugging Face's names (wte, h.0.attn.c_attn, ...) and stores its linear
layers as Conv1D, with weights laid out (in, out). Loading means renaming every tensor to our
parameter names, transposing the Conv1D weights to nn.Linear's (out, in), and splitting the fused
query/key/value projection c_attn into our three W_query, W_key and W_value. A config.json beside
the weights (the hub's, or what transformers' save_pretrained writes) gives the model's shape, so any
GPT-2-architecture checkpoint loads, e.g. distilgpt2's 6 layers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .download import DEFAULT_MODEL_SIZE, HF_REPOS, WEIGHTS_FILE, check_size, download_gpt2
from .errors import WeightsError
from .model import MODEL_CONFIGS, GPTConfig, GPTModel, model_config

CONFIG_FILE = "config.json"

# The tensors of one transformer block, as the checkpoint names them after "h.{i}.".
_BLOCK_TENSORS = [
    f"{part}.{kind}"
    for part in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")
    for kind in ("weight", "bias")
]


# ---------------------------------------------------------------------------------------------
# Reading a checkpoint
# ---------------------------------------------------------------------------------------------


def load_gpt2_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a GPT-2 safetensors file (or a folder holding model.safetensors) into hub-style names."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(
            f"no GPT-2 checkpoint at {path}: --weights-dir must be a folder holding {WEIGHTS_FILE} "
            f"(from e.g. https://huggingface.co/{HF_REPOS['gpt2-small']})"
        )
    try:
        state_dict = load_file(path)
    except SafetensorError as err:
        raise WeightsError(
            f"{path} is not a readable safetensors file ({err}): it may be truncated or corrupt, "
            "download it again"
        ) from err
    state_dict = _normalize(state_dict)
    if "wte.weight" not in state_dict:
        raise WeightsError(
            f"{path} is not a GPT-2 checkpoint: it has no token embedding 'wte.weight' "
            f"(its first tensors: {', '.join(list(state_dict)[:5]) or 'none'})"
        )
    return state_dict


def _normalize(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip transformers' 'transformer.' prefix; drop the attention-mask buffers and the tied lm_head."""
    weights = {}
    for name, tensor in state_dict.items():
        name = name.removeprefix("transformer.")
        # attn.bias / attn.masked_bias are causal masks, not weights (our model builds its own mask),
        # and lm_head is the same matrix as wte.
        if name.endswith((".attn.bias", ".attn.masked_bias")) or name.startswith("lm_head."):
            continue
        weights[name] = tensor
    return weights


def infer_config(state_dict: dict[str, torch.Tensor], n_heads: int | None = None) -> GPTConfig:
    """Read a checkpoint's architecture from its tensor shapes (n_heads from the matching GPT-2 size)."""
    return _shape_of(_normalize(state_dict), n_heads)


def _shape_of(state_dict: dict[str, torch.Tensor], n_heads: int | None) -> GPTConfig:
    """infer_config of a state dict already in hub-style names."""
    if "wte.weight" not in state_dict or "wpe.weight" not in state_dict:
        raise WeightsError("not a GPT-2 checkpoint: it lacks the embeddings wte.weight and wpe.weight")
    vocab_size, emb_dim = state_dict["wte.weight"].shape
    layers = {int(m.group(1)) for name in state_dict if (m := re.match(r"h\.(\d+)\.", name))}
    if n_heads is None:
        # The heads only reshape activations, so no tensor shape reveals how many there are.
        sizes = [cfg for cfg in MODEL_CONFIGS.values() if cfg.emb_dim == emb_dim]
        if not sizes:
            raise WeightsError(f"no known GPT-2 size has emb_dim {emb_dim}: pass n_heads explicitly")
        n_heads = sizes[0].n_heads
    return GPTConfig(
        vocab_size=vocab_size,
        context_length=state_dict["wpe.weight"].shape[0],
        emb_dim=emb_dim,
        n_heads=n_heads,
        n_layers=max(layers, default=-1) + 1,
    )


# ---------------------------------------------------------------------------------------------
# Copying into GPTModel
# ---------------------------------------------------------------------------------------------


def _checkpoint_names(n_layers: int) -> dict[str, str]:
    """For each of our parameter names, the checkpoint tensor it comes from (for error messages)."""
    names = {"tok_emb.weight": "wte.weight", "pos_emb.weight": "wpe.weight"}
    names |= {"final_norm.scale": "ln_f.weight", "final_norm.shift": "ln_f.bias"}
    for i in range(n_layers):
        h, b = f"h.{i}.", f"trf_blocks.{i}."
        for ours, part in (("W_query", "query"), ("W_key", "key"), ("W_value", "value")):
            names[f"{b}att.{ours}.weight"] = f"{h}attn.c_attn.weight (its {part} third, stored (in, out))"
            names[f"{b}att.{ours}.bias"] = f"{h}attn.c_attn.bias (its {part} third)"
        names |= {
            b + "att.out_proj.weight": h + "attn.c_proj.weight (stored (in, out))",
            b + "att.out_proj.bias": h + "attn.c_proj.bias",
            b + "ff.layers.0.weight": h + "mlp.c_fc.weight (stored (in, out))",
            b + "ff.layers.0.bias": h + "mlp.c_fc.bias",
            b + "ff.layers.2.weight": h + "mlp.c_proj.weight (stored (in, out))",
            b + "ff.layers.2.bias": h + "mlp.c_proj.bias",
            b + "norm1.scale": h + "ln_1.weight",
            b + "norm1.shift": h + "ln_1.bias",
            b + "norm2.scale": h + "ln_2.weight",
            b + "norm2.shift": h + "ln_2.bias",
        }
    return names


def _to_our_names(sd: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Rename the checkpoint's tensors to our parameter names, reshaping where the layouts differ."""
    ours = {
        "tok_emb.weight": sd["wte.weight"],
        "pos_emb.weight": sd["wpe.weight"],
        "final_norm.scale": sd["ln_f.weight"],
        "final_norm.shift": sd["ln_f.bias"],
    }
    for i in range(n_layers):
        h, b = f"h.{i}.", f"trf_blocks.{i}."
        # c_attn computes queries, keys and values in one matmul: split its outputs (last dim) in 3.
        q_w, k_w, v_w = sd[h + "attn.c_attn.weight"].chunk(3, dim=-1)
        q_b, k_b, v_b = sd[h + "attn.c_attn.bias"].chunk(3, dim=-1)
        # Conv1D stores weights as (in, out); nn.Linear wants (out, in): hence every .T below.
        ours |= {
            b + "att.W_query.weight": q_w.T,
            b + "att.W_query.bias": q_b,
            b + "att.W_key.weight": k_w.T,
            b + "att.W_key.bias": k_b,
            b + "att.W_value.weight": v_w.T,
            b + "att.W_value.bias": v_b,
            b + "att.out_proj.weight": sd[h + "attn.c_proj.weight"].T,
            b + "att.out_proj.bias": sd[h + "attn.c_proj.bias"],
            b + "ff.layers.0.weight": sd[h + "mlp.c_fc.weight"].T,
            b + "ff.layers.0.bias": sd[h + "mlp.c_fc.bias"],
            b + "ff.layers.2.weight": sd[h + "mlp.c_proj.weight"].T,
            b + "ff.layers.2.bias": sd[h + "mlp.c_proj.bias"],
            b + "norm1.scale": sd[h + "ln_1.weight"],
            b + "norm1.shift": sd[h + "ln_1.bias"],
            b + "norm2.scale": sd[h + "ln_2.weight"],
            b + "norm2.shift": sd[h + "ln_2.bias"],
        }
    return ours


def load_weights_into_gpt(model: GPTModel, state_dict: dict[str, torch.Tensor]) -> GPTModel:
    """Copy a GPT-2 checkpoint into model, checking that every tensor is present and fits."""
    return _copy_into(model, _normalize(state_dict))


def _copy_into(model: GPTModel, state_dict: dict[str, torch.Tensor]) -> GPTModel:
    """load_weights_into_gpt of a state dict already in hub-style names."""
    n_layers = model.cfg.n_layers
    expected = ["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"]
    expected += [f"h.{i}.{name}" for i in range(n_layers) for name in _BLOCK_TENSORS]
    missing = [name for name in expected if name not in state_dict]
    if missing:
        raise WeightsError(
            f"the checkpoint lacks {len(missing)} tensor(s) ({_first_few(missing)}); "
            + _size_hint(state_dict, model.cfg)
        )

    ours = _to_our_names(state_dict, n_layers)
    params = dict(model.named_parameters())
    # GPT-2 ties the output head to the token embedding; a head someone untied gets its own copy.
    if model.out_head.weight is not model.tok_emb.weight:
        ours["out_head.weight"] = ours["tok_emb.weight"]
    if set(params) != set(ours):
        raise WeightsError(
            f"the model's parameters are not GPT-2's (lacks {_first_few(sorted(set(ours) - set(params)))}; "
            f"extra {_first_few(sorted(set(params) - set(ours)))}): load the weights before changing it"
        )
    # Check every shape before copying any, so a failed load leaves the model as it was.
    checkpoint_names = _checkpoint_names(n_layers) | {"out_head.weight": "wte.weight"}
    for name, tensor in ours.items():
        if params[name].shape != tensor.shape:
            source = checkpoint_names[name]
            stored = tensor.T if "(in, out)" in source else tensor  # the shape as the file holds it
            raise WeightsError(
                f"the checkpoint's {source} has shape {tuple(stored.shape)}, which does not fit the "
                f"model's {name} of shape {tuple(params[name].shape)}; " + _size_hint(state_dict, model.cfg)
            )
    unused = sorted(set(state_dict) - set(expected))
    if unused:
        raise WeightsError(
            f"the checkpoint has {len(unused)} tensors the model has no place for ({_first_few(unused)}); "
            + _size_hint(state_dict, model.cfg)
        )
    with torch.no_grad():
        for name, tensor in ours.items():
            params[name].copy_(tensor)  # in place: keeps the parameter objects (and the tie)
    return model


def _first_few(names: list[str], n: int = 5) -> str:
    if not names:
        return "none"
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def _size_hint(state_dict: dict[str, torch.Tensor], cfg: GPTConfig) -> str:
    """Say how the checkpoint's architecture differs from the model's, pointing at --model-size."""
    try:
        found = infer_config(state_dict, n_heads=cfg.n_heads)
    except WeightsError:
        return "is it a GPT-2 checkpoint?"
    fields = ("emb_dim", "n_layers", "vocab_size", "context_length")
    diffs = [f for f in fields if getattr(found, f) != getattr(cfg, f)]
    if not diffs:
        return "the checkpoint looks incomplete or damaged; download it again"
    sizes = {(size.emb_dim, size.n_layers): name for name, size in MODEL_CONFIGS.items()}
    guess = sizes.get((found.emb_dim, found.n_layers))
    return (
        f"checkpoint has {', '.join(f'{f} {getattr(found, f)}' for f in diffs)}"
        f"{f' ({guess}?)' if guess else ''} but the model has "
        f"{', '.join(f'{f} {getattr(cfg, f)}' for f in diffs)}: check --model-size, or put the "
        f"checkpoint's {CONFIG_FILE} beside its {WEIGHTS_FILE}"
    )


# ---------------------------------------------------------------------------------------------
# The model's shape: config.json or --model-size
# ---------------------------------------------------------------------------------------------

# What our model hard-codes, as config.json keys: transformers' default first, then any equivalent.
_HARD_CODED: dict[str, tuple[object, ...]] = {
    "activation_function": ("gelu_new", "gelu_pytorch_tanh"),  # both are the tanh GELU
    "layer_norm_epsilon": (1e-5,),
    "scale_attn_weights": (True,),
    "scale_attn_by_inverse_layer_idx": (False,),
    "tie_word_embeddings": (True,),  # we drop lm_head and reuse wte, so an untied head would be lost
    "add_cross_attention": (False,),
}
_SHAPE_FIELDS = ("n_layers", "emb_dim", "n_heads", "vocab_size", "context_length")


def config_from_hf(d: dict) -> GPTConfig:
    """Build the GPTConfig that a Hugging Face GPT-2 config.json (parsed) describes."""
    if d.get("model_type") != "gpt2":
        raise WeightsError(
            f"model_type is {d.get('model_type')!r}, not 'gpt2': only GPT-2-architecture checkpoints load"
        )
    for key, accepted in _HARD_CODED.items():
        if d.get(key, accepted[0]) not in accepted:
            raise WeightsError(
                f"{key} is {d[key]!r} but our GPTModel hard-codes {accepted[0]!r}: this checkpoint "
                f"cannot load into it; use one with {key} {accepted[0]!r}"
            )
    # A key left out means transformers' default, which GPTConfig's defaults equal.
    default = GPTConfig()
    positions = "n_positions" if "n_positions" in d else "n_ctx"  # older configs name it n_ctx
    cfg = GPTConfig(
        vocab_size=_positive_int(d, "vocab_size", default.vocab_size),
        context_length=_positive_int(d, positions, default.context_length),
        emb_dim=_positive_int(d, "n_embd", default.emb_dim),
        n_heads=_positive_int(d, "n_head", default.n_heads),
        n_layers=_positive_int(d, "n_layer", default.n_layers),
    )
    if cfg.emb_dim % cfg.n_heads:
        raise WeightsError(f"n_embd {cfg.emb_dim} is not divisible by n_head {cfg.n_heads}: fix the file")
    if d.get("n_inner") not in (None, 4 * cfg.emb_dim):
        raise WeightsError(
            f"n_inner is {d['n_inner']} but our GPTModel hard-codes 4 * n_embd = {4 * cfg.emb_dim}: "
            "this checkpoint cannot load into it"
        )
    return cfg


def _positive_int(d: dict, key: str, default: int) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WeightsError(f"{key} is {value!r}, not a positive whole number: fix the file")
    return value


def _config_path(weights_dir: str | Path) -> Path:
    path = Path(weights_dir)
    # weights_dir may name the safetensors file itself: its config.json lies beside it.
    return (path.parent if path.is_file() else path) / CONFIG_FILE


def _read_hf_config(path: Path) -> GPTConfig:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: bad JSON, or bytes that are not UTF-8
        raise WeightsError(
            f"{path} is not valid JSON ({err}): replace it with the checkpoint's own {CONFIG_FILE}"
        ) from err
    if not isinstance(d, dict):
        raise WeightsError(f"{path} holds a {type(d).__name__}, not a GPT-2 config (a JSON object)")
    try:
        return config_from_hf(d)
    except WeightsError as err:
        raise WeightsError(f"{path}: {err}") from err


def _same_shape(a: GPTConfig, b: GPTConfig) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in _SHAPE_FIELDS)


def _describe(cfg: GPTConfig, other: GPTConfig) -> str:
    """cfg's layers, emb_dim and heads, plus its vocab_size and context_length where other's differ."""
    extra = [f for f in ("vocab_size", "context_length") if getattr(cfg, f) != getattr(other, f)]
    parts = [f"{cfg.n_layers} layers", f"emb_dim {cfg.emb_dim}", f"{cfg.n_heads} heads"]
    return ", ".join(parts + [f"{f} {getattr(cfg, f)}" for f in extra])


def _config_for(model_size: str | None, weights_dir: str | Path) -> tuple[GPTConfig, Path | None]:
    """The shape to build, and the config.json it came from (None: from model_size)."""
    path = _config_path(weights_dir)
    if not path.is_file():
        return model_config(model_size or DEFAULT_MODEL_SIZE), None
    found = _read_hf_config(path)
    if model_size is not None and not _same_shape(asked := model_config(model_size), found):
        raise WeightsError(
            f"--model-size {model_size} ({_describe(asked, found)}) disagrees with {path} "
            f"({_describe(found, asked)}): leave out --model-size to use {CONFIG_FILE}'s shape"
        )
    return found, path


def _check_shape(state_dict: dict[str, torch.Tensor], cfg: GPTConfig, config: Path | None) -> None:
    """Refuse tensors of another shape than cfg before building a model (gpt2-xl is 6 GB) for them."""
    found = _shape_of(state_dict, n_heads=cfg.n_heads)  # the heads leave no trace in the shapes
    if _same_shape(found, cfg):
        return
    if config is None:
        raise WeightsError("the checkpoint does not fit the model: " + _size_hint(state_dict, cfg))
    raise WeightsError(
        f"the tensors beside {config} hold {_describe(found, cfg)} but it says {_describe(cfg, found)}: "
        f"they come from different checkpoints; put the weights' own {CONFIG_FILE} beside them"
    )


def load_pretrained_gpt(
    model_size: str | None,
    weights_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    **model_options: Any,
) -> GPTModel:
    """GPTModel(cfg, **model_options) filled with GPT-2 weights from weights_dir, else from the hub.

    The shape comes from weights_dir's config.json when it has one, else from model_size (None:
    gpt2-small); a model_size that disagrees with the config.json is refused.
    """
    if model_size is not None:
        check_size(model_size, MODEL_CONFIGS)
    if weights_dir is None:
        model_size = model_size or DEFAULT_MODEL_SIZE
        cfg, config = model_config(model_size), None
        state_dict = load_gpt2_state_dict(download_gpt2(model_size, cache_dir))
    else:
        cfg, config = _config_for(model_size, weights_dir)
        state_dict = load_gpt2_state_dict(weights_dir)
    _check_shape(state_dict, cfg, config)
    model = GPTModel(cfg, **model_options)
    return _copy_into(model, state_dict).eval()  # state_dict is in hub-style names already
