"""Export the served network as ONNX beside its TorchScript file, for ONNX Runtime.

The TorchScript file stays the product's contract and the default; the ONNX file is the same
network for the service's ONNX Runtime backend (MODEL_BACKEND=onnx; README, "TorchScript or
ONNX Runtime"). It is exported from the TorchScript file itself, so it is exactly the graph that
is served, frozen weights included; it is refused unless ONNX Runtime computes the same logits
as TorchScript within PARITY_TOLERANCE, and its SHA-256 is then recorded in the model's metadata
(`onnx_sha256`), which the service verifies before loading it, as it does the TorchScript file's.
Run it again whenever the TorchScript file changes (`make train` does): a retrained model's
fresh metadata records no ONNX export, and the ONNX backend refuses to start until it does.

    make export-onnx  # python -m training.export_onnx weights/penguin_classifier.pt -> .onnx

Writing the export needs the extra `onnx` (pip install -e '.[onnx]'); serving it only
onnxruntime, a serving dependency.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

from service.model.classifier import load_classifier
from service.model.formats import backend_file, load_onnx_model
from service.model.metadata import sha256_of, write_metadata
from training.export import PARITY_TOLERANCE

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(model_path: Path, output: Path | None = None, *, check_batch_size: int = 3
                ) -> Path:
    """Write the TorchScript model at `model_path` as ONNX (batch size dynamic) and prove that
    ONNX Runtime agrees with TorchScript on a random batch; returns the ONNX file's path.

    The TorchScript file is verified against its metadata first, as the service does. Written
    beside the model (the default), the export's checksum is recorded in the model's metadata
    so the service can serve it; written elsewhere, the metadata is left alone."""
    beside = backend_file(model_path, "onnx")
    output = output or beside
    served = load_classifier(model_path)
    module, metadata = served.module, served.metadata
    size = metadata.preprocessing.input_size
    example = torch.randn(2, 3, size, size)
    with warnings.catch_warnings():
        # torch marks this TorchScript-based exporter deprecated; it is the one that takes the
        # served (scripted, frozen) module as it is. Only its own notices are silenced.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=r"no signature found", category=UserWarning)
        # An optimisation it skips (strided slices left unfolded), not a wrong graph: the
        # parity check below is what proves the export computes what TorchScript does.
        warnings.filterwarnings("ignore", message=r"Constant folding - Only steps=1",
                                category=UserWarning)
        torch.onnx.export(
            module, (example,), str(output), dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    check_parity(module, output, torch.randn(check_batch_size, 3, size, size))
    if output == beside:
        write_metadata(model_path, metadata.model_copy(update={"onnx_sha256": sha256_of(output)}))
    return output


def check_parity(module: torch.nn.Module, onnx_file: Path, batch: torch.Tensor) -> float:
    """The largest logit difference between TorchScript and ONNX Runtime; raises past the
    tolerance (and removes the file, so a wrong export is never left beside the model)."""
    with torch.inference_mode():
        expected = module(batch)
        actual = torch.from_numpy(
            load_onnx_model(onnx_file, threads=torch.get_num_threads())(batch.numpy()))
    difference = (expected - actual).abs().max().item()
    if difference > PARITY_TOLERANCE:
        onnx_file.unlink(missing_ok=True)
        raise RuntimeError(f"ONNX export differs from TorchScript by {difference:.2e} "
                           f"(tolerance {PARITY_TOLERANCE:.0e}); not written")
    return difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the TorchScript model file (.pt)")
    parser.add_argument("--output", type=Path, help="default: beside it, with .onnx")
    args = parser.parse_args()
    print(export_onnx(args.model, args.output))


if __name__ == "__main__":
    main()
