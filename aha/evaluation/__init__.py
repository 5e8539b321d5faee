"""Evaluation: pass@k, cons@k and their standard errors over benchmark samples."""
