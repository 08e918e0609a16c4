"""Loading GPT-2 checkpoints, checked against Hugging Face transformers' own GPT-2 as the reference.

Every test is offline: the checkpoints are tiny random GPT-2s written by transformers, and the hub is
either unreachable (a patched socket) or replaced by a fake that writes into a temporary HF cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from gpt_from_scratch import download
from gpt_from_scratch.download import HF_REPOS, WEIGHTS_FILE, download_gpt2
from gpt_from_scratch.errors import DownloadError, WeightsError
from gpt_from_scratch.model import GPTConfig, GPTModel, model_config
from gpt_from_scratch.weights import (
    CONFIG_FILE,
    config_from_hf,
    infer_config,
    load_gpt2_state_dict,
    load_pretrained_gpt,
    load_weights_into_gpt,
)

transformers = pytest.importorskip("transformers")

# The tiny GPT-2 has the shape of model_config("tiny"), so load_pretrained_gpt("tiny", ...) can read it.
TINY = model_config("tiny")
# Both models compute in fp32 on the CPU; the only differences are the order of floating-point ops.
TOL = {"atol": 1e-5, "rtol": 1e-5}
LAYOUTS = ("transformers", "hub")


# openai-community/gpt2's config.json, as the hub serves it.
HUB_GPT2_CONFIG = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_layer": 12,
    "n_positions": 1024,
    "resid_pdrop": 0.1,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}
# A shape no --model-size names, so only its config.json can describe it.
CUSTOM = {"n_layer": 3, "n_embd": 48, "n_head": 3, "n_positions": 64, "vocab_size": 1000}


def _random_gpt2(**shape: int):
    """A seeded random GPT2LMHeadModel of the given shape, in eval mode."""
    cfg = transformers.GPT2Config(
        **shape,
        activation_function="gelu_new",  # the tanh GELU that GPT-2 (and our GELU) uses
        layer_norm_epsilon=1e-5,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,  # inside even a small vocabulary
        eos_token_id=0,
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # make the LayerNorms non-trivial, so a swapped scale/shift would show
        for name, param in model.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                param.uniform_(0.5, 1.5)
            elif name.endswith("bias"):  # transformers starts every bias at zero
                param.normal_(0.0, 0.1)
    return model


def _save_both_layouts(model, root: Path, hub_config: bool) -> dict[str, Path]:
    """model saved in both layouts users meet, as folders holding model.safetensors.

    'transformers': what GPT2LMHeadModel.save_pretrained writes ('transformer.' prefix, config.json).
    'hub': what openai-community/gpt2 serves: no prefix, no lm_head, plus causal-mask buffers; with
    hub_config, also a config.json with the hub's keys.
    """
    model.save_pretrained(root / "transformers")
    saved = load_file(root / "transformers" / WEIGHTS_FILE)
    hub = {
        name.removeprefix("transformer."): t for name, t in saved.items() if not name.startswith("lm_head")
    }
    n, cfg = model.config.n_positions, model.config.to_dict()
    for i in range(model.config.n_layer):
        hub[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
        hub[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    (root / "hub").mkdir()
    save_file(hub, root / "hub" / WEIGHTS_FILE)
    if hub_config:
        config = {key: cfg[key] for key in HUB_GPT2_CONFIG if key in cfg} | {"n_ctx": n}
        (root / "hub" / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return {"transformers": root / "transformers", "hub": root / "hub"}


@pytest.fixture(scope="module")
def hf_model():
    """The tiny GPT-2, shaped like our 'tiny' config."""
    return _random_gpt2(
        vocab_size=TINY.vocab_size,
        n_positions=TINY.context_length,
        n_embd=TINY.emb_dim,
        n_layer=TINY.n_layers,
        n_head=TINY.n_heads,
    )


@pytest.fixture(scope="module")
def checkpoints(hf_model, tmp_path_factory) -> dict[str, Path]:
    """The tiny model in both layouts; the hub one without config.json, as --model-size tiny reads it."""
    return _save_both_layouts(hf_model, tmp_path_factory.mktemp("checkpoints"), hub_config=False)


@pytest.fixture(scope="module")
def custom_model():
    return _random_gpt2(**CUSTOM)


@pytest.fixture(scope="module")
def custom_checkpoints(custom_model, tmp_path_factory) -> dict[str, Path]:
    """The custom-shaped model in both layouts, each with its config.json."""
    return _save_both_layouts(custom_model, tmp_path_factory.mktemp("custom"), hub_config=True)


@pytest.fixture(scope="module")
def token_ids() -> torch.Tensor:
    return torch.randint(0, TINY.vocab_size, (2, 17), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def hf_logits(hf_model, token_ids) -> torch.Tensor:
    """The reference: transformers' GPT-2 run on token_ids."""
    with torch.no_grad():
        return hf_model(token_ids).logits


def _our_logits(model: GPTModel, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(ids)


# ---------------------------------------------------------------------------------------------
# The checkpoint layouts
# ---------------------------------------------------------------------------------------------


def test_transformers_writes_prefixed_names(checkpoints):
    # Guards the fixture: the 'transformers' layout really is the prefixed one.
    names = load_file(checkpoints["transformers"] / WEIGHTS_FILE)
    assert "transformer.wte.weight" in names and "wte.weight" not in names


@pytest.mark.parametrize("layout", LAYOUTS)
def test_loaded_model_matches_transformers_logits(layout, checkpoints, token_ids, hf_logits):
    model = GPTModel(TINY)
    load_weights_into_gpt(model, load_gpt2_state_dict(checkpoints[layout]))
    torch.testing.assert_close(_our_logits(model, token_ids), hf_logits, **TOL)


def test_loads_a_transformers_state_dict_in_memory(hf_model, token_ids, hf_logits):
    # hf_model.state_dict() carries the prefix and the tied lm_head.weight.
    model = load_weights_into_gpt(GPTModel(TINY), hf_model.state_dict())
    torch.testing.assert_close(_our_logits(model, token_ids), hf_logits, **TOL)


def test_both_layouts_normalize_to_the_same_tensors(checkpoints):
    a = load_gpt2_state_dict(checkpoints["transformers"])
    b = load_gpt2_state_dict(checkpoints["hub"])
    assert a.keys() == b.keys()
    assert "wte.weight" in a and not any(n.startswith(("transformer.", "lm_head")) for n in a)
    assert not any(n.endswith((".attn.bias", ".attn.masked_bias")) for n in b)
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)


def test_accepts_the_file_itself(checkpoints):
    assert load_gpt2_state_dict(checkpoints["hub"] / WEIGHTS_FILE).keys() == (
        load_gpt2_state_dict(checkpoints["hub"]).keys()
    )


def test_keeps_parameter_objects_and_the_tie(checkpoints):
    model = GPTModel(TINY)
    before = {name: id(p) for name, p in model.named_parameters()}
    load_weights_into_gpt(model, load_gpt2_state_dict(checkpoints["hub"]))
    assert {name: id(p) for name, p in model.named_parameters()} == before
    assert model.out_head.weight is model.tok_emb.weight


def test_an_untied_head_gets_a_copy_of_wte(checkpoints, token_ids, hf_logits):
    model = GPTModel(TINY)
    model.out_head.weight = torch.nn.Parameter(torch.zeros_like(model.tok_emb.weight))
    load_weights_into_gpt(model, load_gpt2_state_dict(checkpoints["hub"]))
    assert model.out_head.weight is not model.tok_emb.weight
    torch.testing.assert_close(_our_logits(model, token_ids), hf_logits, **TOL)


def test_load_pretrained_gpt_from_weights_dir(checkpoints, token_ids, hf_logits):
    model = load_pretrained_gpt("tiny", weights_dir=checkpoints["hub"])
    assert not model.training
    torch.testing.assert_close(_our_logits(model, token_ids), hf_logits, **TOL)


def test_infer_config_reads_the_shapes(checkpoints, hf_model):
    hf = hf_model.config
    cfg = infer_config(load_gpt2_state_dict(checkpoints["hub"]))
    assert (cfg.vocab_size, cfg.context_length, cfg.emb_dim, cfg.n_layers, cfg.n_heads) == (
        hf.vocab_size,
        hf.n_positions,
        hf.n_embd,
        hf.n_layer,
        hf.n_head,
    )
    assert infer_config(load_gpt2_state_dict(checkpoints["hub"]), n_heads=4).n_heads == 4


def test_infer_config_needs_n_heads_for_an_unknown_width():
    state_dict = {"wte.weight": torch.zeros(10, 40), "wpe.weight": torch.zeros(8, 40)}
    with pytest.raises(WeightsError, match="n_heads"):
        infer_config(state_dict)
    assert infer_config(state_dict, n_heads=5) == GPTConfig(
        vocab_size=10, context_length=8, emb_dim=40, n_heads=5, n_layers=0
    )


# ---------------------------------------------------------------------------------------------
# The shape from config.json
# ---------------------------------------------------------------------------------------------


def _shape(cfg: GPTConfig) -> dict[str, int]:
    """cfg in config.json's names, to compare with CUSTOM."""
    return {
        "n_layer": cfg.n_layers,
        "n_embd": cfg.emb_dim,
        "n_head": cfg.n_heads,
        "n_positions": cfg.context_length,
        "vocab_size": cfg.vocab_size,
    }


def _one_line_error(model_size, weights_dir) -> str:
    with pytest.raises(WeightsError) as info:
        load_pretrained_gpt(model_size, weights_dir=weights_dir)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_hub_config_json_is_gpt2_small():
    assert config_from_hf(HUB_GPT2_CONFIG) == model_config("gpt2-small")
    # PyTorch's own tanh GELU is the same function as gelu_new.
    tanh_gelu = HUB_GPT2_CONFIG | {"activation_function": "gelu_pytorch_tanh"}
    assert config_from_hf(tanh_gelu) == model_config("gpt2-small")


def test_n_ctx_stands_in_for_a_missing_n_positions():
    config = {key: value for key, value in HUB_GPT2_CONFIG.items() if key != "n_positions"}
    assert config_from_hf(config | {"n_ctx": 64}).context_length == 64


@pytest.mark.parametrize("layout", LAYOUTS)
def test_custom_shape_loads_from_its_config_json(layout, custom_checkpoints, custom_model):
    model = load_pretrained_gpt(None, weights_dir=custom_checkpoints[layout])
    assert _shape(model.cfg) == CUSTOM and not model.training
    ids = torch.randint(0, CUSTOM["vocab_size"], (2, 17), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = custom_model(ids).logits
    torch.testing.assert_close(_our_logits(model, ids), expected, **TOL)


def test_the_safetensors_file_itself_finds_its_config_json(custom_checkpoints):
    model = load_pretrained_gpt(None, weights_dir=custom_checkpoints["hub"] / WEIGHTS_FILE)
    assert _shape(model.cfg) == CUSTOM


def test_a_model_size_that_agrees_with_config_json(checkpoints, token_ids, hf_logits):
    assert (checkpoints["transformers"] / CONFIG_FILE).is_file()
    model = load_pretrained_gpt("tiny", weights_dir=checkpoints["transformers"])
    torch.testing.assert_close(_our_logits(model, token_ids), hf_logits, **TOL)


def test_a_model_size_that_disagrees_names_both_shapes(custom_checkpoints):
    message = _one_line_error("tiny", custom_checkpoints["hub"])
    assert (
        "--model-size tiny (2 layers, emb_dim 32, 2 heads, vocab_size 50257, context_length 256)" in message
    )
    assert "(3 layers, emb_dim 48, 3 heads, vocab_size 1000, context_length 64)" in message
    assert str(custom_checkpoints["hub"] / CONFIG_FILE) in message


def test_without_config_json_the_default_is_gpt2_small(checkpoints):
    # The tiny weights do not fit gpt2-small; the refusal comes before building a 124M-parameter model.
    message = _one_line_error(None, checkpoints["hub"])
    assert "emb_dim 32" in message and "emb_dim 768" in message
    assert "--model-size" in message and CONFIG_FILE in message


def test_a_config_json_from_another_checkpoint(custom_checkpoints, checkpoints, tmp_path):
    (tmp_path / WEIGHTS_FILE).write_bytes((checkpoints["hub"] / WEIGHTS_FILE).read_bytes())
    (tmp_path / CONFIG_FILE).write_text((custom_checkpoints["hub"] / CONFIG_FILE).read_text())
    message = _one_line_error(None, tmp_path)
    assert "hold 2 layers, emb_dim 32" in message and "says 3 layers, emb_dim 48" in message
    assert "different checkpoints" in message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"model_type": "bert"}, "model_type is 'bert', not 'gpt2'"),
        ({"model_type": None}, "model_type is None, not 'gpt2'"),
        (
            {"activation_function": "relu"},
            "activation_function is 'relu' but our GPTModel hard-codes 'gelu_new'",
        ),
        ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon is 1e-06 but our GPTModel hard-codes 1e-05"),
        ({"tie_word_embeddings": False}, "tie_word_embeddings is False"),
        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx is True"),
        ({"n_inner": 100}, "n_inner is 100 but our GPTModel hard-codes 4 \\* n_embd = 192"),
        ({"n_head": 5}, "n_embd 48 is not divisible by n_head 5"),
        ({"n_layer": "3"}, "n_layer is '3', not a positive whole number"),
    ],
)
def test_refuses_a_config_json_our_model_cannot_run(change, problem, custom_checkpoints, tmp_path):
    config = json.loads((custom_checkpoints["transformers"] / CONFIG_FILE).read_text()) | change
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    message = _one_line_error(None, tmp_path)
    assert message.startswith(f"{tmp_path / CONFIG_FILE}: ")
    assert re.search(problem, message), message


@pytest.mark.parametrize(
    ("text", "problem"), [("{not json", "is not valid JSON"), ("[1, 2]", "holds a list")]
)
def test_refuses_malformed_json(text, problem, tmp_path):
    (tmp_path / CONFIG_FILE).write_text(text)
    message = _one_line_error(None, tmp_path)
    assert f"{tmp_path / CONFIG_FILE} {problem}" in message


# ---------------------------------------------------------------------------------------------
# Bad checkpoints
# ---------------------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(WeightsError, match="no GPT-2 checkpoint"):
        load_gpt2_state_dict(tmp_path / "nowhere")


def test_folder_without_model_safetensors(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"not what we read")
    with pytest.raises(WeightsError, match=WEIGHTS_FILE):
        load_gpt2_state_dict(tmp_path)


def test_truncated_file(checkpoints, tmp_path):
    data = (checkpoints["hub"] / WEIGHTS_FILE).read_bytes()
    (tmp_path / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_gpt2_state_dict(tmp_path)


def test_a_file_that_is_not_gpt2(tmp_path):
    save_file({"encoder.weight": torch.zeros(2, 2)}, tmp_path / WEIGHTS_FILE)
    with pytest.raises(WeightsError, match="not a GPT-2 checkpoint"):
        load_gpt2_state_dict(tmp_path)


def test_wrong_model_size_names_the_shapes(checkpoints):
    model = GPTModel(GPTConfig(context_length=TINY.context_length, emb_dim=48, n_heads=2, n_layers=2))
    before = model.tok_emb.weight.clone()
    with pytest.raises(WeightsError) as info:
        load_weights_into_gpt(model, load_gpt2_state_dict(checkpoints["hub"]))
    message = str(info.value)
    assert "tok_emb.weight" in message and "(50257, 32)" in message and "(50257, 48)" in message
    assert "emb_dim 32" in message and "--model-size" in message
    torch.testing.assert_close(model.tok_emb.weight, before)  # nothing was copied


def test_more_layers_than_the_model(checkpoints):
    model = GPTModel(model_config("tiny", n_layers=1))
    with pytest.raises(WeightsError, match="no place for .*h\\.1\\..*n_layers 2"):
        load_weights_into_gpt(model, load_gpt2_state_dict(checkpoints["hub"]))


def test_missing_tensor_is_named(checkpoints):
    state_dict = load_gpt2_state_dict(checkpoints["hub"])
    del state_dict["h.1.mlp.c_fc.bias"]
    with pytest.raises(WeightsError, match="lacks 1 tensor\\(s\\) \\(h\\.1\\.mlp\\.c_fc\\.bias\\)"):
        load_weights_into_gpt(GPTModel(TINY), state_dict)


# ---------------------------------------------------------------------------------------------
# Downloading, without a network
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Make every connection fail at once; return the list of our module's reachability probes."""
    probes = []

    def refuse(address, *args, **kwargs):
        raise OSError("network is unreachable")

    def refuse_probe(address, *args, **kwargs):
        probes.append(address)
        return refuse(address)

    # huggingface_hub itself may connect too (version 2.x fetches an agent registry once per process),
    # so count only the probe that download.py makes through its own `socket` name.
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(download, "socket", SimpleNamespace(create_connection=refuse_probe))
    monkeypatch.setattr(download.urllib.request, "getproxies", dict)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(download.constants, "HF_HUB_OFFLINE", False)
    return probes


def _fake_cache(cache_dir: Path, repo_id: str, content: bytes, blob_name: str | None = None) -> Path:
    """Lay out a file as the HF cache does: blobs/<sha256>, and a snapshot symlink pointing at it."""
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    blob = repo / "blobs" / (blob_name or hashlib.sha256(content).hexdigest())
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(content)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    link = repo / "snapshots" / commit / WEIGHTS_FILE
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    return link


def test_unknown_model_size_touches_no_network(no_network, tmp_path):
    with pytest.raises(WeightsError, match="gpt2-small"):
        download_gpt2("gpt2-huge", cache_dir=tmp_path)
    assert no_network == []


@pytest.mark.parametrize("model_size", ["gpt2-small", "gpt2-xl"])
def test_offline_fails_at_once_with_a_way_out(model_size, no_network, tmp_path):
    start = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        download_gpt2(model_size, cache_dir=tmp_path)
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert model_size in message and HF_REPOS[model_size] in message and WEIGHTS_FILE in message
    assert "--weights-dir" in message
    assert no_network == [("huggingface.co", 443)]


def test_hf_hub_offline_fails_without_probing(no_network, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE.*--weights-dir"):
        download_gpt2("gpt2-small", cache_dir=tmp_path)
    assert no_network == []


def test_a_cached_file_needs_no_network(no_network, tmp_path):
    link = _fake_cache(tmp_path, HF_REPOS["gpt2-medium"], b"the weights")
    assert download_gpt2("gpt2-medium", cache_dir=tmp_path) == link
    assert no_network == []


@pytest.fixture
def fake_hub(no_network, monkeypatch):
    """Replace the network download with one that writes given bytes into the cache; records calls."""
    calls = []
    real = download.hf_hub_download
    served = {"content": b"good weights", "blob_name": None}

    def fake_download(repo_id, filename, *, cache_dir=None, local_files_only=False, force_download=False):
        if local_files_only:
            return real(repo_id, filename, cache_dir=cache_dir, local_files_only=True)
        calls.append({"repo_id": repo_id, "force_download": force_download})
        return str(_fake_cache(Path(cache_dir), repo_id, served["content"], served["blob_name"]))

    monkeypatch.setattr(download, "hf_hub_download", fake_download)
    # The probe succeeds; any other connection still fails.
    reachable = SimpleNamespace(create_connection=lambda *args, **kwargs: SimpleNamespace(close=lambda: None))
    monkeypatch.setattr(download, "socket", reachable)
    return calls, served


def test_downloads_when_not_cached(fake_hub, tmp_path):
    calls, _ = fake_hub
    path = download_gpt2("gpt2-small", cache_dir=tmp_path)
    assert path.read_bytes() == b"good weights"
    assert calls == [{"repo_id": "openai-community/gpt2", "force_download": False}]


def test_a_damaged_cached_file_is_downloaded_again(fake_hub, tmp_path):
    calls, _ = fake_hub
    bad_name = hashlib.sha256(b"good weights").hexdigest()
    link = _fake_cache(tmp_path, HF_REPOS["gpt2-small"], b"flipped bits", blob_name=bad_name)
    path = download_gpt2("gpt2-small", cache_dir=tmp_path)
    assert path == link and path.read_bytes() == b"good weights"
    assert calls == [{"repo_id": "openai-community/gpt2", "force_download": True}]


def test_a_download_that_stays_damaged_raises(fake_hub, tmp_path):
    calls, served = fake_hub
    served.update(content=b"flipped bits", blob_name=hashlib.sha256(b"good weights").hexdigest())
    with pytest.raises(DownloadError, match="sha256.*--weights-dir"):
        download_gpt2("gpt2-small", cache_dir=tmp_path)
    assert [c["force_download"] for c in calls] == [False, True]


@pytest.mark.slow
def test_cli_finetunes_from_a_weights_dir_in_the_hubs_layout(checkpoints, sms_file, tokenizer, tmp_path):
    # The path a user without internet takes: --weights-dir instead of the download.
    command = [sys.executable, "-m", "gpt_from_scratch", "finetune", "--model-size", "tiny", "--epochs", "1"]
    command += ["--max-length", "32", "--device", "cpu", "--weights-dir", str(checkpoints["hub"])]
    command += ["--data-file", str(sms_file), "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Model: tiny (pretrained weights)" in result.stdout
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["finetune"]["weights_dir"] == str(checkpoints["hub"])


def test_a_misshapen_tensor_is_named_as_the_checkpoint_names_it(checkpoints):
    state_dict = load_gpt2_state_dict(checkpoints["hub"])
    fc = state_dict["h.1.mlp.c_fc.weight"]  # (in, out) = (32, 128) in the file
    state_dict["h.1.mlp.c_fc.weight"] = fc[:, :100]
    with pytest.raises(WeightsError) as caught:
        load_weights_into_gpt(GPTModel(TINY), state_dict)
    message = str(caught.value)
    assert "h.1.mlp.c_fc.weight (stored (in, out)) has shape (32, 100)" in message
    assert "trf_blocks.1.ff.layers.0.weight of shape (128, 32)" in message
