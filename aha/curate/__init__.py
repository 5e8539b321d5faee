"""Curating sampled completions into training data (rejection sampling): filters, and later verdicts and mixes."""
