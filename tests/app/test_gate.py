"""The server's lab gate under real threads: one heavy computation at a time, in arrival order, and a
question already answered never waits in line."""
import threading
import time

from ui import gate, lab

WAIT = 30  # seconds: a generous bound for a thread that should finish at once


class Overlap:
    """Counts how many callers are inside at once."""

    def __init__(self) -> None:
        self.inside = self.most = 0
        self.lock = threading.Lock()
        self.order: list[int] = []

    def enter(self, who: int) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
            self.order.append(who)

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1


def started(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def wait_until(condition) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_one_at_a_time_in_the_order_people_arrived():
    door, seen, release = gate.Gate(), Overlap(), threading.Event()

    def hold():
        with door.turn():
            release.wait(WAIT)

    def visit(who: int):
        with door.turn():
            seen.enter(who)
            time.sleep(0.02)
            seen.leave()

    threads = [started(hold)]
    for who in range(6):
        threads.append(started(visit, who))
        wait_until(lambda who=who: door.queued() == who + 2)  # this one is in line before the next arrives
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert seen.order == list(range(6)) and seen.most == 1 and door.queued() == 0


def test_a_failed_computation_lets_the_next_person_in():
    door = gate.Gate()

    def fail():
        with door.turn():
            raise RuntimeError("out of memory")

    failing = started(fail)
    failing.join(WAIT)
    entered = threading.Event()

    def follow():
        with door.turn():
            entered.set()

    started(follow).join(WAIT)
    assert entered.is_set()


def test_the_probe_runs_one_person_at_a_time_and_a_cached_answer_does_not_queue(monkeypatch):
    seen = Overlap()

    def probe_stages(backbone, dataset, owner, weights):
        seen.enter(int(owner[-1]))
        time.sleep(0.1)
        seen.leave()
        return [{"name": "stem", "probe_accuracy": 0.5, "owner": owner}]

    monkeypatch.setattr(lab.activations, "probe_stages", probe_stages)
    lab._probe.clear()
    people = [started(lab._probe, "leaves", f"student-{i}", "resnet18", "imagenet", (1,)) for i in range(4)]
    for person in people:
        person.join(WAIT)
    assert seen.most == 1 and sorted(seen.order) == [0, 1, 2, 3]

    answered = {}
    with gate.LAB.turn():  # someone else's long computation holds the gate
        asker = started(lambda: answered.update(rows=lab._probe("leaves", "student-0", "resnet18", "imagenet", (1,))))
        asker.join(WAIT)
    assert answered["rows"][0]["owner"] == "student-0"  # answered from the cache while the gate was held
