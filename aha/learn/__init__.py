"""Training pieces shared by the stages: rollout batches, the policy update, optimiser and schedule."""
