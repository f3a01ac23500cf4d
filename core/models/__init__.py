"""Pretrained networks cut for transfer: the backbone registry (`registry`, with the sources that
register into it: `torchvision_source`, `timm_source`, `run_source`), stages a person can freeze
(`stages`), where weights come from (`weights`) and the copies a process keeps (`pretrained_cache`),
cutting a classifier (`surgery`), the transfer model (`transfer`), the ImageNet probe (`imagenet`),
top-k (`outputs`) and time estimates (`estimate`).

Importing this package registers every source; the names below are the public face.
"""
from core.models import run_source, timm_source, torchvision_source  # noqa: F401  (they register)
from core.models.registry import SOURCES, BackboneInfo, check, describe, get, list_backbones, names, stage_count
from core.models.transfer import TransferModel, build_model, plan_summary

__all__ = ["SOURCES", "BackboneInfo", "check", "describe", "get", "list_backbones", "names", "stage_count",
           "TransferModel", "build_model", "plan_summary"]
