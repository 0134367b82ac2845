"""What turns events into runs and executes them: dispatch, the executor, workers, schedules, waits, steps."""
