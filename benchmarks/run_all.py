"""Run every benchmark (``make bench``): single-sample training, the mini-batch step, the
scikit-learn estimators against ``MLPClassifier``, then the dual-weight paper's cost claim (the four
single-sample methods' training and inference time on the paper's nets), the parity net's sparse
first layer and the precompute pool on a Dask cluster of 1 and 2 workers (these three need the
chapters' datasets; skipped with the reason when one is missing).

Pass ``--quick`` for a short smoke run. Numbers are printed, never asserted (CONTRIBUTING:
speed is measured in benchmarks/, not in tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cluster  # noqa: E402
import bench_dual_weight_cost  # noqa: E402
import bench_estimators  # noqa: E402
import bench_minibatch  # noqa: E402
import bench_single_sample  # noqa: E402
import bench_sparse_input  # noqa: E402


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = ["--quick"] if "--quick" in argv else []
    bench_single_sample.main(quick)
    print()
    bench_minibatch.main(quick)
    print()
    bench_estimators.main(quick)
    print()
    from learning_rules.data.errors import DatasetNotFoundError

    try:
        bench_dual_weight_cost.main(quick)
        print()
    except DatasetNotFoundError as err:
        print(f"dual-weight cost: skipped, {str(err).splitlines()[0]}")
    try:
        bench_sparse_input.main(quick)
        print()
        bench_cluster.main(quick)
    except DatasetNotFoundError as err:
        print(f"sparse first layer and cluster: skipped, {str(err).splitlines()[0]}")


if __name__ == "__main__":
    main()
