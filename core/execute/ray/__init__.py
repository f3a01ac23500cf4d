"""The Ray executor (TRANSFERLAB_EXECUTOR=ray): the dispatcher on the app server (`dispatch`), what runs
in a task on a node (`task`), and the app server's view of the cluster (`cluster`)."""
