"""Per-token estimators of KL(pi || pi_ref) from samples of pi (Schulman 2020, "Approximating KL divergence").

Each takes logp, ref_logp [B,T] (log-probs of the sampled tokens under the policy and the reference) and
returns [B,T]. With r = pi_ref / pi = exp(ref_logp - logp):
k1 = -log r (unbiased, high variance, can be negative), k2 = (log r)^2 / 2 (biased, low variance),
k3 = r - 1 - log r (unbiased, always >= 0; DeepSeek-R1 eq. 2).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aha.registry import Registry

KLFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def k1(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    return logp - ref_logp


def k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    return 0.5 * (logp - ref_logp) ** 2


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    log_ratio = (ref_logp - logp).clamp(-20.0, 20.0)  # keeps exp finite when the two drift far apart
    return torch.exp(log_ratio) - log_ratio - 1.0


KL_ESTIMATORS: Registry[KLFn] = Registry("KL estimator")
for _name, _fn in (("k1", k1), ("k2", k2), ("k3", k3)):
    KL_ESTIMATORS.register(_name)(_fn)
get = KL_ESTIMATORS.get
