"""GRPO math as pure functions: advantages, the clipped surrogate, KL estimators, loss aggregation, log-probs.

Shapes: P prompts, G samples per prompt, B = P*G sequences, T completion tokens, V vocab.
"""
