"""Running queued jobs: the data home's one worker (`service`: its lock, starting it, heartbeats), its
supervisor (`supervisor`) and slot processes (`slot`), how many jobs the device holds (`capacity`),
the clocks both executors share (`timing`), and how a job ends (`outcome`: one pure decision, one
writer). `execute.ray` sends the same queue to a Ray cluster (`dispatch`, `task`, `cluster`).
"""
