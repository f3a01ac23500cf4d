"""AppTest helpers: the app with a draft prepared in the store, addressed by its URL token."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.data import samples
from core.jobs import drafts
from core.config import DataSpec, RunConfig
from tests.conftest import ROOT

TIMEOUT = 120


@pytest.fixture
def sample_dataset():
    samples.materialize("digits", "dg", per_class=8)
    return "dg"


def open_app(config: RunConfig | None = None, page: str | None = None) -> tuple[AppTest, str]:
    token = drafts.new(config or RunConfig())
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params["s"] = token
    at.run()
    if page:
        at.switch_page(page).run()
    return at, token


def with_data(dataset: str) -> RunConfig:
    return RunConfig(data=DataSpec(dataset=dataset))


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
