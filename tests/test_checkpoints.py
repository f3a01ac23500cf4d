import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from core.config import RunConfig
from core.errors import UserError
from core.models import weights
from core.models.transfer import build_model


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pth"
    with open(bad, "wb") as fh:
        pickle.dump({"weight": _Exploit(marker)}, fh)
    with pytest.raises(UserError, match="evil.pth: refused"):
        weights.read_state_dict(bad)
    assert not marker.exists()


def test_junk_checkpoint_is_refused_with_its_name(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.safetensors"):
        weights.read_state_dict(junk)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_imported_checkpoint_loads_into_the_backbone(tmp_path, suffix):
    from core.models import get

    net = get("resnet18").network(pretrained=False)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    path = tmp_path / f"mine{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    cfg = RunConfig(backbone="resnet18", weights=f"file:{path}")
    model = build_model(cfg, num_classes=3)
    assert torch.equal(model.trunk.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.trunk.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_checkpoint_for_another_network_names_what_does_not_fit(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"conv1.weight": torch.zeros(8, 3, 3, 3)}, str(path))
    with pytest.raises(UserError, match="other.safetensors.*wrong shape"):
        build_model(RunConfig(backbone="resnet18", weights=f"file:{path}"), num_classes=3)


def test_a_kill_while_writing_a_checkpoint_leaves_the_previous_one_loadable(tmp_path, monkeypatch):
    from core.training import checkpoints

    checkpoints.save_weights({"w": torch.ones(3)}, tmp_path / "last.safetensors")

    def killed_mid_write(tensors, path):
        with open(path, "wb") as fh:
            fh.write(b"half a file")
        raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(checkpoints, "save_file", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save_weights({"w": torch.zeros(3)}, tmp_path / "last.safetensors")
    assert torch.equal(checkpoints.load_weights(tmp_path / "last.safetensors")["w"], torch.ones(3))
