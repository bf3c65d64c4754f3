"""The examples run and reach their accuracy targets (they need the scikit-learn datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import import_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    return import_file(EXAMPLES / f"{name}.py", f"example_{name}")


def test_seed_examples_run(capsys, tmp_path):
    load("seed_examples").main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "max |diff|" in out and "lambda" in out
    names = {"chain_rule", "neg_log_sigmoid", "reused_value", "skip_connection", "mlp"}
    assert {p.stem for p in tmp_path.glob("*.dot")} == names | {"neg_log_sigmoid_collapsed"}
    assert all(p.read_text().startswith("digraph") for p in tmp_path.glob("*.dot"))
    # fgrad's own drawings too, with the boxes of the user's calls
    own = {p.name[: -len(".fgrad.svg")]: p.read_text() for p in tmp_path.glob("*.fgrad.svg")}
    assert set(own) == names | {"neg_log_sigmoid_collapsed"}
    assert own["neg_log_sigmoid"].count('<g class="call">') == 2  # the loss and sigmoid
    assert own["neg_log_sigmoid_collapsed"].count('<g class="call">') == 1


def test_train_digits_learns_quickly(tmp_path):
    pytest.importorskip("sklearn")
    accuracy = load("train_digits").main(["--epochs", "6", "--plot", str(tmp_path / "c.png")])
    assert accuracy >= 0.95


def test_train_digits_with_and_without_jit_agree(tmp_path):
    pytest.importorskip("sklearn")
    module = load("train_digits")
    plot = ["--plot", str(tmp_path / "c.png")]
    assert module.main(["--epochs", "2", *plot]) == module.main(
        ["--epochs", "2", "--no-jit", *plot]
    )


def test_train_digits_cnn_learns_and_jit_agrees_with_eager(tmp_path):
    pytest.importorskip("sklearn")
    module = load("train_digits_cnn")
    args = ["--epochs", "2", "--plot", str(tmp_path / "c.png")]
    accuracy = module.main(args)
    assert accuracy >= 0.9
    assert module.main([*args, "--no-jit"]) == accuracy


def test_logistic_regression_both_ways():
    pytest.importorskip("sklearn")
    pytest.importorskip("scipy")
    module = load("logistic_regression")
    train_acc, test_acc = module.main(["--steps", "300"])
    assert train_acc >= 0.97 and test_acc >= 0.95
    train_acc, test_acc = module.main(["--scipy"])
    assert train_acc >= 0.97 and test_acc >= 0.95


def test_train_digits_on_another_backend(tmp_path):
    """``--device`` moves data and parameters; the strict backend stands in for a GPU."""
    pytest.importorskip("sklearn")
    from strict_backend import registered

    with registered():
        accuracy = load("train_digits").main(
            ["--epochs", "3", "--device", "strict", "--plot", str(tmp_path / "c.png")]
        )
    assert accuracy >= 0.9


def test_train_digits_says_clearly_when_a_device_is_missing(capsys):
    pytest.importorskip("sklearn")
    with pytest.raises(SystemExit):
        load("train_digits").main(["--device", "tpu"])
    assert "not available" in capsys.readouterr().out


def test_sine_rnn_beats_the_naive_forecast_with_and_without_jit():
    module = load("sine_rnn")
    test_mse, naive_mse = module.main(["--steps", "150"])
    assert test_mse < naive_mse / 3
    # the compiled scan and the eager one take the same steps
    np.testing.assert_allclose(
        module.main(["--steps", "3"]), module.main(["--steps", "3", "--no-jit"]), rtol=1e-10
    )
