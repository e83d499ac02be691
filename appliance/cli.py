"""The ``appliance`` command: thin wrappers over the library.

Each command parses its options, builds the settings and calls one library function; library
errors (``ApplianceError``) become a one-line message and an exit status here, in one place:
0 success, 1 some files failed (the rest are in), 2 usage or environment errors. Heavy
libraries (torch, faiss, llama.cpp) are imported inside the commands that need them, so
``--help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from appliance.config import Settings, load_settings
from appliance.errors import ApplianceError
from appliance.offline import ensure_offline

Handler = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--index",
        type=Path,
        metavar="DIR",
        help="index folder (default: index/, or $APPLIANCE_INDEX_DIR)",
    )
    p.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        help="folder of GGUF models (default: models/, or $APPLIANCE_MODELS_DIR)",
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file (default: ./appliance.toml or ~/.config/appliance/appliance.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appliance",
        description="Ask questions of your own documents, entirely on this machine.",
        epilog="Run `appliance COMMAND --help` for the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        help="add or update documents in the index",
        description=(
            "Ingest files and folders (PDF, text, Markdown, HTML, DOCX) into the index. "
            "Unchanged files are skipped, changed ones replaced, and files that vanished from "
            "an ingested folder removed. Exit status: 0 all files ingested, 1 some failed "
            "(the rest are in), 2 usage or environment error."
        ),
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    _common(p)

    p = sub.add_parser("status", help="what the index holds", description="Show the index.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)

    return parser


@command("ingest")
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.ingest import ingest
    from appliance.ui import IngestDisplay, print_ingest_summary

    with IngestDisplay(enabled=not args.json and sys.stderr.isatty()) as display:
        report = ingest(args.paths, settings, progress=display.update)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print_ingest_summary(report)
    return 1 if report.failed else 0


@command("status")
def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.store import Store
    from appliance.ui import print_status

    with Store.open(settings.index_dir) as store:
        stats = store.stats()
    stats["index_dir"] = str(settings.index_dir)
    if args.json:
        print(json.dumps(stats))
    else:
        print_status(stats)
    return 0


def main(argv: list[str] | None = None) -> int:
    ensure_offline()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        settings = load_settings(
            getattr(args, "config", None),
            index_dir=getattr(args, "index", None),
            models_dir=getattr(args, "models", None),
        )
        return COMMANDS[args.command](args, settings)
    except ApplianceError as exc:
        print(f"appliance: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("appliance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
