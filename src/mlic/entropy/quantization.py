"""Quantization helpers shared by the entropy models and MEM++."""
import torch


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return (torch.round(x) - x).detach() + x


def add_uniform_noise(x: torch.Tensor) -> torch.Tensor:
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)
