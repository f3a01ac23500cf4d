"""A teacher runs one server for a class: classes with a join code and a teacher key (`classes`), the
teacher's view of the class (`teacher`: the students' runs, the queue, publishing datasets, the
preset and locks, the held-out set and its leaderboard), a new student's draft from the class rules
(`rules`), and a simulated class as a benchmark (`sim`). Builds on `runs` (the queue, drafts, the
rules kept at admission), `execute` (the worker slots), `serving` (holdouts) and `data` (datasets
shared read-only with a class)."""
