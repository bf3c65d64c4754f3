"""examples/train_digits.py's log: clean when not a terminal, the objective explained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import import_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"


def test_log_has_no_bar_fragments_and_explains_the_objective(tmp_path, capsys):
    pytest.importorskip("sklearn")
    module = import_file(EXAMPLE, "example_train_digits_log")
    module.main(["--epochs", "2", "--weight-decay", "0.01", "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr()
    assert "\r" not in out.out + out.err and "it/s" not in out.out + out.err
    assert "cross-entropy plus 0.01 times the L2 penalty" in out.out
    epochs = re.findall(r"epoch +\d+/2 +objective ([\d.]+) +train loss ([\d.]+)", out.out)
    assert len(epochs) == 2
