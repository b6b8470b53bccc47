"""Low-rank adapters (LoRA) on the e5 encoder's linear layers, for training the span reader:
W x + (alpha / r) * B A x with A, B trainable and W frozen. Written out (not peft) because
it is twenty lines and the runtime merges the same arrays into the ONNX graph's weights."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# Every linear map in each layer: attention query/key/value/output and both FFN maps.
LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")  # fmt: skip
ALPHA = 16.0


class LoraLinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (B starts at zero)."""

    def __init__(self, base: nn.Linear, rank: int) -> None:
        super().__init__()
        self.base = base
        self.scale = ALPHA / rank
        self.lora_a = nn.Parameter(torch.randn(rank, base.in_features) / rank**0.5 * 0.1)
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def _layer(name: str) -> int:
    parts = name.split(".")
    if "layer" not in parts or parts[-1] == "layer":
        return -1
    return int(parts[parts.index("layer") + 1])


def add_lora(encoder: nn.Module, rank: int, top_layers: int) -> None:
    """Wrap the LORA_TARGETS linears of the top ``top_layers`` layers, whose LayerNorms also
    train (tiny); the layers below stay frozen, so backward passes stop above them."""
    first = encoder.config.num_hidden_layers - top_layers
    for name, module in list(encoder.named_modules()):
        if _layer(name) < first:
            continue
        for target in LORA_TARGETS:
            if name.endswith(target) and isinstance(module, nn.Linear):
                parent, _, leaf = name.rpartition(".")
                setattr(encoder.get_submodule(parent), leaf, LoraLinear(module, rank))
    for name, p in encoder.named_parameters():
        if "LayerNorm" in name and _layer(name) >= first:
            p.requires_grad = True


def lora_state(encoder: nn.Module) -> dict[str, np.ndarray]:
    """Each adapted layer's merged delta factors (B * scale, A) and the trained LayerNorms,
    keyed by the Hugging Face parameter name they apply to."""
    out: dict[str, np.ndarray] = {}
    for name, module in encoder.named_modules():
        if isinstance(module, LoraLinear):
            out[f"{name}.weight.lora_b"] = (module.lora_b * module.scale).detach().numpy()
            out[f"{name}.weight.lora_a"] = module.lora_a.detach().numpy()
    for name, p in encoder.named_parameters():
        if p.requires_grad and "LayerNorm" in name:
            out[name] = p.detach().numpy()
    return out


def load_lora_state(encoder: nn.Module, state: dict[str, np.ndarray]) -> None:
    """Continue from saved adapters: the inverse of `lora_state` on an `add_lora` encoder."""
    params = dict(encoder.named_parameters())
    with torch.no_grad():
        for name, module in encoder.named_modules():
            if isinstance(module, LoraLinear):
                b = torch.from_numpy(state[f"{name}.weight.lora_b"].astype(np.float32))
                module.lora_b.copy_(b / module.scale)
                module.lora_a.copy_(torch.from_numpy(state[f"{name}.weight.lora_a"].astype(np.float32)))
        for key, value in state.items():
            if "LayerNorm" in key and key in params:
                params[key].copy_(torch.from_numpy(value.astype(np.float32)))
