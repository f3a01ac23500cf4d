"""How a job ends: the decision alone, without a database (the writer is covered by tests/test_jobs.py)."""
import torch

from core.errors import ConfigError, UserError
from core.execute.outcome import Fail, Interrupt, Lost, Retry, decide


def _job(attempts: int = 0) -> dict:
    return {"id": 1, "run_id": "abcdefabcdef", "kind": "train", "attempts": attempts, "batch_size": None}


class OutOfMemoryError(Exception):
    """Named like Ray's and torch's: recognised by name, without importing either."""


def test_out_of_memory_on_a_first_attempt_retries_at_half_the_batch(data_home):
    verdict = decide(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), _job(), 32)
    assert verdict == Retry(16, "out of GPU memory at batch size 32; retrying at 16")
    assert decide(OutOfMemoryError("task killed"), _job(), 9) == Retry(4, "out of GPU memory at batch size 9; retrying at 4")
    assert decide(MemoryError("out of memory: node 3"), _job(), 2).batch_size == 1
    assert not (data_home / "transferlab.db").exists()  # decided without the record


def test_out_of_memory_again_or_at_batch_one_fails_with_advice():
    for verdict in (decide(torch.cuda.OutOfMemoryError("CUDA out of memory"), _job(attempts=1), 16),
                    decide(torch.cuda.OutOfMemoryError("CUDA out of memory"), _job(), 1)):
        assert isinstance(verdict, Fail) and verdict.internal
        assert verdict.message.startswith("out of GPU memory even at a smaller batch size: choose a smaller backbone")


def test_a_persons_mistake_fails_with_its_message_and_a_bug_fails_as_internal():
    assert decide(ConfigError("backbone", "no such model"), _job(), 32) == Fail("backbone: no such model", internal=False)
    assert decide(UserError("loss became nan"), _job(), 32) == Fail("loss became nan", internal=False)
    assert decide(KeyError("x"), _job(), 32) == Fail("internal error: KeyError: 'x'", internal=True)


def test_a_lost_process_or_node_interrupts():
    assert decide(Lost("the Ray node went away"), _job(attempts=1), 32) == Interrupt("the Ray node went away")
