"""Median time of a page rerun after warm-up, through Streamlit's AppTest (the script run only,
no browser). Usage: TRANSFERLAB_HOME=/tmp/x .venv/bin/python tools/rerun_timing.py [--runs 20]"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.config import DataSpec, RunConfig
from core.data import samples
from core.runs import drafts

ROOT = Path(__file__).resolve().parents[1]

PAGES = ["views/home.py", "views/scenario.py", "views/backbone.py", "views/data.py", "views/layers.py"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    samples.materialize("digits", "timing-digits", per_class=20)
    token = drafts.new(RunConfig(data=DataSpec(dataset="timing-digits")))
    results = {}
    for page in PAGES:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
        at.query_params["s"] = token
        at.run()
        at.switch_page(page).run()
        at.run()  # warm-up: caches filled
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - started) * 1000)
        results[page] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
