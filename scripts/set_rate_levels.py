"""Give a variable-rate weight file new quality levels (e.g. lower rates than it was trained for).

The new levels' gains are interpolated/extrapolated from the trained ones (mlic.models.rates); train
from the result (``mlic train --init OUT``) so that the whole model learns the new rates.

    python scripts/set_rate_levels.py mlicpp-small runs/init-8.safetensors \\
        --lambdas 0.00048,0.00093,0.0018,0.0035,0.0067,0.0130,0.0250,0.0483
"""
import argparse

from mlic.models import load_model, save_weights
from mlic.models.rates import with_rate_lambdas


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a registered model name or an mlic weight file")
    p.add_argument("out", help="the weight file to write (float32)")
    p.add_argument("--lambdas", required=True, help="comma-separated MSE λ of the new levels, increasing")
    a = p.parse_args()
    lambdas = [float(v) for v in a.lambdas.split(",")]
    model = load_model(a.model)
    new = with_rate_lambdas(model, lambdas)
    sha = save_weights(new.eval(), a.out, new.name or "model")
    print(f"{a.out}: {len(lambdas)} levels, λ {lambdas}, sha256 {sha}")


if __name__ == "__main__":
    main()
