"""Heavy read-only calls into core, cached across reruns (and sessions) by Streamlit."""
from __future__ import annotations

import streamlit as st

from core import data, models
from core.config import AugmentSpec, RunConfig
from core.data import augment, health, samples
from core.data.transforms import decode_square
from core.models import imagenet
from core.runs import speeds


@st.cache_data(show_spinner=False)
def backbone_rows() -> list[dict]:
    return [b.to_dict() for b in models.list_backbones()]


@st.cache_data(show_spinner=False)
def describe(name: str) -> dict:
    return models.describe(name)


@st.cache_data(show_spinner="Measuring this machine…", ttl=60)  # every finished run updates the measured speed
def epoch_estimate(name: str, images: int, frozen: bool) -> dict:
    return speeds.epoch_estimate(name, images, frozen)


@st.cache_data(show_spinner=False)
def plan_summary(config_json: str, num_classes: int) -> dict:
    return models.plan_summary(RunConfig.from_json(config_json), num_classes)


def dataset_version(name: str, owner: str) -> tuple:
    """Changes whenever the dataset's content or split does: the key for cached health data."""
    counts = data.class_counts(name, owner)
    return tuple(sorted(counts.items())), tuple(sorted(data.split_counts(name, owner).items()))


# Cached calls about a dataset take its owner: two people may both have a dataset called "digits".
@st.cache_data(show_spinner="Checking the dataset…")
def health_report(name: str, owner: str, version: tuple) -> dict:
    return health.check(name, owner)


@st.cache_data(show_spinner=False, max_entries=2000)
def thumbnail(sha: str, size: int = 96):
    return decode_square(data.read_bytes(sha), size).permute(1, 2, 0).numpy()


@st.cache_data(show_spinner="Asking the pretrained network what it sees…")
def measure(dataset: str, owner: str, probe: str, version: tuple) -> dict:
    """`version` changes with the dataset's content, so new images are measured again."""
    return imagenet.measure(dataset, probe, owner=owner)


@st.cache_data(show_spinner=False, max_entries=64)
def augment_preview(dataset: str | None, owner: str, backbone_name: str, spec_key: str, spec: dict,
                    n: int = 8) -> list:
    """One image of the dataset (or a sample photo) augmented n ways with the current settings."""
    raw = _preview_bytes(dataset, owner)
    return augment.preview(raw, AugmentSpec(**spec), models.get(backbone_name).preprocess(), n=n)


def _preview_bytes(dataset: str | None, owner: str) -> bytes:
    if dataset:
        records = data.records(dataset, owner)
        if records:
            return data.read_bytes(records[0].sha256)
    return samples.photo()
