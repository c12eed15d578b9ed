"""``learning-rules data list|where|verify|fetch NAME``: the data layer on the command line.

The top-level CLI calls :func:`register` with its sub-parsers; the ``data`` parser stores its
handler as ``func`` (``args.func(args)`` returns the exit status). Errors print one message
(places searched and fixes included) to stderr and exit with status 1, without a traceback.
Standalone: ``python -m learning_rules.data.cli list``.
"""

from __future__ import annotations

import argparse
import sys

from .errors import ChecksumError, DatasetNotFoundError
from .loaders import checksums, fetch, list_datasets, verify, where
from .registry import DATASETS


def _cmd_list(args: argparse.Namespace) -> int:
    rows = [("name", "task", "splits", "files", "license")]
    for info in list_datasets():
        splits = list(info.splits)
        split_text = ",".join(splits[:2]) + (f" +{len(splits) - 2} more" if len(splits) > 2 else "")
        names = [f.canonical.name for f in info.files]
        files = (names[0] + (f" +{len(names) - 1} more" if len(names) > 1 else "")
                 if names else "(embedded in scikit-learn)")
        rows.append((info.name, info.task, split_text, files, info.license))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    return 0


def _cmd_where(args: argparse.Namespace) -> int:
    for path in where(args.name):
        print(path)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    result = verify(args.name)
    sums = checksums(args.name)
    for path, status in result.items():
        print(f"{status:<4}  {path}")
    for name, sha in sums.items():
        print(f"sha256 {sha}  {name}")
    print(f"{args.name}: {len(result)} file(s) verified")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    for path in fetch(args.name):
        print(f"ok    {path}")
    print(f"{args.name}: ready")
    return 0


COMMANDS = {"list": _cmd_list, "where": _cmd_where, "verify": _cmd_verify, "fetch": _cmd_fetch}


def run(args: argparse.Namespace) -> int:
    """Dispatch ``args.data_command``; print errors (no traceback) and return the exit status."""
    try:
        return COMMANDS[args.data_command](args)
    except (DatasetNotFoundError, ChecksumError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` command to an ``argparse`` sub-parsers object; return its parser."""
    names = ", ".join(DATASETS)
    parser = subparsers.add_parser(
        "data", help="list, locate, verify or download datasets",
        description="Datasets are searched in LEARNING_RULES_DATA (os.pathsep-separated folders), "
                    "then the user cache (LEARNING_RULES_CACHE), then downloaded with checksum "
                    "verification unless LEARNING_RULES_OFFLINE=1. Datasets: " + names)
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="registered datasets")
    for cmd, text in (("where", "print the paths of a dataset's files (no download)"),
                      ("verify", "re-hash a dataset's files against the pinned checksums"),
                      ("fetch", "download what is missing into the user cache, verified")):
        p = sub.add_parser(cmd, help=text)
        p.add_argument("name", metavar="NAME", help=f"dataset name: {names}")
    parser.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m learning_rules.data.cli COMMAND [NAME]``."""
    top = argparse.ArgumentParser(prog="learning-rules")
    register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["data", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
