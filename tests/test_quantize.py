"""--quantize int8: the blocks' Linear layers in dynamic int8 move the answers by little, on the CPU only."""

from __future__ import annotations

import pytest
import torch
from test_inference_plan import save_reader
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

from gpt_from_scratch.cli import main
from gpt_from_scratch.data.sms_spam import read_sms_spam
from gpt_from_scratch.data.splits import read_split_csv
from gpt_from_scratch.errors import OptionError
from gpt_from_scratch.fast import load_for_inference, plan_inference
from gpt_from_scratch.predict import classify_texts, gpt_model
from gpt_from_scratch.serving import serve as serve_module
from gpt_from_scratch.serving.inference import ServedClassifier

# Int8 weights (one scale per output row) and inputs (one scale per call) round each of a block's six
# matrix products by up to half a step of 1/127 of the largest value. On 1,000 real SMS messages
# through a tiny random classifier the largest change of P(spam) measured 0.006 (the mean 0.001);
# 0.02 leaves three times that room and still fails on a layer whose int8 copy is wrong.
TOLERANCE = 0.02
MAX_FLIP_SHARE = 0.02  # of test predictions whose label int8 changes: measured 0 on the tiny model


@pytest.fixture(scope="module")
def messages(sms_file) -> list[str]:
    """200 real SMS messages, short and long."""
    return read_sms_spam(sms_file)["Text"].tolist()[:200]


def int8_and_fp32(model_dir):
    """The fast plan's classifier in fp32 and in int8, with the description and the int8 plan."""
    cpu = torch.device("cpu")
    fp32, info, plan = load_for_inference(model_dir, cpu)
    int8, _, int8_plan = load_for_inference(model_dir, cpu, quantize="int8")
    assert plan.quantize is None and int8_plan.quantize == "int8"
    return fp32, int8, info, int8_plan


@pytest.mark.parametrize("position", ["last", "flexible"])
def test_int8_probabilities_stay_close_to_fp32(tmp_path, messages, position):
    fp32, int8, info, plan = int8_and_fp32(save_reader(tmp_path, position, "token", True, "longest"))
    want = classify_texts(messages, fp32, info, truncate=True, batching=plan.batching)
    got = classify_texts(messages, int8, info, truncate=True, batching=plan.batching)
    spam = [torch.tensor([p.spam_probability for p in predictions]) for predictions in (want, got)]
    changes = (spam[1] - spam[0]).abs()  # (messages,)
    assert changes.max() <= TOLERANCE
    assert changes.max() > 1e-6  # int8 really ran: float rounding alone moves P(spam) by ~1e-7


def test_only_the_blocks_linear_layers_become_int8(tmp_path):
    _, int8, _, _ = int8_and_fp32(save_reader(tmp_path, "last", "token", True, "longest"))
    model = gpt_model(int8)
    quantized = [name for name, module in model.named_modules() if isinstance(module, DynamicInt8Linear)]
    assert len(quantized) == 6 * len(model.trf_blocks)  # query, key, value, out_proj and the two of ff
    assert all(name.startswith("trf_blocks.") for name in quantized)
    assert type(model.out_head) is nn.Linear  # the head, and its 2 classes, stay fp32


def test_int8_flips_few_test_predictions_of_a_trained_classifier(served_model_dir):
    """The app's tiny classifier, finetuned for real: its test split scored in fp32 and in int8."""
    fp32, int8, info, plan = int8_and_fp32(served_model_dir)
    test = read_split_csv(served_model_dir / "data" / "test.csv")
    truth = [info.labels[int(label)] for label in test["Label"]]
    texts = test["Text"].tolist()
    want = [p.label for p in classify_texts(texts, fp32, info, truncate=True, batching=plan.batching)]
    got = [p.label for p in classify_texts(texts, int8, info, truncate=True, batching=plan.batching)]
    flips = sum(a != b for a, b in zip(want, got, strict=True))
    accuracy = {
        name: sum(a == b for a, b in zip(labels, truth, strict=True)) / len(truth)
        for name, labels in [("fp32", want), ("int8", got)]
    }
    print(f"\n{len(texts)} test messages: {flips} flips; accuracy {accuracy}")
    assert flips / len(texts) <= MAX_FLIP_SHARE
    assert abs(accuracy["int8"] - accuracy["fp32"]) <= flips / len(texts)  # only a flip moves it


@pytest.mark.parametrize("device", ["cuda", "mps", "meta"])
def test_int8_is_refused_off_the_cpu_in_one_line(device):
    # torch.device("cuda") is only a name: the plan refuses it before anything runs there.
    with pytest.raises(OptionError, match=rf"--quantize int8 .* on {device}: use --device cpu") as err:
        plan_inference("last", "token", True, torch.device(device), quantize="int8")
    assert "\n" not in str(err.value)


def test_int8_is_refused_with_exact_and_an_unknown_kind():
    cpu = torch.device("cpu")
    with pytest.raises(OptionError, match="--exact .* cannot run with --quantize int8"):
        plan_inference("last", "token", True, cpu, exact=True, quantize="int8")
    with pytest.raises(OptionError, match="--quantize int4: choose int8"):
        plan_inference("last", "token", True, cpu, quantize="int4")


def test_classify_quantize_int8_on_the_command_line(tmp_path, capsys):
    model_dir = save_reader(tmp_path, "flexible", "token", True, "longest")
    message = "WINNER!! Claim your free prize now"
    assert main(["classify", "--model-dir", str(model_dir), "--json", message]) == 0
    fp32 = capsys.readouterr().out
    assert main(["classify", "--model-dir", str(model_dir), "--json", "--quantize", "int8", message]) == 0
    int8 = capsys.readouterr().out
    spam = [float(out.split('"spam_probability": ')[1].split("}")[0]) for out in (fp32, int8)]
    assert spam[1] == pytest.approx(spam[0], abs=TOLERANCE)
    assert main(["classify", "--model-dir", str(model_dir), "--quantize", "int8", "--exact", message]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot run with --quantize int8" in err


def test_the_app_predicts_in_int8_and_explains_with_the_fp32_model(tmp_path):
    model_dir = save_reader(tmp_path, "last", "token", True, "longest")
    message = "Free entry in 2 a wkly comp to win FA Cup final tkts"
    plain = ServedClassifier.load(model_dir).answer(message)
    served = ServedClassifier.load(model_dir, quantize="int8")
    assert isinstance(served.classifier, nn.Module) and served.differentiable is not served.classifier
    answer = served.answer(message)
    assert answer.prediction.spam_probability == pytest.approx(
        plain.prediction.spam_probability, abs=TOLERANCE
    )
    # Gradient x input comes from the fp32 copy: the same reasons as the fp32 app, to float rounding.
    for ours, theirs in zip(answer.pieces, plain.pieces, strict=True):
        assert ours.change == pytest.approx(theirs.change, abs=1e-6)
    occluded = served.answer(message, "occlusion")  # int8 forward passes, no gradient needed
    assert len(occluded.pieces) == len(plain.pieces)


def test_serve_passes_quantize_to_the_app(monkeypatch):
    calls = []
    monkeypatch.setattr(serve_module, "serve", lambda *args: calls.append(args))
    assert main(["serve", "--model-dir", "somewhere", "--quantize", "int8"]) == 0
    assert calls == [("somewhere", "127.0.0.1", 7860, "cpu", "int8")]
