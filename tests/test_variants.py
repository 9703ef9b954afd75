"""LeNet-5's variants: each option builds what it says, goes into the checkpoint, and comes back."""

import shutil

import pytest
import torch
from conftest import tiny_train_args

import train
from model import (
    CheckpointError,
    LeNet5,
    count_parameters,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from runs import read_run

OPTIONS = [
    {"activation": "tanh"},
    {"pooling": "avg"},
    {"batch_norm": True},
    {"dropout": 0.3},
    {"activation": "tanh", "pooling": "avg", "batch_norm": True, "dropout": 0.5},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "+".join(f"{k}={v}" for k, v in o.items()))
def test_each_option_builds_its_layers_and_reloads_from_the_checkpoint_alone(options, tmp_path):
    torch.manual_seed(0)
    model = LeNet5(**options)
    layers = [type(m).__name__ for m in model.modules()]
    assert ("Tanh" in layers) == (options.get("activation") == "tanh") != ("ReLU" in layers)
    assert ("AvgPool2d" in layers) == (options.get("pooling") == "avg") != ("MaxPool2d" in layers)
    assert layers.count("BatchNorm2d") == (2 if options.get("batch_norm") else 0)
    dropouts = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == ([options["dropout"]] * 2 if options.get("dropout") else [])
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 10)  # training mode: batch norm's statistics move
    save_checkpoint(tmp_path / "m.pth", model.state_dict(), {"architecture": model.options})

    reloaded, checkpoint = load_model(tmp_path / "m.pth")
    assert checkpoint.meta["architecture"] == {**LeNet5().options, **options}
    x = torch.randn(5, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(reloaded(x), model.eval()(x))  # eval mode: dropout off, batch norm's running statistics


def test_batch_norm_drops_the_conv_bias_it_makes_redundant():
    plain, normed = LeNet5(), LeNet5(batch_norm=True)
    assert count_parameters(plain) == 82_826
    assert count_parameters(normed) == 82_826 - 6 - 16 + 2 * (6 + 16)  # conv biases out, BN scale and shift in
    assert all(conv.bias is None for conv in normed.features if isinstance(conv, torch.nn.Conv2d))


def test_a_checkpoint_from_before_the_options_loads_as_the_default_network(tmp_path):
    state = LeNet5().state_dict()  # the keys and shapes every earlier version wrote
    torch.save({"model_state": state, "meta": {"mean": 0.13, "std": 0.31, "epoch": 3}}, tmp_path / "old.pth")
    model, checkpoint = load_model(tmp_path / "old.pth")
    assert model.options == LeNet5().options and "architecture" not in checkpoint.meta
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    torch.save(state, tmp_path / "bare.pth")  # a bare state_dict, as tutorials save it
    assert load_model(tmp_path / "bare.pth")[0].options == LeNet5().options


@pytest.mark.parametrize("architecture, message", [
    ({"batch_norm": True}, "missing"),  # the file says batch norm, its weights have none
    ({"activation": "sigmoid"}, "activation must be one of"),
    ({"kernel": 3}, "does not fit this LeNet5"),
    ("relu", "not a set of options"),
])
def test_a_checkpoint_whose_architecture_does_not_fit_is_a_clear_error(architecture, message, tmp_path):
    save_checkpoint(tmp_path / "m.pth", LeNet5().state_dict(), {"architecture": architecture})
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "m.pth")


def test_presets_fill_what_the_flags_leave_and_flags_win():
    args = train.parse_args(["--preset", "lenet1998"])
    assert (args.activation, args.pooling, args.batch_norm, args.dropout, args.augment, args.printed_digits) == \
        ("tanh", "avg", False, 0.0, False, 0)
    args = train.parse_args(["--preset", "lenet1998", "--batch-norm", "--augment", "--printed-digits", "2"])
    assert (args.activation, args.batch_norm, args.augment, args.printed_digits) == ("tanh", True, True, 2)
    assert args.european_forms == 0
    args = train.parse_args([])
    assert (args.activation, args.pooling, args.batch_norm, args.dropout, args.augment, args.printed_digits,
            args.european_forms, args.epochs) == ("relu", "max", False, 0.0, True, 5, 1500, 12)
    assert train.parse_args(["--preset", "numbers"]).epochs == 10  # more read fewer check amounts
    assert train.parse_args(["--preset", "numbers", "--epochs", "3"]).epochs == 3


@pytest.mark.parametrize("flags", [["--preset", "lenet1998"], ["--batch-norm", "--dropout", "0.3"],
                                   ["--activation", "tanh", "--pooling", "avg"]], ids=" ".join)
def test_train_py_trains_each_variant_and_inference_reloads_it(flags, tiny_mnist, tmp_path, digits_dir, capsys):
    import inference
    from model import load_mnist

    assert train.main(tiny_train_args(tiny_mnist, tmp_path, "--epochs", "2", *flags)) == 0
    checkpoint = load_checkpoint(tmp_path / "model.pth")
    expected = train.parse_args(flags)
    assert checkpoint.meta["architecture"] == {k: getattr(expected, k) for k in ("activation", "pooling", "batch_norm", "dropout")}
    # the reloaded network scores what train.py measured on the test images, image for image
    images, labels = load_mnist(tiny_mnist, train=False)
    predictor = inference.Predictor.from_file(tmp_path / "model.pth")
    correct = int((predictor.probabilities(images).argmax(1) == labels.numpy()).sum())
    assert correct == round(checkpoint.meta["test_accuracy"] * len(labels))
    capsys.readouterr()
    assert inference.main(["--model", str(tmp_path / "model.pth"), str(digits_dir)]) in (0, 1)
    assert "Accuracy:" in capsys.readouterr().out


def test_a_run_saved_before_variants_and_run_folders_resumes(tiny_mnist, tmp_path, ctrl_c_after_epoch_1):
    with ctrl_c_after_epoch_1():
        assert train.main(tiny_train_args(tiny_mnist, tmp_path, "--epochs", "2")) == 130
    last = tmp_path / "model_last.pth"
    payload = torch.load(last, weights_only=True)  # made into what earlier versions wrote
    for key in ("architecture", "variant"):
        del payload["meta"][key]
    for key in ("preset", "activation", "pooling", "batch_norm", "dropout", "run_name", "runs_dir"):
        del payload["meta"]["args"][key]
    torch.save(payload, last)
    shutil.rmtree(tmp_path / "runs")  # earlier versions kept no run folder
    assert train.main(tiny_train_args(tiny_mnist, tmp_path, "--resume", str(last))) == 0
    resumed = load_checkpoint(tmp_path / "model.pth")
    assert resumed.meta["architecture"] == LeNet5().options and resumed.meta["epoch"] in (1, 2)
    (run,) = (tmp_path / "runs").iterdir()  # a run folder of its own, holding both epochs
    assert [e["epoch"] for e in read_run(run).epochs] == [1, 2]
