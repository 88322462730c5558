"""Lower bounds with the gradient rule used by CompressAI / tensorflow-compression.

The gradient passes where the input is above the bound *or* where it would push the input up,
so a parameter stuck below the bound can still recover during training.
"""
import torch
from torch import nn


class _LowerBoundFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad_output):
        x, bound = ctx.saved_tensors
        pass_through = (x >= bound) | (grad_output < 0)
        return pass_through * grad_output, None


def lower_bound(x: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
    return _LowerBoundFunction.apply(x, bound)


class LowerBound(nn.Module):
    """``max(x, bound)`` with the pass-through gradient; the bound is a buffer named ``bound``."""

    bound: torch.Tensor

    def __init__(self, bound: float):
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]), persistent=False)

    def forward(self, x):
        if torch.jit.is_scripting() or not torch.is_grad_enabled():
            return torch.max(x, self.bound)
        return lower_bound(x, self.bound)


class NonNegativeParametrizer(nn.Module):
    """Stores a non-negative parameter p as q with p = max(q, bound)^2 - pedestal (GDN's trick)."""

    pedestal: torch.Tensor

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2**-18):
        super().__init__()
        pedestal = float(reparam_offset) ** 2
        self.register_buffer("pedestal", torch.tensor([pedestal]), persistent=False)
        self.lower_bound = LowerBound((float(minimum) + pedestal) ** 0.5)

    def init(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.max(x + self.pedestal, self.pedestal))

    def forward(self, x):
        out = self.lower_bound(x)
        return out**2 - self.pedestal
