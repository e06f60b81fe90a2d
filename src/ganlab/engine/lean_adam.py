"""torch's fused Adam with less Python around its kernel, for the many small steps a GAN takes."""

from __future__ import annotations

import torch

from ganlab.engine import private_apis

# Adam's options whose every value LeanAdam's own step handles or sends to torch's. An optimizer
# with any other option (a new torch release's) takes torch's step; tests/test_lean_adam.py fails
# when torch's Adam has options this does not list.
KNOWN_OPTIONS = frozenset(
    {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable",
     "fused", "decoupled_weight_decay"}
)


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` whose plain steps call the fused kernel directly.

    A GAN iteration takes three optimizer steps on small nets, and torch's step spends much of its
    time on bookkeeping for cases these steps never have (regrouping tensors by device and dtype,
    CUDA-graph capture checks, the differentiable-mode wrapper; benchmarks/README.md has the
    figures). This subclass runs the same kernel on the same state, so results are bit-identical
    and checkpoints load in either class. It stays a ``torch.optim.Adam``: step hooks, the profiler
    label, LR schedulers (``group["lr"]`` is read every step) and ``state_dict`` are torch's.

    ``zero_grad()`` likewise sets the gradients to None without torch's per-call wrapping.

    Anything else goes to torch's step: the first step (torch creates the state), ``fused`` off,
    amsgrad, capturable (CUDA graphs) or differentiable groups, decoupled weight decay, a tensor lr
    or betas, an option it does not know, AMP's grad scaler, parameters on several devices or dtypes.
    """

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        plans = self._plans()
        if plans is None:
            private_apis.adam_step_without_hooks(self)
            return loss
        with torch.no_grad():
            for group, params, states in plans:
                beta1, beta2 = group["betas"]
                private_apis.fused_adam_step(
                    params,
                    [p.grad for p in params],
                    [state["exp_avg"] for state in states],
                    [state["exp_avg_sq"] for state in states],
                    [state["step"] for state in states],
                    lr=group["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    weight_decay=group["weight_decay"],
                    eps=group["eps"],
                    maximize=group["maximize"],
                )
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        # torch's runs this same loop inside a profiler label and a torch.compile guard
        if not set_to_none:
            return super().zero_grad(set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _plans(self) -> list | None:
        """Each group's parameters with gradients and their states, or None where torch must step."""
        if getattr(self, "grad_scale", None) is not None or not self.defaults.keys() <= KNOWN_OPTIONS:
            return None  # AMP's GradScaler sets grad_scale; an unknown option may change the arithmetic
        plans = []
        for group in self.param_groups:
            if not _plain(group):
                return None
            params = [p for p in group["params"] if p.grad is not None]
            states = [self.state[p] for p in params]
            if any(not state for state in states) or not _one_device_and_dtype(params):
                return None
            if params:
                plans.append((group, params, states))
        return plans


def _plain(group: dict) -> bool:
    return (
        group["fused"]
        and not group["amsgrad"]
        and not group["capturable"]
        and not group["differentiable"]
        and not group.get("decoupled_weight_decay", False)
        and not torch.is_tensor(group["lr"])
        and not any(torch.is_tensor(beta) for beta in group["betas"])
    )


def _one_device_and_dtype(params: list[torch.Tensor]) -> bool:
    return all(p.device == params[0].device and p.dtype == params[0].dtype for p in params)
