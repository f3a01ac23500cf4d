"""Numbers and settings as people read them: percentages, durations, three significant digits, a test
accuracy with its 95 % interval, a freeze plan and a head in words. One place, so the pages, the model
card and the CLI say the same thing the same way. A leaf: the standard library only; settings are read
from the config dataclasses or their JSON dicts alike.
"""
from __future__ import annotations

import math

MISSING = "–"  # what a person sees for a value that does not exist (never "None")
Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval


def percent(value: float | None, decimals: int = 1) -> str:
    """0.863636 → "86.4%"; whole percentages lose the ".0" (1.0 → "100%")."""
    if value is None:
        return MISSING
    text = f"{value * 100:.{decimals}f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def number(value: float | int | None, digits: int = 3) -> str:
    """Three significant digits and at most three decimals, no exponent for everyday sizes: 291.59 → "292",
    0.863636 → "0.864", 0.0452 → "0.045"."""
    if value is None:
        return MISSING
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) < 0.001:  # "1.4e-06" is Python's notation, not a reader's
        return "under 0.001" if value > 0 else "just under 0"
    if abs(value) >= 10 ** (digits - 1):  # no "2.92e+02": whole numbers keep all their digits
        return f"{round(value):,}"
    text = f"{value:.{digits}g}"
    if "e" not in text and len(text.partition(".")[2]) > 3:  # 0.0452 → 0.045: three decimals at most
        text = f"{value:.3f}"
    return text


def rate(value: float | None) -> str:
    """A learning rate as people write them: 0.0001 → "1e-4", 0.003 → "3e-3", 0.05 → "0.05"."""
    if value is None:
        return MISSING
    if value >= 0.01 or value == 0:
        return number(value)
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def duration(seconds: float | None) -> str:
    """291.59 → "4 min 52 s"; 3.2 → "3 s"; 0.4 → "under 1 s"; 3900 → "1 h 5 min"."""
    if seconds is None:
        return MISSING
    whole = round(seconds)
    if whole < 1:
        return "under 1 s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def about(seconds: float | None, low: float | None = None, high: float | None = None) -> str:
    """An estimate, never a promise: "about 40 s (30 s to 1 min)"; "about 40 s" when the range says no more."""
    if seconds is None:
        return MISSING
    span = f" ({duration(low)} to {duration(high)})" if low is not None and high is not None else ""
    return f"about {duration(seconds)}" + ("" if duration(low) == duration(high) else span)


NEGLECT_POINTS = 5  # balanced accuracy this many points or more below the accuracy: small classes are neglected


def balanced_sentence(accuracy: float, balanced: float) -> str:
    """What the balanced accuracy says beside the accuracy; it said "far below" when the two were equal."""
    gap = (accuracy - balanced) * 100
    if gap >= NEGLECT_POINTS:
        return (f"{number(gap, 2)} points below the accuracy: the model neglects small classes. See the recall per "
                "class below, and the class balance option on Layers & head.")
    if gap <= -NEGLECT_POINTS:
        return f"{number(-gap, 2)} points above the accuracy: the small classes are served better than the large ones."
    return "About the same as the accuracy: no class is neglected for being small."


def interval_sentence(images: int, low: float, high: float) -> str:
    """A test accuracy's 95 % interval, and whether it is too wide to tell much."""
    said = (f"On {images} images the true accuracy lies, with 95% confidence, between **{percent(low, 0)}** and "
            f"**{percent(high, 0)}** (Wilson interval)")
    return said + (": too few images to tell much; add test images for a firmer number." if high - low > 0.2 else ".")


MB = 2 ** 20  # limits and sizes people read are in MB of 1,048,576 bytes (TRANSFERLAB_OWNER_MAX_MB too)


def size(count: int | float | None) -> str:
    """Bytes as people read them: 512 → "512 bytes", 15_360 → "15 KB", 3_250_000 → "3.1 MB", 2**31 → "2 GB"."""
    if count is None:
        return MISSING
    for unit, scale in (("GB", 2 ** 30), ("MB", MB), ("KB", 2 ** 10)):
        if abs(count) >= scale:
            return f"{number(round(count / scale, 1))} {unit}"
    return f"{int(count)} byte{'' if count == 1 else 's'}"


def wilson(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion: unlike "±1.96·SE" it stays inside 0..1 and is honest for
    small sets and for 0 % or 100 % (4 of 4 right gives 51 %–100 %, not 100 %–100 %)."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(accuracy: float | None, images: int | None) -> str:
    """"86.4% (95% interval 79%–91%, 110 test images)": the accuracy with what so few images can tell."""
    if accuracy is None:
        return MISSING
    if not images:
        return percent(accuracy)
    low, high = wilson(round(accuracy * images), images)
    return f"{percent(accuracy)} (95% interval {percent(low, 0)}–{percent(high, 0)}, {images} images)"


def chance_margin(images: int) -> float:
    """How far apart two accuracies measured on the same `images` test images may land by chance alone:
    the widest 95 % half-interval of one accuracy (at 50 %), 1.96·√(0.25/n). Two accuracies this close are
    not told apart by so few images; a lead larger than it is worth reading."""
    return Z95 * math.sqrt(0.25 / images) if images > 0 else 1.0


def weights(source: str) -> str:
    """Where a network's starting weights come from, from a config's `weights` value."""
    if source == "none":
        return "random initialisation (training from scratch)"
    if source.startswith("run:"):
        return f"the network of your run {source[4:]}"
    if source.startswith("file:"):
        return "an imported checkpoint"
    return "ImageNet weights" if source == "imagenet" else f"pretrained {source} weights"


def role(name: str) -> str:
    """A run's role: "main", "scratch", "linear_probe", "freeze:N" (a freeze sweep), "datasize:N:kind" (the
    learning-curve lab)."""
    kind, _, rest = name.partition(":")
    if kind == "freeze":
        return f"freeze sweep, {rest} stage{'s' if rest != '1' else ''} frozen"
    if kind == "datasize":
        size, _, start = rest.partition(":")
        return f"learning-curve lab, {size} per class, {'from scratch' if start == 'scratch' else start}"
    return {"main": "main run", "scratch": "from-scratch baseline", "linear_probe": "linear-probe baseline"}.get(
        name, name.replace("_", " "))


BALANCE = {"none": "none (every image counts once)",
           "weighted_loss": "weighted loss (mistakes on rare classes cost more)",
           "balanced_sampler": "balanced sampler (rare classes drawn as often as common ones)"}


FAMILIES = {"efficientnet_lite": "EfficientNet-Lite", "vision_transformer": "vision transformer (ViT)",
            "swin_transformer": "Swin transformer", "mobilenetv2": "MobileNetV2", "mobilenetv3": "MobileNetV3",
            "shufflenetv2": "ShuffleNetV2"}


def family(name: str | None) -> str:
    """A backbone family as its papers name it: "vision_transformer" is a Python module's name."""
    return FAMILIES.get(name or "", (name or MISSING).replace("_", " "))


def balance(option: str) -> str:
    """A `train.class_balance` option in words."""
    return BALANCE.get(option, option.replace("_", " "))


def _field(settings, name: str):
    return settings[name] if isinstance(settings, dict) else getattr(settings, name)


def freeze_plan(freeze, finetune_epochs: int | None = None) -> str:
    """What stays frozen while fine-tuning, e.g. "the first 4 stages frozen (counted from the input)". With
    no fine-tuning epochs the plan never applies: only the head trains, the whole backbone stays frozen."""
    if finetune_epochs == 0:
        return "the whole backbone frozen (only the new head trains)"
    mode, k, stages = _field(freeze, "mode"), _field(freeze, "k"), list(_field(freeze, "stages") or [])
    if mode == "all_but_head":
        return "the whole backbone frozen (only the new head trains)"
    if mode == "none" or (mode == "first_k" and k == 0) or (mode == "explicit" and not stages):
        return "nothing frozen (the whole network trains)"
    if mode == "first_k":
        return f"the first {k} stage{'s' if k != 1 else ''} frozen (counted from the input)"
    return f"frozen: {', '.join(stages)}"


def head(spec) -> str:
    """"a single linear layer" or "hidden layers 256 → 128 (relu, dropout 20%), then a linear layer"."""
    hidden = list(_field(spec, "hidden") or [])
    pool = _field(spec, "pool")
    pooled = "" if pool == "auto" else f", {pool} pooling"
    if not hidden:
        return f"a single linear layer{pooled}"
    dropout = _field(spec, "dropout")
    extra = f", dropout {percent(dropout, 0)}" if dropout else ""
    return (f"hidden layers {' → '.join(str(h) for h in hidden)} ({_field(spec, 'activation')}{extra}), "
            f"then a linear layer{pooled}")


def blank(value) -> object:
    """A table cell: nothing for a value that does not exist, the value otherwise."""
    return "" if value is None else value
