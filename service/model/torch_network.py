"""The TorchScript backend: torch's half of preprocessing, and the network that uses it.

Also what training and the benchmark use to normalise uint8 photos with torch, so that the
network learns on exactly the input it is served.

The file holds float32 weights; the forward pass may run in bfloat16 (INFERENCE_PRECISION). On
CPUs that compute bfloat16 natively (AVX512-BF16, AMX) that about halves the cost of a pass, and
the shipped model names the same real photos right (weights/MODEL_CARD.md); elsewhere oneDNN
emulates bfloat16, slower than float32, which is why `auto` asks the CPU first.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from service.model.formats import load_model
from service.model.metadata import Preprocessing
from service.model.networks import ExecutedPrecision, Precision
from service.model.preprocessing import normalisation_affine

# NHWC-strided input lets oneDNN skip a layout conversion per convolution: measured 1.6 to 2.3x
# the images/s of contiguous input at batch 8 to 16, slightly slower at batch 1 (BENCHMARK.md).
CHANNELS_LAST = True


class TorchScriptNetwork:
    """A frozen TorchScript module run on `threads` torch threads, in `precision`."""

    def __init__(self, module: torch.nn.Module, spec: Preprocessing, *, threads: int,
                 precision: ExecutedPrecision = "float32") -> None:
        self.module = module
        self.spec = spec
        self.threads = threads
        self.precision = precision

    @torch.inference_mode()
    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(pixels)).numpy()

    @torch.inference_mode()
    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """The pass over a prepared batch, in this network's precision: float32 logits."""
        if self.precision == "float32":
            return self.module(batch)
        # Autocast runs the frozen graph's convolutions and matmuls in bfloat16 (its weights
        # cast on the fly), everything else in float32; the logits come back as float32.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.module(batch).float()

    @torch.inference_mode()
    def prepare(self, pixels: np.ndarray) -> torch.Tensor:
        return normalize(as_batch(pixels), self.spec)

    def configure_thread(self) -> None:
        """The intra-op thread count is per calling thread in some torch builds: set it there."""
        torch.set_num_threads(self.threads)


def load_torchscript_network(path: Path, spec: Preprocessing, *, threads: int,
                             precision: Precision = "float32") -> TorchScriptNetwork:
    return TorchScriptNetwork(load_model(path), spec, threads=threads,
                              precision=resolve_precision(precision))


def resolve_precision(requested: Precision) -> ExecutedPrecision:
    """`auto` is bfloat16 where the CPU computes it natively, float32 elsewhere."""
    if requested != "auto":
        return requested
    return "bfloat16" if native_bfloat16() else "float32"


def native_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions in hardware here: its own check, which torch
    exposes only as this operator."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def as_batch(pixels: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 photos as an NCHW tensor: channels-last, a view of the same bytes
    (copied only when they are not contiguous or not writable, as torch requires), when that
    is faster; otherwise contiguous NCHW."""
    nhwc = np.require(pixels, requirements=("C_CONTIGUOUS", "WRITEABLE"))
    nchw = torch.from_numpy(nhwc).permute(0, 3, 1, 2)
    return nchw if CHANNELS_LAST else nchw.contiguous()


def normalize(pixels: torch.Tensor, spec: Preprocessing) -> torch.Tensor:
    """uint8 CHW (or NCHW) pixels to the float input the network was trained on, in the same
    memory layout (a channels-last batch stays channels-last).

    `(x / 255 - mean) / std` is computed as one multiply-add, `x * scale + offset`, with scale
    and offset laid out like the pixels' own memory: torch broadcasts a 3-vector over the
    innermost dimension of a channels-last batch about ten times slower than it runs two
    contiguous rows, and at batch 32 that made normalising cost more than the forward pass.
    """
    if pixels.dim() == 4 and _is_channels_last(pixels):
        nhwc = pixels.permute(0, 2, 3, 1)  # a contiguous view of the same memory
        scale, offset = _affine_rows(spec.mean, spec.std, pixels=nhwc.shape[1] * nhwc.shape[2])
        flat = torch.addcmul(offset, nhwc.reshape(len(nhwc), -1).float(), scale)
        return flat.view(nhwc.shape).permute(0, 3, 1, 2)
    scale, offset = _affine_rows(spec.mean, spec.std, pixels=1)
    shape = (-1, 1, 1)  # one value per channel, broadcast over contiguous rows of pixels
    return torch.addcmul(offset.view(shape), pixels.float(), scale.view(shape))


def _is_channels_last(pixels: torch.Tensor) -> bool:
    return (pixels.is_contiguous(memory_format=torch.channels_last)
            and not pixels.is_contiguous() and pixels.shape[1] == 3)


@functools.lru_cache(maxsize=8)
def _affine_rows(mean: tuple[float, ...], std: tuple[float, ...], *, pixels: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and offset for `pixels` pixels of interleaved channels (HWC order). Cached: the
    same few input sizes are normalised over and over."""
    scale, offset = normalisation_affine(mean, std)
    return (torch.from_numpy(np.tile(scale, pixels)).float(),
            torch.from_numpy(np.tile(offset, pixels)).float())
