"""`--pretrained`: real download code, exercised against a local HTTP server and local files."""

import functools
import http.server
import threading
from pathlib import Path

import pytest
import torch
import torchvision

from training.model import PretrainedUnavailable, build_model
from training.train import main as train_main


@pytest.fixture
def weights_server(tmp_path, monkeypatch):
    """Serve tmp_path over HTTP on loopback; the hub cache goes to tmp_path too."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_imagenet_weights_are_downloaded_and_the_head_replaced(weights_server):
    folder, url = weights_server
    published = torchvision.models.mobilenet_v3_small()
    torch.save(published.state_dict(), folder / "mobilenet_v3_small-test.pth")
    model = build_model(
        "mobilenet_v3_small",
        num_classes=4,
        pretrained="imagenet",
        imagenet_url=f"{url}/mobilenet_v3_small-test.pth",
    )
    assert model.classifier[-1].out_features == 4
    assert torch.equal(model.features[0][0].weight, published.features[0][0].weight)


def test_unreachable_weights_stop_with_a_message_naming_the_local_file_option(weights_server):
    _, url = weights_server
    with pytest.raises(PretrainedUnavailable, match="--pretrained /path/to/mobilenet_v3_small.pth"):
        build_model(
            "mobilenet_v3_small",
            num_classes=4,
            pretrained="imagenet",
            imagenet_url=f"{url}/missing.pth",
        )


def test_local_weights_file_is_loaded(tmp_path):
    published = torchvision.models.mobilenet_v3_small()
    path = tmp_path / "local.pth"
    torch.save(published.state_dict(), path)
    model = build_model("mobilenet_v3_small", num_classes=3, pretrained=str(path))
    assert torch.equal(
        model.features[1].block[0][0].weight, published.features[1].block[0][0].weight
    )


def test_missing_local_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(PretrainedUnavailable, match="no such file"):
        build_model("mobilenet_v3_small", num_classes=3, pretrained=str(tmp_path / "nope.pth"))


def test_train_command_without_internet_exits_with_the_message(
    tiny_dataset: Path, tmp_path, monkeypatch, capsys
):
    """The published address is unreachable here; the command must say what to do instead."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    import training.model as model_module

    monkeypatch.setitem(
        model_module.ARCHITECTURES,
        "mobilenet_v3_small",
        (
            torchvision.models.mobilenet_v3_small,
            type("Weights", (), {"url": "http://127.0.0.1:9/unreachable.pth"}),
        ),
    )
    with pytest.raises(SystemExit) as exit_info:
        train_main(
            [
                "--data",
                str(tiny_dataset),
                "--output",
                str(tmp_path / "m.pt"),
                "--arch",
                "mobilenet_v3_small",
                "--pretrained",
                "imagenet",
                "--epochs",
                "1",
                "--workers",
                "1",
            ]
        )
    assert "--pretrained /path/to/mobilenet_v3_small.pth" in str(exit_info.value.code)
