"""``learning-rules``: build the book, run experiments, make artifacts, manage data and results.

::

    learning-rules build [--profile smoke|quick|paper] [--jobs N] [--force]   # what `make book` runs
                         [--only NOTEBOOK ...]                                 # re-execute just these
    learning-rules data list|where|verify|fetch [NAME]                         # the data layer
    learning-rules run EXPERIMENT [--set key=value ...] [--out PATH] [--store DIR]
                   [--scheduler ADDRESS] [--jobs N]                            # one experiment
    learning-rules make ARTIFACT [--out PATH] [--profile P]                    # one table / figure
    learning-rules list                                                        # experiments, artifacts
    learning-rules store list [--summary] | clear [--stale] [--experiment NAME] # the result store
    learning-rules store verify [--sample N] [--experiment NAME] [--all]        # recompute, compare
    learning-rules store compare OTHER [--experiment NAME] [--all] [--allow-missing]  # two stores
    learning-rules store export FILE [--profile P] | import FILE_OR_URL         # results bundle
    learning-rules report [--profile P ...] [--accept]                         # reproduction ledger
    learning-rules export --student DIR [--root ROOT] [--force]                # pages without solutions
    learning-rules install-cell [--check] [--root ROOT]                        # Colab's install + profile cells

User errors (unknown names, bad values, a failing notebook) print a message to stderr and exit with
status 2, without a Python traceback; ``--help`` on any command lists its options. ``report`` exits
with status 1 when a cell that reproduced in the last accepted ledger no longer does, and
``install-cell --check`` when a notebook's install or profile cell is missing or stale.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "build_parser"]

EXIT_USER_ERROR = 2


class UserError(Exception):
    """An error caused by the command line's input; printed without a traceback."""


# --------------------------------------------------------------------------- commands


def _cmd_build(args: argparse.Namespace) -> int:
    from .book import build
    from .sweep import SCHEDULER_ENV, temporary_environment

    with temporary_environment({SCHEDULER_ENV: args.scheduler}):
        return _build(args, build)


def _build(args: argparse.Namespace, build) -> int:
    result = build(
        args.profile,
        root=args.root,
        output=args.output,
        n_jobs=args.jobs,
        force=args.force,
        render=not args.no_render,
        timeout=args.timeout,
        only=args.only,
        precompute=not args.no_precompute,
        scheduler=args.scheduler,
    )
    print(
        f"built profile {result.profile} in {result.seconds:.1f} s: "
        f"{len(result.executed)} notebook(s) executed, {len(result.cached)} from cache"
    )
    return 0


def _store(args: argparse.Namespace):
    from .store import Store

    return Store(args.store) if getattr(args, "store", None) else Store()


def _write_frame(frame, out: str | None) -> None:
    if out is None:
        import pandas as pd

        with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 160):
            print(frame.to_string(index=False))
        return
    from .store import atomic_write_bytes, atomic_write_text

    path = Path(out)
    if path.suffix == ".csv":
        atomic_write_text(path, frame.to_csv(index=False))
    elif path.suffix == ".md":
        from .experiments.datasets import markdown_table

        atomic_write_text(path, markdown_table(frame))
    elif path.suffix in (".pkl", ".pickle"):
        import io
        import pickle

        buffer = io.BytesIO()
        pickle.dump(frame, buffer, protocol=pickle.HIGHEST_PROTOCOL)
        atomic_write_bytes(path, buffer.getvalue())
    elif path.suffix == ".json":
        atomic_write_text(path, frame.to_json(orient="records", indent=1))
    else:
        raise UserError(f"--out {out}: unknown format {path.suffix!r}; use .csv, .md, .json or .pkl")
    print(f"wrote {path.resolve()} ({len(frame)} rows)")


def _cmd_run(args: argparse.Namespace) -> int:
    from .experiments import EXPERIMENTS, config_from_strings, run_experiment
    from .store import STORE_ENV
    from .sweep import JOBS_ENV, SCHEDULER_ENV, temporary_environment

    exp = EXPERIMENTS.lookup(args.experiment)
    config = config_from_strings(exp.config_cls, args.set or [])
    if args.jobs is not None and (args.jobs == 0 or args.jobs < -1):
        raise UserError(f"--jobs must be a positive worker count or -1 (all cores), got {args.jobs}")
    if args.no_store and args.store:
        raise UserError("--no-store and --store contradict each other; give one of them")
    # --store, --scheduler and --jobs apply to the whole run: experiments open their own Store()
    # and call run_sweep deep inside, and both read these variables.
    with contextlib.ExitStack() as stack:
        store_dir = str(Path(args.store).expanduser().resolve()) if args.store else None
        if args.no_store:  # sweeps inside the experiment get a throw-away store
            store_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="lr-no-store-"))
        stack.enter_context(temporary_environment({
            STORE_ENV: store_dir,
            SCHEDULER_ENV: args.scheduler,
            JOBS_ENV: None if args.jobs is None else str(args.jobs),
        }))
        store = None if args.no_store else _store(args)
        frame = run_experiment(exp.name, config, store=store)
    _write_frame(frame, args.out)
    return 0


def artifact_parameters(name: str, profile: str, root: str | os.PathLike | None = None) -> dict:
    """The parameters artifact ``name`` gets under ``profile``: its notebook's declared defaults,
    overridden by the profile (validated exactly as the book build validates them)."""
    from .experiments import ARTIFACTS
    from .profiles import page_parameters

    art = ARTIFACTS.lookup(name)
    if art.notebook is None:
        return {"profile": profile}
    return page_parameters(profile, art.notebook, root)


def _cmd_make(args: argparse.Namespace) -> int:
    from .experiments import ARTIFACTS, make_artifact

    art = ARTIFACTS.lookup(args.artifact)
    params = artifact_parameters(art.name, args.profile, args.root)
    out = Path(args.out) if args.out else Path.cwd() / f"{art.name}{art.suffix}"
    path = make_artifact(art.name, params, out)
    print(f"wrote {Path(path).resolve()} (profile {args.profile})")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from .experiments import ARTIFACTS, EXPERIMENTS

    print("experiments (learning-rules run NAME):")
    for exp in EXPERIMENTS.values():
        print(f"  {exp.name:<28} {exp.description}")
    print("artifacts (learning-rules make NAME):")
    for art in ARTIFACTS.values():
        print(f"  {art.name:<28} {art.description}")
    return 0


def _cmd_store(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.store_command in ("export", "import"):
        return _store_bundle(args, store)
    if args.store_command not in ("compare", "verify") and args.all_entries:
        raise UserError("--all goes with `store compare` and `store verify`")
    if args.store_command != "compare" and args.allow_missing:
        raise UserError("--allow-missing goes with `store compare`")
    if args.target is not None and args.store_command != "compare":
        raise UserError(f"store {args.store_command} takes no FILE argument (got {args.target!r})")
    if args.stale and args.store_command != "clear":
        raise UserError("--stale goes with `store clear`")
    if args.summary and args.store_command != "list":
        raise UserError("--summary goes with `store list`")
    if args.store_command == "compare":
        return _store_compare(args, store)
    if args.store_command == "verify":
        return _store_verify(args, store)
    if args.store_command == "list":
        listing = store.list()
        if args.experiment:
            listing = listing[listing["experiment"] == args.experiment]
        if listing.empty:
            print(f"no entries in {store.root}")
        elif args.summary:
            summary = listing.groupby("experiment").agg(
                entries=("key", "size"), current=("current", "sum"),
                compute_s=("seconds", "sum"), megabytes=("bytes", "sum"))
            summary["megabytes"] = (summary["megabytes"] / 1e6).round(1)
            summary["compute_s"] = summary["compute_s"].round(0)
            print(summary.to_string())
            print(f"{len(listing)} entries in {store.root}, {int(listing['current'].sum())} current, "
                  f"{listing['seconds'].sum():.0f} s of recorded compute")
        else:
            print(listing.drop(columns=["config"]).to_string(index=False))
            print(f"{len(listing)} entries in {store.root}")
    elif args.stale:
        removed = store.clear_stale(args.experiment)
        print(f"removed {removed} stale entries (computed by code that has changed since) from {store.root}")
    else:
        removed = store.clear(args.experiment)
        print(f"removed {removed} entries from {store.root}")
    return 0


def _store_verify(args: argparse.Namespace, store) -> int:
    import pandas as pd

    from .bundle import verify

    if args.sample is not None and args.sample < 1:
        raise UserError(f"--sample must be a positive number of entries, got {args.sample}")
    report = verify(store, sample=args.sample, experiment=args.experiment, log=print,
                    current_only=not args.all_entries)
    if report.empty:
        print(f"no {'' if args.all_entries else 'current '}entries to verify in {store.root}")
        return 0
    with pd.option_context("display.max_colwidth", 80, "display.width", 160):
        print(report.drop(columns=["config"]).to_string(index=False))
    bad = report[report["status"] != "identical"]
    print(f"{len(report) - len(bad)} of {len(report)} entries recomputed bit for bit")
    if not bad.empty:
        for row in bad.itertuples():
            print(f"stale or broken: {row.experiment} {row.key[:12]} ({row.status}: {row.detail}) "
                  f"config {row.config}", file=sys.stderr)
        return 1
    return 0


def _store_compare(args: argparse.Namespace, store) -> int:
    import pandas as pd

    from .bundle import COMPARE_STATUSES, BundleError, compare

    if args.target is None:
        raise UserError("store compare needs OTHER, the folder of the store to compare with")
    if args.sample is not None:
        raise UserError("--sample goes with `store verify`")
    try:
        report = compare(store, args.target, experiment=args.experiment,
                         current_only=not args.all_entries)
    except BundleError as exc:
        raise UserError(str(exc)) from None
    which = "every entry" if args.all_entries else "the current entries"
    print(f"compared {which} of {store.root} with {Path(args.target).expanduser()}"
          + (f" (experiment {args.experiment})" if args.experiment else ""))
    if report.empty:
        print("nothing to compare: neither store holds entries"
              + (f" of {args.experiment}" if args.experiment else "")
              + ("" if args.all_entries else " (current ones, in the store in use; --all: every one)"),
              file=sys.stderr)
        return 1
    summary = pd.crosstab(report["experiment"], report["status"]).reindex(
        columns=list(COMPARE_STATUSES), fill_value=0)
    summary.loc["total"] = summary.sum()
    summary.columns.name = None
    with pd.option_context("display.max_rows", 500, "display.width", 160):
        print(summary.to_string())
    counts = summary.loc["total"]
    shown = {"differs": 10, "ambiguous": 10, "missing": 5, "only in other": 5}
    for status, limit in shown.items():
        bad = report[report["status"] == status]
        for row in bad.head(limit).itertuples():
            ours = row.key[:12] or "-"
            theirs = ",".join(k[:12] for k in row.other_keys.split(",") if k) or "-"
            print(f"{status}: {row.experiment} {ours} vs other {theirs} ({row.detail}) "
                  f"config {row.config}", file=sys.stderr)
        if len(bad) > limit:
            print(f"{status}: ... and {len(bad) - limit} more", file=sys.stderr)
    compared = int(counts["identical"] + counts["differs"] + counts["ambiguous"])
    print(f"{int(counts['identical'])} of {compared} entries found in both stores are identical "
          f"bit for bit; {int(counts['missing'])} missing from the other store, "
          f"{int(counts['only in other'])} only in it")
    if counts["differs"] or counts["ambiguous"]:
        return 1
    if compared == 0:
        print("nothing compared: no entry of the store in use has a counterpart in the other",
              file=sys.stderr)
        return 1
    if (counts["missing"] or counts["only in other"]) and not args.allow_missing:
        print("entries without a counterpart: a result one code version computes and the other "
              "does not (--allow-missing accepts them)", file=sys.stderr)
        return 1
    return 0


def _store_bundle(args: argparse.Namespace, store) -> int:
    from .bundle import BundleError, export_bundle, import_bundle, read_reads

    if args.target is None:
        raise UserError(f"store {args.store_command} needs a FILE"
                        + (" or URL" if args.store_command == "import" else ""))
    try:
        if args.store_command == "import":
            result = import_bundle(args.target, store, known_hash=args.sha256)
            print(f"imported {result['added']} entries into {store.root} "
                  f"({result['skipped']} already there, {result['entries']} in the archive)")
            return 0
        entries = None
        if args.profile is not None:
            from .book import find_root, reads_folder

            root = Path(args.output) if args.output else find_root(args.root, packaged=False)
            folder = reads_folder(root, args.profile)
            files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
            if not files:
                raise UserError(f"no record of the store entries profile {args.profile} uses "
                                f"({folder} is empty); build it first: learning-rules build "
                                f"--profile {args.profile}")
            entries = read_reads(files)
        manifest = export_bundle(store, args.target, entries=entries, experiment=args.experiment)
    except BundleError as exc:
        raise UserError(str(exc)) from None
    size = Path(args.target).stat().st_size
    print(f"wrote {Path(args.target).resolve()} ({len(manifest['entries'])} entries, "
          f"{size / 1e6:.1f} MB)")
    return 0


def _print_timings(args: argparse.Namespace) -> int:
    import pandas as pd

    from .book import find_root, format_timings, read_timings

    frame = read_timings(Path(args.output) if args.output else find_root(args.root, packaged=False))
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    shown = frame.drop(columns=["key"]).sort_values("executed_seconds", ascending=False,
                                                    na_position="last")
    with pd.option_context("display.max_rows", 500, "display.width", 160,
                           "display.float_format", "{:.1f}".format):
        print(shown.to_string(index=False))
    print(format_timings(rows))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .book import find_root
    from .report import format_summary, run_report

    if args.timings:
        return _print_timings(args)
    profiles = list(dict.fromkeys(args.profile or ["quick"]))
    output = Path(args.output) if args.output else find_root(args.root, packaged=False)
    result = run_report(profiles, output=output, reference=args.reference, names=args.only,
                        accept=args.accept, compute=args.compute)
    print(format_summary(result.summary))
    missing = sorted({note for note in result.ledger["note"]
                      if isinstance(note, str) and "results not stored yet" in note})
    for reason in missing[:5]:
        print(f"not run: {reason}", file=sys.stderr)
    print(f"wrote {result.path} ({len(result.ledger)} cells)")
    if not result.regressions.empty:
        print(f"{len(result.regressions)} cell(s) reproduced before and no longer do:", file=sys.stderr)
        print(result.regressions.to_string(index=False), file=sys.stderr)
        if not args.accept:
            print(f"the accepted ledger {result.baseline} is unchanged; rerun with --accept to "
                  "accept the new values", file=sys.stderr)
            return 1
    if result.baseline.is_file():
        print(f"accepted ledger: {result.baseline}")
    else:
        print(f"no accepted ledger at {result.baseline} yet; `learning-rules report --profile "
              f"{profiles[-1]} --accept` writes it")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .student import export_student

    export = export_student(args.student, root=args.root, force=args.force)
    dest = Path(args.student).expanduser().resolve()
    pages = len(export.solutions)
    removed = sum(export.solutions.values())
    print(f"wrote the student edition to {dest}: {pages} pages, {removed} solutions replaced by "
          f"answer blocks ({len(export.checks)} with a number to check); the key is in "
          f"{dest / 'instructor'}")
    return 0


def _cmd_install_cell(args: argparse.Namespace) -> int:
    from .launch import install_ref, sync_install_cells

    statuses = sync_install_cells(args.root, check=args.check)
    behind = {nb: s for nb, s in statuses.items() if s != "ok"}
    if args.check:
        for nb, status in behind.items():
            print(f"{nb}: {status}", file=sys.stderr)
        if behind:
            print(f"{len(behind)} of {len(statuses)} notebook(s) need `learning-rules install-cell`",
                  file=sys.stderr)
            return 1
        print(f"all {len(statuses)} notebooks start with the install cell (pinned to {install_ref()}) "
              "and load a named profile after their parameters cell")
        return 0
    for nb, status in behind.items():
        print(f"{nb}: {status}, now written")
    print(f"{len(behind)} notebook(s) written, {len(statuses) - len(behind)} already current "
          f"(pinned to {install_ref()})")
    return 0


def _data_unavailable(reason: str):
    def handler(args: argparse.Namespace) -> int:
        raise UserError(f"the data layer (learning_rules.data) cannot be imported: {reason}")

    return handler


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``learning-rules`` argument parser (each sub-command sets ``func``)."""
    from .book import PROFILES

    parser = argparse.ArgumentParser(
        prog="learning-rules",
        description="Executable book on backpropagation, feedback alignment, DFA and the "
        "dual-weight rule: build it, run its experiments, make its figures.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="execute the notebooks (cached, in parallel) and render HTML")
    p.add_argument("--profile", choices=PROFILES, default="quick",
                   help="parameter set: smoke (CI, seconds), quick (default), paper (full protocols)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="notebooks executed at once (default: number of CPU cores)")
    p.add_argument("--force", action="store_true", help="re-execute every notebook")
    p.add_argument("--no-render", action="store_true", help="execute and check only, no HTML")
    p.add_argument("--no-precompute", action="store_true",
                   help="let each notebook compute its own runs (default: the runs of every page "
                        "with a planner are computed first, in one pool of --jobs processes)")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the precompute pool (every page's planned runs) and the kernels' "
                   "sweeps on this dask scheduler (e.g. tcp://10.0.0.5:8786); results are stored "
                   "here as each finishes, so an interrupted build resumes")
    p.add_argument("--only", nargs="+", default=None, metavar="NOTEBOOK",
                   help="execute just these notebooks (e.g. book/dfa/parity.ipynb), even if cached; "
                   "the whole book is still rendered, the other pages from the cache where they "
                   "were executed (an older execution, or no outputs, otherwise: the build says which)")
    p.add_argument("--root", default=None, help="project root (default: found from the cwd)")
    p.add_argument("--output", default=None,
                   help="folder that receives _build/ (default: the project root)")
    p.set_defaults(func=_cmd_build)

    try:
        from .data.cli import register as register_data
    except ImportError as exc:  # keep the rest of the CLI usable
        p = sub.add_parser("data", help="(unavailable) datasets")
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_data_unavailable(str(exc)))
    else:
        register_data(sub)

    p = sub.add_parser("run", help="run one experiment and print (or save) its tidy table")
    p.add_argument("experiment", metavar="EXPERIMENT", help="name (see `learning-rules list`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="config field (repeatable); tuples are comma-separated")
    p.add_argument("--out", default=None, help="write .csv / .md / .json / .pkl instead of printing")
    p.add_argument("--no-store", action="store_true",
                   help="do not read or write the result store (the experiment's own sweeps "
                   "use a temporary store, deleted after the run)")
    p.add_argument("--store", default=None,
                   help="store folder for the whole run, including the per-cell results an "
                   "experiment's own sweeps save (default: LEARNING_RULES_STORE or user cache)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run every sweep of the experiment on this dask scheduler "
                   "(e.g. tcp://10.0.0.5:8786; sets LEARNING_RULES_SCHEDULER)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="worker processes of every local sweep, overriding the experiment's own "
                   "n_jobs (-1: all cores; sets LEARNING_RULES_JOBS)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("make", help="write one of the book's tables or figures")
    p.add_argument("artifact", metavar="ARTIFACT", help="name (see `learning-rules list`)")
    p.add_argument("--out", default=None, help="output file (default: ./<ARTIFACT><suffix>)")
    p.add_argument("--profile", choices=PROFILES, default="quick",
                   help="take the parameters this profile gives the artifact's notebook")
    p.add_argument("--root", default=None, help="project root (default: found from the cwd)")
    p.set_defaults(func=_cmd_make)

    p = sub.add_parser("list", help="list experiments and artifacts")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("store", help="list, clear, verify, compare, export or import stored results")
    p.add_argument("store_command", choices=("list", "clear", "verify", "compare", "export", "import"),
                   help="verify: recompute stored entries and compare bit for bit (exit 1 on a "
                   "stale entry); compare OTHER: compare entries with the other store's entries "
                   "of the same experiment and config, any code version (exit 1 on a difference); "
                   "export FILE: write entries into one .tar.gz with a manifest; "
                   "import FILE_OR_URL: check an archive and add its entries")
    p.add_argument("target", nargs="?", default=None, metavar="FILE",
                   help="the archive of export / import (a path, or an http(s) URL for import); "
                   "compare: the folder of the other store")
    p.add_argument("--experiment", default=None, help="only this experiment's entries")
    p.add_argument("--summary", action="store_true",
                   help="list: one line per experiment (entries, current, compute seconds, size)")
    p.add_argument("--stale", action="store_true",
                   help="clear: only entries computed by code that has changed since (no current "
                   "key reaches them)")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="verify: check N entries drawn at random (default: all current entries)")
    p.add_argument("--all", dest="all_entries", action="store_true",
                   help="compare, verify: every entry of the store in use, whatever its code version "
                   "(default: the current entries); `store verify --all` recomputes a store built "
                   "before a restructuring with the code after it")
    p.add_argument("--allow-missing", action="store_true",
                   help="compare: exit 0 even when entries of one store have no counterpart in "
                   "the other (default: exit 1)")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="export: only the entries that profile's pages read in their last build")
    p.add_argument("--sha256", default=None, help="import: expected sha256 of the archive")
    p.add_argument("--root", default=None, help="project root (default: found from the cwd)")
    p.add_argument("--output", default=None, help="folder holding _build/ (default: the project root)")
    p.add_argument("--store", default=None, help="store folder (default: LEARNING_RULES_STORE or user cache)")
    p.set_defaults(func=_cmd_store)
    p = sub.add_parser("report", help="published vs regenerated numbers: summary and ledger CSV")
    p.add_argument("--profile", action="append", choices=PROFILES, default=None,
                   help="profile whose regenerated values are compared (repeatable; default quick)")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help="call only this registered reproduction (repeatable; default: all)")
    p.add_argument("--reference", default=None,
                   help="folder of published <source>.csv files (default: the package's reference/)")
    p.add_argument("--accept", action="store_true",
                   help="accept this ledger as the new reference even if cells stopped reproducing "
                   "(for --profile paper: write the committed reproduction/paper.csv)")
    p.add_argument("--compute", action="store_true",
                   help="compute results missing from the store (default: read it only, and name "
                   "the build that computes what is missing; a paper ledger from an empty store "
                   "means hours of runs)")
    p.add_argument("--timings", action="store_true",
                   help="instead of the ledger, print the last build's notebook timings "
                   "(_build/timings.csv: cache hit/miss and wall time per notebook)")
    p.add_argument("--root", default=None, help="project root (default: found from the cwd)")
    p.add_argument("--output", default=None,
                   help="folder whose _build/ receives reproduction.csv (default: the project root)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("export", help="write the book's student edition (solutions removed) and its key")
    p.add_argument("--student", required=True, metavar="DIR",
                   help="folder that receives every page of _toc.yml with each solution replaced by "
                   "an empty answer block, instructor/ (the solutions) and README.md; must be new or "
                   "empty")
    p.add_argument("--force", action="store_true",
                   help="write into DIR even if it is not empty (the export's files are replaced, "
                   "other files are left alone)")
    p.add_argument("--root", default=None, help="project root (default: found from the cwd)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("install-cell",
                       help="write the first cell of every notebook, which installs the package in "
                       "Colab, Binder or a bare Jupyter (pinned to this version's tag), and the cell "
                       "after its parameters cell, which loads a named profile (profile = \"paper\")")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 naming every notebook whose install or profile cell "
                   "is missing or stale")
    p.add_argument("--root", default=None, help="project root (default: found from the cwd)")
    p.set_defaults(func=_cmd_install_cell)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``learning-rules``; returns the exit status (2 for user errors)."""
    from .book import BuildError
    from .report import ReproductionError

    try:
        parser = build_parser()
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    try:
        status = int(args.func(args) or 0)
        # The data layer returns 1 for its (already printed) errors; user errors exit 2 here.
        return EXIT_USER_ERROR if status and args.command == "data" else status
    except (BuildError, ReproductionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (UserError, ValueError, FileNotFoundError) as exc:
        message = str(exc) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `learning-rules ... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
