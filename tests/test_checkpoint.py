import pickle

import pytest
import torch

from model import CheckpointError, LeNet5, load_checkpoint, load_model, save_checkpoint


def test_round_trip_keeps_weights_and_plain_meta(tmp_path):
    model = LeNet5()
    path = tmp_path / "m.pth"
    save_checkpoint(path, model.state_dict(), {"epoch": 3, "val_accuracy": 0.99, "mean": 0.12, "std": 0.31,
                                               "args": {"lr": 0.004, "augment": True}})
    raw = torch.load(path, weights_only=True)  # any other program can read it safely
    assert set(raw) == {"model_state", "meta"}
    assert raw["meta"]["epoch"] == 3 and isinstance(raw["meta"]["torch_version"], str) and raw["meta"]["created"]
    loaded, checkpoint = load_model(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert (checkpoint.mean, checkpoint.std) == (0.12, 0.31)
    assert not loaded.training


def test_bare_state_dict_is_accepted_with_classic_statistics(tmp_path):
    model = LeNet5()
    torch.save(model.state_dict(), tmp_path / "bare.pth")
    checkpoint = load_checkpoint(tmp_path / "bare.pth")
    assert checkpoint.meta == {}
    assert (checkpoint.mean, checkpoint.std) == (0.1307, 0.3081)
    assert torch.equal(checkpoint.model_state["features.0.weight"], model.state_dict()["features.0.weight"])


def _truncated(tmp_path):
    save_checkpoint(tmp_path / "full.pth", LeNet5().state_dict(), {})
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "bad.pth").write_bytes(data[: len(data) // 2])


def _wrong_shape(tmp_path):
    state = LeNet5().state_dict()
    state["features.0.weight"] = torch.zeros(8, 1, 5, 5)
    torch.save(state, tmp_path / "bad.pth")


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: (p / "bad.pth").write_bytes(b""), "empty"),
    (_truncated, "unreadable or truncated"),
    (lambda p: (p / "bad.pth").write_text("not a checkpoint at all"), "unreadable"),
    (lambda p: torch.save([1, 2, 3], p / "bad.pth"), "not a LeNet-5 checkpoint"),
    (lambda p: torch.save({"weight": torch.zeros(3)}, p / "bad.pth"), "not a LeNet-5 checkpoint"),
    (_wrong_shape, "features.0.weight is (8, 1, 5, 5), expected (6, 1, 5, 5)"),
], ids=["missing", "empty", "truncated", "text", "list", "other-dict", "wrong-shape"])
def test_every_bad_file_raises_one_clear_error(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_checkpoint(tmp_path / "bad.pth")


class _Exploit:
    def __reduce__(self):
        import pathlib
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_arbitrary_objects_are_never_unpickled(tmp_path):
    exploit = _Exploit()
    exploit.target = str(tmp_path / "pwned")
    with open(tmp_path / "evil.pth", "wb") as handle:
        pickle.dump({"model_state": exploit}, handle, protocol=2)
    with pytest.raises(CheckpointError, match="Python objects"):
        load_checkpoint(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()


def test_failed_write_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "m.pth"
    save_checkpoint(path, LeNet5().state_dict(), {"epoch": 1})
    before = path.read_bytes()

    def half_write_then_die(obj, f, *args, **kwargs):
        open(f, "wb").write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_write_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, LeNet5().state_dict(), {"epoch": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pth"]  # no temp file left behind


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    save_checkpoint(tmp_path / "m.pth", LeNet5().state_dict(), {})
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "m.pth").stat().st_mode) == 0o666 & ~mask
