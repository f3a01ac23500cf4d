"""How PyTorch's idle CPU threads should wait on a shared box: `python tools/thread_wait_bench.py --json`.

One training step of EfficientNet-Lite0 (random weights, batch 16, 224 px, channels-last: what a fine-tuning
slot runs), timed in a fresh process alone and then beside a second process that trains the same network
without pause, once with GNU OpenMP's default wait (idle threads spin for a while) and once with
OMP_WAIT_POLICY=PASSIVE (they sleep), which core/__init__.py sets. Both processes of a pair use the same policy,
as the app server and a worker slot do. Prints seconds per step (median of the rounds) and the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# torch first: libgomp reads OMP_WAIT_POLICY when torch loads, so core's default must not get in first here
STEP = """
import sys, time, torch
from core.config import RunConfig
from core.models.transfer import build_model
torch.manual_seed(0)
net = build_model(RunConfig(backbone="efficientnet_lite0", weights="none"), 10).to(memory_format=torch.channels_last)
opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01)
x = torch.randn(16, 3, 224, 224).to(memory_format=torch.channels_last)
y = torch.randint(0, 10, (16,))
def step():
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); opt.step()
step()
steps, forever = int(sys.argv[1]), sys.argv[2] == "forever"
while True:
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if not forever:
        print((time.perf_counter() - started) / steps)
        break
"""


def environment(policy: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return {**env, "OMP_WAIT_POLICY": policy} if policy else env


def timed(policy: str | None, steps: int, beside: bool) -> float:
    env = environment(policy)
    other = subprocess.Popen([sys.executable, "-c", STEP, "1", "forever"], cwd=ROOT, env=env) if beside else None
    try:
        if other:
            time.sleep(8)  # the other process has imported torch and is training
        done = subprocess.run([sys.executable, "-c", STEP, str(steps), "once"], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        return float(done.stdout.strip())
    finally:
        if other:
            other.kill()
            other.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    result: dict = {"load_average": round(load, 2), "cpu_cores": os.cpu_count(), "steps": args.steps}
    for place, beside in (("alone", False), ("beside_another", True)):
        seconds = {"spin": [], "passive": []}
        for _ in range(args.rounds):  # alternated, so a change in the box's load falls on both
            seconds["spin"].append(timed(None, args.steps, beside))
            seconds["passive"].append(timed("PASSIVE", args.steps, beside))
        result[place] = {name: round(statistics.median(values), 3) for name, values in seconds.items()}
        result[place]["spin_over_passive"] = round(result[place]["spin"] / result[place]["passive"], 2)
    print(json.dumps(result, indent=2) if args.json else
          "\n".join(f"{place}: {values}" for place, values in result.items()))


if __name__ == "__main__":
    main()
