"""A teacher runs one server for a class: classes with a join code and a teacher key (`classes`), the
teacher's view of the class (`teacher`: the students' runs, the queue, publishing datasets, the
preset and locks, the held-out set and its leaderboard). Builds on `jobs` (policies, holdouts, the
fair queue) and `data` (datasets shared read-only with a class)."""
