"""Write studies/data/wine.csv from the UCI Wine data that scikit-learn ships.

The UCI Wine recognition data (Forina et al., 1988; UCI Machine Learning Repository) are
licensed under CC BY 4.0. 178 wines from three cultivars, 13 chemical measurements each.
Run: python studies/data/make_wine.py
"""

from pathlib import Path

from sklearn.datasets import load_wine


def main() -> None:
    bunch = load_wine(as_frame=True)
    frame = bunch.frame.rename(columns={"od280/od315_of_diluted_wines": "od280_od315"})
    names = {i: name.replace("class_", "cultivar_") for i, name in enumerate(bunch.target_names)}
    frame["cultivar"] = frame.pop("target").map(names)
    out = Path(__file__).with_name("wine.csv")
    frame.to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {out} ({len(frame)} rows)")


if __name__ == "__main__":
    main()
