"""The machinery every stage's run shares: data cursor, prompt encoding, scoring, held-out and benchmark
evaluation, cadence, checkpoints with exact resume, and the run loop (`aha.run.loop.run_stage`)."""
