"""One heavy lab computation at a time in the server process, first come first served.

The learning-rate finder and the stage probe run inside the Streamlit server (they are seconds long and
their answer is shown at once). Thirty people pressing the button together would otherwise start thirty
torch loops in one process, each asking for every core and holding its own copy of the network: all
thirty finish late, together. In turn, the first answer comes after one computation's time and each
person waits only for those ahead of them. A question already answered comes from st.cache_data at once.

The gate is taken inside the st.cache_data functions, so a cached answer never waits. Nothing is drawn
while waiting (an element written from inside a cached function is replayed on every hit); the spinner
says that other people's computations may go first.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class Gate:
    """A ticket lock: callers enter in the order they arrived, one at a time (threading.Lock promises
    no order, so a late caller could overtake people who have waited longer)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._changed.wait_for(lambda: self._serving == ticket)
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()

    def queued(self) -> int:
        """Callers holding or waiting for the gate now."""
        with self._changed:
            return self._next_ticket - self._serving


LAB = Gate()  # the server process's one gate for the lab tools
