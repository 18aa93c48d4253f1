"""The best model kept in the run folder, ``mtltune predict`` and ``mtltune.load_run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import mtltune


def shop_table(n: int = 240) -> pd.DataFrame:
    """Prices (positive, skewed), a three-class kind and a yes/no label from two inputs."""
    rng = np.random.default_rng(0)
    size = rng.uniform(0, 3, n)
    colour = rng.choice(["red", "blue", "green"], n)
    price = np.exp(5 + size + 0.5 * (colour == "red") + rng.normal(0, 0.2, n))
    kind = np.where(size < 1, "small", np.where(size < 2, "mid", "large"))
    sold = np.where(price > np.median(price), "yes", "no")
    height = 100.0 + 30.0 * size + rng.normal(0, 5, n)
    return pd.DataFrame(
        {
            "size": size,
            "colour": colour,
            "price": price,
            "height": height,
            "kind": kind,
            "sold": sold,
        }
    )


SHOP: dict[str, Any] = {
    "name": "shop",
    "seed": 1,
    "data": {"source": "rows.csv", "inputs": ["size", "colour"]},
    "heads": {
        "price": {"scale": "log"},
        "height": {},  # scale: standard, the default
        "kind": {"kind": "multiclass"},
        "sold": {"kind": "binary"},
    },
    "model": {"units": [8]},
    "training": {"max_epochs": 2, "batch_size": 32, "patience": 2},
    "search": {"tuner": "random", "max_trials": 1, "strategies": ["weighted"]},
    "report": {"plots": False},  # the report's figures are tests/report's
}


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A finished one-trial search of the shop table (run folder, table)."""
    folder = tmp_path_factory.mktemp("shop")
    table = shop_table()
    table.to_csv(folder / "rows.csv", index=False)
    (folder / "study.yaml").write_text(yaml.safe_dump(SHOP))
    study = mtltune.load_study(folder / "study.yaml")
    run_dir = folder / "run"
    mtltune.run_study(study, run_dir, report=True)
    return run_dir, table


def test_best_model_loads_without_mtltune_and_reproduces_the_test_losses(shop_run) -> None:
    run_dir, table = shop_run
    script = (
        "import json, sys, numpy as np, keras\n"
        "model = keras.saving.load_model(sys.argv[1] + '/best_model.keras')\n"
        "x = np.load(sys.argv[1] + '/predictions.npz')['x']\n"
        "out = model.predict(x, verbose=0)\n"
        "outputs = {k: np.asarray(v).tolist() for k, v in out.items()}\n"
        "print(json.dumps({'mtltune': 'mtltune' in sys.modules, **outputs}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(run_dir)], capture_output=True, text=True, check=True
    )
    printed = json.loads(done.stdout.splitlines()[-1])
    assert printed.pop("mtltune") is False  # loaded by Keras alone
    outputs = {k: np.asarray(v) for k, v in printed.items()}
    arrays = np.load(run_dir / "predictions.npz")
    role = recommended_role(run_dir)  # best_model.keras is the recommendation's model
    test = json.loads((run_dir / "report.json").read_text())[role]["test"]
    rows = table.iloc[arrays["rows"]]
    price, height = rows["price"].to_numpy(), rows["height"].to_numpy()
    # In the targets' units: dollars (its loss: the MSE of log price), centimetres.
    np.testing.assert_allclose(outputs["price"], arrays[f"{role}/price"], rtol=1e-4)
    log_error = np.log(outputs["price"].ravel()) - np.log(price)
    assert test["price"]["loss"] == pytest.approx(np.mean(log_error**2), rel=1e-3)
    assert test["price"]["mae"] == pytest.approx(
        np.mean(np.abs(outputs["price"].ravel() - price)), rel=1e-3
    )
    height_error = outputs["height"].ravel() - height
    assert test["height"]["loss"] == pytest.approx(np.mean(height_error**2), rel=1e-3)
    codes = pd.Index(["large", "mid", "small"]).get_indexer(rows["kind"])
    picked = outputs["kind"][np.arange(len(codes)), codes]
    assert test["kind"]["loss"] == pytest.approx(-np.mean(np.log(picked)), rel=1e-3)


def recommended_role(run_dir: Path) -> str:
    """Which model of ``predictions.npz`` the recommendation is (``best`` or ``baseline``)."""
    verdict = json.loads((run_dir / "report.json").read_text())["verdict"]
    return "baseline" if verdict["recommended"] == "baseline" else "best"


def test_predict_on_the_test_rows_reproduces_predictions_npz(shop_run, tmp_path) -> None:
    run_dir, table = shop_run
    arrays = np.load(run_dir / "predictions.npz")
    role = recommended_role(run_dir)
    rows = table.iloc[arrays["rows"]][["colour", "size"]]  # targets not needed, any order
    data = tmp_path / "new.csv"
    rows.to_csv(data, index=False)
    out = tmp_path / "predicted.csv"
    done = subprocess.run(
        [sys.executable, "-m", "mtltune", "predict", str(run_dir), str(data), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "cuInit" not in done.stderr and "E0000" not in done.stderr, done.stderr
    got = pd.read_csv(out)
    np.testing.assert_allclose(got["price"], arrays[f"{role}/price"].ravel(), rtol=1e-4)
    np.testing.assert_allclose(got["height"], arrays[f"{role}/height"].ravel(), rtol=1e-4)
    kind_p = got[["kind_p_large", "kind_p_mid", "kind_p_small"]].to_numpy()
    np.testing.assert_allclose(kind_p, arrays[f"{role}/kind"], rtol=1e-4, atol=1e-6)
    labels = np.asarray(["large", "mid", "small"])[arrays[f"{role}/kind"].argmax(axis=1)]
    assert got["kind"].tolist() == labels.tolist()
    np.testing.assert_allclose(got["sold_p_yes"], arrays[f"{role}/sold"].ravel(), rtol=1e-4)
    assert set(got["sold"]) <= {"yes", "no"}


def test_predict_refuses_a_missing_column_and_an_existing_out_file(shop_run, tmp_path) -> None:
    run_dir, table = shop_run
    data = tmp_path / "new.csv"
    table[["size"]].to_csv(data, index=False)
    command = [sys.executable, "-m", "mtltune", "predict", str(run_dir), str(data)]
    missing = subprocess.run(command, capture_output=True, text=True)
    assert missing.returncode == 2
    assert "'colour'" in missing.stderr and "not in the data" in missing.stderr
    out = tmp_path / "mine.csv"
    out.write_text("my own file\n")
    table.to_csv(data, index=False)
    existing = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert existing.returncode == 2 and "--overwrite" in existing.stderr
    assert out.read_text() == "my own file\n"


def test_load_run_predicts_a_dataframe_and_names_a_bad_column(shop_run) -> None:
    run_dir, table = shop_run
    run = mtltune.load_run(run_dir)
    predictions = run.predict(table.head(5))
    assert list(predictions.table.index) == list(table.head(5).index)
    assert (predictions.table["price"] > 0).all()
    assert set(predictions.outputs) == {"price", "height", "kind", "sold"}
    bad = table.head(5).assign(size=["a", "b", "c", "d", "e"])
    with pytest.raises(mtltune.DataError, match=r"column 'size'.*expected numbers"):
        run.predict(bad)


def test_the_report_gives_the_compile_lines_of_the_recommendation(shop_run) -> None:
    run_dir, _ = shop_run
    report = (run_dir / "report.md").read_text()
    doc = json.loads((run_dir / "report.json").read_text())
    plan = doc["baseline" if doc["verdict"]["recommended"] == "baseline" else "best"]["plan"]
    assert plan["strategy"] == "weighted"
    assert "model.compile(" in report
    assert f"learning_rate={plan['learning_rate']:.6g}" in report
    assert f'"price": {plan["loss_weights"]["price"]:.6g}' in report
    assert "loss of log(target)" in report
