"""Write the synthetic data files of studies/imbalanced.yaml and studies/uncertainty.yaml.

Both are generated (seeded) so that the answer is known:

- ``imbalanced.csv``: 3,000 transactions. ``amount`` is a noisy linear function of the
  inputs; ``fraud`` is a rare class (about 8 %) whose log-odds rise with ``x1`` and ``x2`` and
  in region ``north``.
- ``heteroscedastic.csv``: 4,000 rows of ``x ~ U(0, 1)``. ``noisy = sin(2πx) + N(0, 0.05 +
  0.5·x)``: its noise grows with ``x``, so a head that predicts its own log-variance can learn
  it. ``quiet = sin(2πx) + N(0, 0.1)``; ``clean = sin(2πx)``.

Run: python studies/data/make_synthetic.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def imbalanced(rng: np.random.Generator, n: int = 3000) -> pd.DataFrame:
    x = rng.normal(size=(n, 4))
    region = rng.choice(["north", "south", "east", "west"], size=n)
    amount = 50 + 10 * x[:, 0] - 5 * x[:, 1] + 3 * x[:, 2] * x[:, 3] + rng.normal(0, 4, n)
    logit = -4.0 + 1.5 * x[:, 0] + 1.0 * x[:, 1] + 1.0 * (region == "north")
    fraud = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(x, columns=["x1", "x2", "x3", "x4"])
    frame["region"] = region
    frame["amount"] = amount
    frame["fraud"] = np.where(fraud, "fraud", "ok")
    return frame


def heteroscedastic(rng: np.random.Generator, n: int = 4000) -> pd.DataFrame:
    x = rng.uniform(0, 1, n)
    clean = np.sin(2 * np.pi * x)
    return pd.DataFrame(
        {
            "x": x,
            "noisy": clean + rng.normal(0, 1, n) * (0.05 + 0.5 * x),
            "quiet": clean + rng.normal(0, 0.1, n),
            "clean": clean,
        }
    )


def main() -> None:
    rng = np.random.default_rng(2026)
    for name, frame in (("imbalanced", imbalanced(rng)), ("heteroscedastic", heteroscedastic(rng))):
        path = HERE / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.5g")
        print(f"wrote {path} ({len(frame)} rows)")


if __name__ == "__main__":
    main()
