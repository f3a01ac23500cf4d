"""AppTest helpers: the app with a draft prepared in the store, addressed by its URL token.

Each test has one person, `me` (a fresh draft token = owner token): `open_app` opens the app as that
person unless told otherwise, and `sample_dataset` is their dataset, invisible to anyone else.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import DataSpec, RunConfig
from core.data import samples
from core.runs import drafts
from tests.conftest import ROOT
from tests.wording import page_text, raw_words

TIMEOUT = 120
_person: dict[str, str] = {}


@pytest.fixture(autouse=True)
def me(data_home) -> str:
    _person["token"] = drafts.new()
    return _person["token"]


@pytest.fixture
def sample_dataset(me):
    samples.materialize("digits", "dg", per_class=8, owner=me)
    return "dg"


def open_app(config: RunConfig | None = None, page: str | None = None, token: str | None = None,
             state: dict | None = None) -> tuple[AppTest, str]:
    token = token or _person["token"]
    drafts.save(token, config or RunConfig(), state or {})
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params["s"] = token
    at.run()
    if page:
        at.switch_page(page).run()
    return at, token


def with_data(dataset: str) -> RunConfig:
    return RunConfig(data=DataSpec(dataset=dataset))


def no_exceptions(at: AppTest) -> None:
    """No exception, and no code or raw number in what the page says (issue 29's wording check)."""
    assert not at.exception, [e.value for e in at.exception]
    assert raw_words(page_text(at)) == [], raw_words(page_text(at))
