"""The run records and their queue: runs, pauses, workers, the step log, and the operator surface over them."""
