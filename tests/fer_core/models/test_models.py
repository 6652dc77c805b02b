"""Every architecture of the catalogue, built from its tiny test config: shapes, gradients, determinism, save formats.

Mirrors timm's tests/test_models.py: table-driven over ``list_architectures()`` with each entry's ``tiny_args``.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from fer_core.labels import FER2013, FERPLUS
from fer_core.models import architecture_info, create_model, list_architectures, list_budget_variants
from fer_core.models.budget import BUDGET_IMG_SIZE, JOINT_OUTPUTS, budget_table
from fer_core.models.ddamfn import attention_diversity_loss
from fer_core.models.flops import count_flops, count_mflops
from fer_core.models.mobilefacenet import MobileFaceNetBackbone
from fer_core.training.recipes import JOINT_DATASET, load_recipe

ARCHITECTURES = list_architectures()
HF_ARCHITECTURES = [name for name in ARCHITECTURES if architecture_info(name).family == "hf"]
LIVE_ARCHITECTURES = ["cnn", "cnn_mha", "cct", "mcct", "ddamfn"]  # small enough for the live demo: must export
MCCT_PARAM_BUDGET = 5_670_000
BUDGET_VARIANTS = list_budget_variants()
FULL_SIZE_ARCHITECTURES = [name for name in ARCHITECTURES if name not in BUDGET_VARIANTS]
BUDGET_MFLOPS_CEILING = 120.0  # the budget is about 100 MFLOPs per face; no variant may drift far above it


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads; on a shared 2-core machine extra threads only contend."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def build_tiny(name: str, *, num_classes: int = 7, in_chans: int = 1, img_size: int = 48, seed: int = 0, **extra):
    """The catalogue's tiny test variant of ``name``, seeded so two builds with one seed are identical."""
    torch.manual_seed(seed)
    return create_model(
        name,
        num_classes=num_classes,
        in_chans=in_chans,
        img_size=img_size,
        **{**architecture_info(name).tiny_args, **extra},
    )


def random_batch(batch: int, in_chans: int, img_size: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, in_chans, img_size, img_size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize(("num_classes", "in_chans"), [(7, 1), (8, 3)])
def test_forward_gives_logits_per_class(name: str, num_classes: int, in_chans: int) -> None:
    model = build_tiny(name, num_classes=num_classes, in_chans=in_chans).eval()
    with torch.no_grad():
        logits = model(random_batch(3, in_chans, 48))
    assert logits.shape == (3, num_classes)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    ("name", "img_size"),
    [
        ("vgg13", 64),
        ("cnn_mha", 64),
        ("cct", 64),
        ("mcct", 64),
        ("ddamfn", 64),
        ("vit", 64),
        ("ddamfn", 112),
        ("mcct", 112),
        ("clip_vision", 112),
        ("resnet18", 112),
    ],
)
def test_larger_faces_work_when_built_for_them(name: str, img_size: int) -> None:
    model = build_tiny(name, img_size=img_size).eval()
    with torch.no_grad():
        assert model(random_batch(2, 1, img_size)).shape == (2, 7)


@pytest.mark.parametrize("name", ["cnn_mha", "cct", "mcct"])
def test_token_models_reject_a_size_they_were_not_built_for(name: str) -> None:
    model = build_tiny(name, img_size=48).eval()
    with pytest.raises(ValueError, match="positional embedding was built for"):
        model(random_batch(1, 1, 64))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_backward_reaches_every_parameter(name: str) -> None:
    model = build_tiny(name, num_classes=8, in_chans=3).train()
    logits = model(random_batch(4, 3, 48))
    torch.nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    missing = [key for key, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_eval_mode_is_deterministic(name: str) -> None:
    model = build_tiny(name).eval()
    batch = random_batch(3, 1, 48)
    with torch.no_grad():
        assert torch.equal(model(batch), model(batch))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_state_dict_round_trips_through_safetensors(name: str, tmp_path: Path) -> None:
    model = build_tiny(name, seed=0).eval()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))  # raises on aliased tensors
    fresh = build_tiny(name, seed=1).eval()
    fresh.load_state_dict(load_file(str(path)))
    batch = random_batch(2, 1, 48)
    with torch.no_grad():
        assert torch.equal(model(batch), fresh(batch))


@pytest.mark.parametrize("name", HF_ARCHITECTURES)
@pytest.mark.parametrize("labels", [FER2013.names, FERPLUS.names])
def test_hf_family_rebuilds_from_its_pretrained_dir(name: str, labels: tuple[str, ...], tmp_path: Path) -> None:
    model = build_tiny(name, num_classes=len(labels), label_names=labels).eval()
    assert [model.hf_model.config.id2label[i] for i in range(len(labels))] == list(labels)
    model.save_pretrained_dir(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert "model_type" in (tmp_path / "config.json").read_text()
    rebuilt = type(model).from_pretrained_dir(tmp_path).eval()
    batch = random_batch(2, 1, 48)
    with torch.no_grad():
        assert torch.equal(model(batch), rebuilt(batch))
    assert rebuilt.hf_model.config.label2id == {label: i for i, label in enumerate(labels)}


@pytest.mark.parametrize("name", HF_ARCHITECTURES)
def test_hf_family_loads_float16_weights_as_float32(name: str, tmp_path: Path) -> None:
    model = build_tiny(name).eval()
    model.hf_model.half()
    model.save_pretrained_dir(tmp_path)
    model.float()
    rebuilt = type(model).from_pretrained_dir(tmp_path).eval()
    assert {p.dtype for p in rebuilt.parameters()} == {torch.float32}
    batch = random_batch(2, 1, 48)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(batch), model(batch), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("name", HF_ARCHITECTURES)
def test_hf_family_refuses_a_wrong_number_of_label_names(name: str) -> None:
    with pytest.raises(ValueError, match="3 label names for 7 classes"):
        build_tiny(name, label_names=("a", "b", "c"))


@pytest.mark.parametrize("name", LIVE_ARCHITECTURES)
def test_live_models_export_to_onnx_with_dynamic_batch(name: str, tmp_path: Path) -> None:
    import onnxruntime as ort

    model = build_tiny(name).eval()
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # dynamo=False: torch's default dynamo exporter needs the onnxscript package, this one needs nothing extra
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, 48, 48),),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = random_batch(5, 1, 48)
    onnx_logits = session.run(None, {"input": batch.numpy()})[0]
    with torch.no_grad():
        torch_logits = model(batch).numpy()
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["ddamfn", "vgg13", "vit", "clip_vision"])
def test_model_directory_round_trip_through_the_zoo(name: str, tmp_path: Path) -> None:
    """The zoo's contract: timm family rebuilds from arch_args (JSON lists), hf family from its own directory."""
    from fer_core.data.preprocess import InputSpec
    from fer_core.serving.classifier import load_model, save_model_dir
    from fer_core.store.card import ModelCard

    model = build_tiny(name).eval()
    arch_args = {k: json_ready(v) for k, v in architecture_info(name).tiny_args.items()}
    card = ModelCard(
        id=name, architecture=name, arch_args=arch_args, labels=FER2013.names, input=InputSpec(size=48, channels=1)
    )
    save_model_dir(model, tmp_path / name, card=card, half=False)
    loaded = load_model(tmp_path / name, backend="torch").module
    batch = random_batch(2, 1, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch), model(batch))


def json_ready(value):
    """Tuples as JSON gives them back: lists, nested."""
    return [json_ready(v) for v in value] if isinstance(value, tuple | list) else value


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_catalogue_entry_is_a_timm_model(name: str) -> None:
    info = architecture_info(name)
    assert info.timm_name.startswith("fer_")
    assert info.timm_name in timm.list_models("fer_*")
    assert info.family in ("timm", "hf")
    assert info.paper and info.description
    torch.manual_seed(0)
    via_timm = timm.create_model(
        info.timm_name, pretrained=False, num_classes=7, in_chans=1, img_size=48, **info.tiny_args
    )
    assert type(via_timm) is type(build_tiny(name))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_pretrained_weights_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model(architecture_info(name).timm_name, pretrained=True, **architecture_info(name).tiny_args)


@pytest.mark.parametrize("name", list_budget_variants())
def test_a_variant_is_its_builder_with_its_own_arguments(name: str) -> None:
    info = architecture_info(name)
    assert info.args and architecture_info(info.timm_name) is info
    variant = create_model(name, num_classes=7)
    full = create_model(info.budget_of, num_classes=7, **info.args)
    assert type(variant) is type(full)
    assert [p.shape for p in variant.parameters()] == [p.shape for p in full.parameters()]


def test_a_saved_timm_config_is_rebuilt_by_timm_itself(tiny_model_dir: Path) -> None:
    """``timm.create_model(**config.json)`` gives the saved model back, without fer_core's loader."""
    import json

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architecture"] == "fer_cnn"
    model = timm.create_model(
        config["architecture"],
        num_classes=config["num_classes"],
        in_chans=config["in_chans"],
        img_size=config["img_size"],
        **config["model_args"],
    ).eval()
    model.load_state_dict({k: v.float() for k, v in load_file(str(tiny_model_dir / "model.safetensors")).items()})
    from fer_core.serving.classifier import load_model

    batch = random_batch(2, 1, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(batch), load_model(tiny_model_dir, backend="torch").module(batch))


@pytest.mark.parametrize("num_heads", [2, 3])
def test_ddamfn_attention_loss_is_finite_and_differentiable(num_heads: int) -> None:
    model = build_tiny("ddamfn", num_heads=num_heads).train()
    model(random_batch(4, 1, 48))
    loss = model.auxiliary_loss()
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    head_grads = [p.grad for p in model.heads.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in head_grads)
    assert sum(g.abs().sum() for g in head_grads) > 0


def test_ddamfn_attention_loss_penalises_heads_that_attend_alike() -> None:
    model = build_tiny("ddamfn", num_heads=2).eval()
    batch = random_batch(2, 1, 48)
    with torch.no_grad():
        model(batch)
        distinct = model.auxiliary_loss()
        model.heads[1].load_state_dict(model.heads[0].state_dict())
        model(batch)
        identical = model.auxiliary_loss()
    assert identical > 100 * distinct


def test_ddamfn_can_be_deep_copied_after_a_training_pass() -> None:
    model = build_tiny("ddamfn").train()
    model(random_batch(2, 1, 48))
    clone = copy.deepcopy(model).eval()
    batch = random_batch(2, 1, 48, seed=3)
    with torch.no_grad():
        assert torch.equal(clone(batch), model.eval()(batch))


def test_ddamfn_attention_loss_needs_a_forward_first() -> None:
    with pytest.raises(RuntimeError, match="forward pass first"):
        build_tiny("ddamfn").auxiliary_loss()


@pytest.mark.parametrize(
    ("maps", "expected"),
    [
        ([torch.zeros(2, 3), torch.full((2, 3), 0.5)], 1 / 0.25),  # one pair, MSE 0.25
        ([torch.zeros(4), torch.ones(4), torch.zeros(4)], 3 / 2.0),  # three pairs, MSEs 1 + 0 + 1
        ([torch.ones(4)], 0.0),  # one head: nothing to diversify
    ],
)
def test_attention_diversity_loss_is_pairs_over_summed_mse(maps: list[torch.Tensor], expected: float) -> None:
    assert attention_diversity_loss(maps).item() == pytest.approx(expected, rel=1e-4)


def test_mcct_default_stays_within_its_parameter_budget() -> None:
    model = create_model("mcct", num_classes=8)
    assert sum(p.numel() for p in model.parameters()) <= MCCT_PARAM_BUDGET


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: create_model("vgg13", num_classes=7, img_size=8), "too small"),
        (lambda: MobileFaceNetBackbone(stages=((16, 1, 2, 3),)), "stride must be 1 or 2"),
        (lambda: create_model("cct", num_classes=7, embed_dim=30, num_heads=4), "not divisible"),
    ],
)
def test_impossible_configs_fail_with_a_clear_message(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_default_size_runs_at_48px_and_stays_reasonable(name: str) -> None:
    model = create_model(name, num_classes=7, in_chans=1, img_size=48).eval()
    assert sum(p.numel() for p in model.parameters()) < 25_000_000
    with torch.no_grad():
        assert model(random_batch(1, 1, 48)).shape == (1, 7)


def test_every_full_size_architecture_has_one_budget_variant() -> None:
    assert sorted(architecture_info(name).budget_of for name in BUDGET_VARIANTS) == FULL_SIZE_ARCHITECTURES
    assert all(name == f"{architecture_info(name).budget_of}_budget" for name in BUDGET_VARIANTS)


@pytest.mark.parametrize("name", BUDGET_VARIANTS)
def test_budget_variant_fits_the_flop_budget_and_trains(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=JOINT_OUTPUTS, img_size=BUDGET_IMG_SIZE)
    assert count_mflops(model, BUDGET_IMG_SIZE) <= BUDGET_MFLOPS_CEILING
    model = model.to(memory_format=torch.channels_last).train()
    logits = model(random_batch(2, 1, BUDGET_IMG_SIZE).contiguous(memory_format=torch.channels_last))
    assert logits.shape == (2, JOINT_OUTPUTS)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, JOINT_OUTPUTS - 1]))
    if hasattr(model, "auxiliary_loss"):
        loss = loss + model.auxiliary_loss()
    loss.backward()
    missing = [key for key, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"


@pytest.mark.parametrize("name", BUDGET_VARIANTS)
def test_budget_variant_ships_a_joint_recipe_on_the_shared_schedule(name: str) -> None:
    recipe, reference = load_recipe(f"{name}_joint"), load_recipe("cnn_budget_joint")
    assert recipe.architecture == name and recipe.dataset == JOINT_DATASET
    assert (recipe.img_size, recipe.channels) == (BUDGET_IMG_SIZE, 1)
    shared = ("epochs", "batch_size", "optimizer", "schedule", "warmup_epochs", "label_smoothing", "augment")
    assert {key: getattr(recipe, key) for key in shared} == {key: getattr(reference, key) for key in shared}
    assert (recipe.epochs, recipe.batch_size, recipe.warmup_epochs) == (30, 128, 2)
    assert (recipe.optimizer, recipe.schedule, recipe.selection_metric) == ("adamw", "cosine", "acc_f1")
    assert recipe.mix_prob == 0 and recipe.balancing == "none"


class _Attention(torch.nn.Module):
    """Self-attention over an 8x8 input read as 2 heads x 4 tokens x 8 dims."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(1, 2, 4, 8)
        return torch.nn.functional.scaled_dot_product_attention(tokens, tokens, tokens)


@pytest.mark.parametrize(
    ("module", "in_chans", "img_size", "expected"),
    [
        (torch.nn.Conv2d(1, 8, 3, padding=1), 1, 48, 2 * 48 * 48 * 8 * 9),
        (torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), 8, 12, 2 * 12 * 12 * 8 * 9),  # depthwise: per-group cost
        (torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5)), 1, 4, 2 * 16 * 5),
    ],
)
def test_flop_counter_counts_two_flops_per_multiply_add(module, in_chans: int, img_size: int, expected: int) -> None:
    assert count_flops(module, img_size, in_chans) == expected


def test_flop_counter_counts_cpu_attention() -> None:
    """torch has no formula for its CPU attention kernel; QK^T and AV cost 2 * heads * tokens^2 * dim each."""
    assert count_flops(_Attention(), img_size=8, in_chans=1) == 2 * (2 * 2 * 4 * 4 * 8)


def test_budget_table_measures_every_requested_variant() -> None:
    rows = budget_table(["cnn_budget", "cct_budget"], batch_size=4, rounds=1, warmup=0, calls_per_round=1)
    assert [row.name for row in rows] == ["cnn_budget", "cct_budget"]
    assert all(row.params > 0 and row.mflops > 0 for row in rows)
    assert all(row.train_images_per_s > 0 and row.ms_per_face > 0 for row in rows)
    assert rows[0].budget_of == "cnn" and rows[0].img_size == BUDGET_IMG_SIZE
