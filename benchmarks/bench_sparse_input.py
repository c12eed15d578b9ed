"""The parity net's first layer on the sparse remainder of the input vs dense BLAS products.

Real MNIST-parity batches (k = 1 and k = 3, float32, batch 128, 512 hidden units, one BLAS
thread as each worker of a paper build). Peers, same run, same batches:

* ``dense``  = :class:`learning_rules.fast.MinibatchSGD` / ``MinibatchOptimizer`` with two BLAS
  products per step (``train_parity(backend="dense")``);
* ``sparse`` = the same trainers with ``input_background`` (the default ``backend="auto"``).

Prints microseconds per step (best of ``--repeats``) for SGD and Adam, the ratio dense / sparse,
the fraction of non-background inputs, the cost of making one batch's sparse form (assembling the
``28 x 28k`` images and compressing them, against :class:`ImagePool` rows taken straight from
the per-image sparse rows, which ``train_parity`` uses, and against the same gather from values
stored as floats instead of one-byte codes), the DFA signal's outer product (BLAS against
broadcasting), and the CPU seconds of one whole
training epoch (60,000 triplets plus the 10,000-sample evaluation) through ``train_parity``
with each backend.

Needs MNIST (``LEARNING_RULES_DATA``). Usage: ``python benchmarks/bench_sparse_input.py [--quick]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from learning_rules.experiments import dfa as X
from learning_rules.experiments.dfa_pages import base_config


def timed(fn, n, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def step_times(k: int, optimizer: str, n: int, repeats: int):
    cfg = base_config(k, 1, 0, 0, credit="dfa", optimizer=optimizer, lr=X.published_lr("dfa", optimizer))
    data = X.load_parity_data(cfg)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(8):
        idx = rng.integers(0, data.train_images.shape[0], size=(cfg.batch_size, k))
        Xb, y = X.parity_batch(data.train_images, data.train_labels, idx)
        batches.append((Xb, y[:, None].astype(np.float32)))
    background = X.parity_background(np.float32)
    density = float(np.mean([np.mean(b[0] != np.float32(background)) for b in batches]))
    out = {}
    for name, bg in (("dense", None), ("sparse", background)):
        net = X.build_network(cfg, np.random.default_rng(1))
        trainer = X.parity_trainer(cfg, net, "auto" if bg is not None else "dense").stepper.trainer
        it = iter(range(10**9))

        def step():
            Xb, Y = batches[next(it) % len(batches)]
            trainer.step(Xb, Y)
        out[name] = timed(step, n, repeats)
    return density, out


def batch_forms(k: int, n: int, repeats: int):
    """Microseconds to get one training batch's CSR form of ``X - x0``, two ways."""
    from learning_rules.data import parity_label
    from learning_rules.fast.sparse_input import ImagePool, compress_rows

    cfg = base_config(k, 1, 0, 0)
    data = X.load_parity_data(cfg)
    x0 = np.float32(X.parity_background(np.float32))
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, data.train_images.shape[0], size=(cfg.batch_size, k)) for _ in range(8)]
    most = cfg.batch_size * 784 * k
    ptr, ind, val = np.empty(cfg.batch_size + 1, np.int64), np.empty(most, np.int32), np.empty(most, np.float32)
    t0 = time.perf_counter()
    pool = ImagePool(data.train_images, x0)
    build = time.perf_counter() - t0
    it = iter(range(10**9))

    def assembled():
        idx = batches[next(it) % len(batches)]
        Xb, _ = X.parity_batch(data.train_images, data.train_labels, idx)
        compress_rows(Xb, x0, ptr, ind, val)

    def pooled():
        idx = batches[next(it) % len(batches)]
        parity_label(data.train_labels[idx])
        pool.rows(idx)

    # peer of the pool's storage: the same gather from the values stored as floats (4 bytes
    # each, int32 columns, int64 pointers), as the pool kept them before its values were coded
    rptr, cols, vals = pool.rptr.astype(np.int64), pool.cols.astype(np.int32), pool.vals

    def pooled_floats():
        idx = np.ascontiguousarray(batches[next(it) % len(batches)], dtype=np.int64)
        parity_label(data.train_labels[idx])
        _gather_floats(rptr, cols, vals, pool.height, pool.width, idx, ptr, ind, val)
    return {"assembled": timed(assembled, n, repeats), "pool": timed(pooled, n, repeats),
            "pool_floats": timed(pooled_floats, n, repeats), "build_s": build}


def _gather_floats(rptr, cols, vals, height, width, idx, ptr, ind, val):
    """:func:`learning_rules.fast.sparse_input.tiled_rows` reading float values (the peer)."""
    import numba

    global _gather_floats_kernel
    if _gather_floats_kernel is None:
        @numba.njit(cache=False, nogil=True)
        def kernel(rptr, cols, vals, height, width, idx, ptr, ind, val):
            n_rows, k = idx.shape
            c = 0
            ptr[0] = 0
            for i in range(n_rows):
                for r in range(height):
                    for s in range(k):
                        q = idx[i, s] * height + r
                        off = r * k * width + s * width
                        for p in range(rptr[q], rptr[q + 1]):
                            ind[c] = off + cols[p]
                            val[c] = vals[p]
                            c += 1
                ptr[i + 1] = c
            return c
        _gather_floats_kernel = kernel
    return _gather_floats_kernel(rptr, cols, vals, height, width, idx, ptr, ind, val)


_gather_floats_kernel = None


def outer_product(n: int, repeats: int):
    """Microseconds of the DFA signal's ``e B`` (batch 128, one output, 512 hidden): a BLAS
    product with inner dimension 1 against the broadcast product the trainers use."""
    rng = np.random.default_rng(0)
    e = rng.normal(size=(128, 1)).astype(np.float32)
    B = rng.normal(size=(1, 512)).astype(np.float32)
    out = np.empty((128, 512), np.float32)
    return {"matmul": timed(lambda: np.matmul(e, B, out=out), n, repeats),
            "broadcast": timed(lambda: np.multiply(e, B, out=out), n, repeats)}


def update_passes(optimizer: str, n: int, repeats: int):
    """Microseconds of the first layer's adaptive update on a real k = 3 batch: the dense
    gradient, then the optimizer, then the row sums (three passes over W1, as before), against
    :func:`learning_rules.fast.minibatch.sparse_fused_step` (one pass)."""
    from learning_rules.fast.minibatch import fused_step, sparse_fused_step
    from learning_rules.fast.sparse_input import column_sums, compress_rows, rows_to_columns, sparse_gradient
    from learning_rules.updates import OPTIMIZERS

    cfg = base_config(3, 1, 0, 0)
    data = X.load_parity_data(cfg)
    x0 = np.float32(X.parity_background(np.float32))
    rng = np.random.default_rng(0)
    idx = rng.integers(0, data.train_images.shape[0], size=(cfg.batch_size, 3))
    Xb, _ = X.parity_batch(data.train_images, data.train_labels, idx)
    most = Xb.size
    ptr, ind, val = np.empty(cfg.batch_size + 1, np.int64), np.empty(most, np.int32), np.empty(most, np.float32)
    compress_rows(Xb, x0, ptr, ind, val)
    csc = (np.empty(Xb.shape[1] + 1, np.int64), np.empty(most, np.int32), np.empty(most, np.float32))
    rows_to_columns(ptr, ind, val, *csc)
    D = (rng.normal(size=(cfg.batch_size, 512)) * 1e-3).astype(np.float32)
    inv = np.float32(1 / cfg.batch_size)
    opt = OPTIMIZERS.lookup(optimizer)(1e-4)
    WT = (rng.normal(size=(Xb.shape[1], 512)) * 0.02).astype(np.float32)
    s, buf, GT = np.empty(512, np.float32), np.empty(512, np.float32), np.empty_like(WT)
    state = opt.init_state(WT)

    def three():
        sparse_gradient(*csc, D, x0, inv, GT)
        fused_step(opt, WT, GT, state)
        column_sums(WT, s)

    def one():
        sparse_fused_step(opt, csc, D, x0, inv, WT, s, buf, state)
    return {"three": timed(three, n, repeats), "one": timed(one, n, repeats)}


def epoch_seconds(k: int, optimizer: str, n_train: int | None):
    cfg = base_config(k, 1, n_train or 0, 0, credit="dfa", optimizer=optimizer,
                      lr=X.published_lr("dfa", optimizer))
    data = X.load_parity_data(cfg)
    res = {}
    for backend in ("dense", "auto"):
        X.train_parity(cfg.replace(n_train=256, num_epochs=1), backend=backend)  # compile, warm up
        t0 = time.process_time()
        X.train_parity(cfg, data, backend=backend)
        res["sparse" if backend == "auto" else backend] = time.process_time() - t0
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    n = 5 if args.quick else 40
    print("parity net (784k-512-1, DFA, float32, batch 128), one BLAS thread; "
          "us/step best of %d x %d; ratio = dense / sparse" % (args.repeats, n))
    rows = []
    with threadpool_limits(1):
        for k in (1, 3):
            for opt in ("sgd", "adam"):
                density, t = step_times(k, opt, n, args.repeats)
                print(f"k={k} {opt:5s} non-background {density:5.3f}  dense {t['dense']:7.0f}  "
                      f"sparse {t['sparse']:7.0f}  ({t['dense'] / t['sparse']:4.2f}x)")
                rows.append({"k": k, "optimizer": opt, "density": density, **t})
        print("one batch's sparse form (us, best of %d x %d): parity_batch + compress_rows vs "
              "ImagePool.rows" % (args.repeats, n))
        for k in (1, 3):
            b = batch_forms(k, n, args.repeats)
            print(f"k={k} assembled {b['assembled']:7.0f}  pool {b['pool']:7.0f}  "
                  f"({b['assembled'] / b['pool']:4.2f}x; pool built once in {b['build_s']:.2f} s); "
                  f"pool with float values {b['pool_floats']:7.0f} ({b['pool_floats'] / b['pool']:4.2f}x)")
            rows.append({"k": k, "forms": True, **b})
        o = outer_product(n * 10, args.repeats)
        print(f"DFA signal e B (us): matmul {o['matmul']:6.1f}  broadcast {o['broadcast']:6.1f}  "
              f"({o['matmul'] / o['broadcast']:4.2f}x)")
        rows.append({"outer": True, **o})
        print("first-layer adaptive update, k=3 (us): gradient + optimizer + row sums in three "
              "passes vs sparse_fused_step in one")
        for opt in ("adagrad", "rmsprop", "adadelta", "adam"):
            u = update_passes(opt, n, args.repeats)
            print(f"{opt:8s} three {u['three']:7.0f}  one {u['one']:7.0f}  ({u['three'] / u['one']:4.2f}x)")
            rows.append({"optimizer": opt, "update": True, **u})
        print("one epoch through train_parity (CPU s)%s:" % (" on 6,000 triplets" if args.quick else ""))
        for k in (1, 3):
            for opt in ("sgd", "adam"):
                e = epoch_seconds(k, opt, 6000 if args.quick else None)
                print(f"k={k} {opt:5s} dense {e['dense']:6.2f}  sparse {e['sparse']:6.2f}  "
                      f"({e['dense'] / e['sparse']:4.2f}x)")
                rows.append({"k": k, "optimizer": opt, "epoch": True, **e})
    return rows


if __name__ == "__main__":
    main()
