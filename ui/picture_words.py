"""What a picture shows, in words, for the caption under it (issue 33). Streamlit 1.64's `st.image` has no alt
text (it writes the picture's index, alt="0"; streamlit/streamlit#8563), so the caption is each picture's
text alternative: visible, and read by a screen reader right after the picture. Pure: no streamlit here."""
from __future__ import annotations

from ui.words import short_name


def picture(class_name: str, file: str, limit: int = 14) -> str:
    """A dataset image: its class and file, "cat: img_0042.png"."""
    return f"{class_name}: {short_name(file, limit)}"


def judged(true: str, predicted: str, prob: float, file: str) -> str:
    """A test image the model judged: "7 → 1 ✗ 80% · img_7.png" (true → said, right or wrong, how sure; the
    file last, so a row of cards reads by their verdicts)."""
    return f"{true} → {predicted} {'✓' if true == predicted else '✗'} {prob:.0%} · {short_name(file, 14)}"


def heat_map(method: str, file: str, predicted: str, told: str) -> str:
    """"Grad-CAM heat map for cat.png, predicted cat: evidence for cat"."""
    return f"{method} heat map for {file}, predicted {predicted}: {told}"


def predicted(file: str, top: list[dict]) -> str:
    """A picture someone asked about, with the best guess: "cat.png, predicted cat"."""
    return f"{file}, predicted {top[0]['label']}" if top else file


def feature_maps(stage: str, count: int) -> str:
    """A stage's strip of activation maps in the stage viewer."""
    return f"the {count} strongest feature maps of {stage}, dark where weak, yellow where strong"


def augmented(count: int) -> list[str]:
    """The augmentation preview's views of one picture: "augmented view 1 of 8"."""
    return [f"augmented view {i + 1} of {count}" for i in range(count)]
