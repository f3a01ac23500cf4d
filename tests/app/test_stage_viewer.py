"""The stage viewer's caption and its freeze advice come from one rule: they never contradict each
other (the caption once said "freezing the backbone loses little" above advice to retrain stage6–7)."""
import pytest

from core.serving import activations
from ui import lab

NAMES = ["stem", "stage1", "stage2", "stage3", "stage4"]


@pytest.mark.parametrize("accuracies", [
    (0.30, 0.55, 0.80, 0.95, 0.93),  # the last stage within reach of the best: the old caption said "loses little"
    (0.30, 0.55, 0.80, 0.90, 0.95),  # the last stage is the best
    (0.30, 0.90, 0.91, 0.80, 0.60),  # early features serve best
    (0.50, 0.50, 0.50, 0.50, 0.50),  # all alike
])
def test_caption_and_advice_agree(accuracies):
    probes = dict(zip(NAMES, accuracies))
    advice = activations.recommend([{"name": n, "probe_accuracy": a} for n, a in probes.items()])
    caption = lab._probe_story([{"name": n} for n in NAMES], probes)
    assert ("loses little" in caption) == (advice["mode"] == "all_but_head"), (caption, advice["reason"])
    if advice["mode"] == "first_k":  # both name the same stages to retrain
        later = NAMES[advice["k"]:]
        assert "retrain" in caption and later[0] in caption and f"{NAMES[0]}..{advice['stage']} frozen" in advice["reason"]
