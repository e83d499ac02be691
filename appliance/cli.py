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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.answers import Answer
    from appliance.conversations import Conversation, Conversations
    from appliance.results import Result

from appliance import egress, safetext
from appliance.config import Settings, load_settings
from appliance.errors import ApplianceError, ConfigError
from appliance.offline import ensure_offline

Handler = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register


def emit(result: Result, *, json_out: bool) -> int:
    """Print ``result`` as JSON (one object, or one line per record) or for a person; returns
    the command's exit status."""
    if not json_out:
        result.render()
    elif result.json_lines:
        for record in result.to_json():
            print(json.dumps(record))
    else:
        print(json.dumps(result.to_json()))
    return result.exit_code


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
    parser.add_argument(
        "--airgap",
        action="store_true",
        help="run the command in a fresh network namespace with no network at all (Linux: "
        "root or unprivileged user namespaces); offline mode only",
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
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="load, chunk, label and embed on a Ray cluster: the head's host:port, 'auto' (the "
        "cluster this machine joined) or 'local'; this process still writes the index "
        "(needs `pip install 'appliance[ray]'`)",
    )
    p.add_argument(
        "--ray-shared-fs",
        action="store_true",
        help="with --ray: workers open files by path (same mount on every node) instead of "
        "receiving their bytes through Ray's object store",
    )
    _common(p)

    p = sub.add_parser("status", help="what the index holds", description="Show the index.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)

    p = sub.add_parser(
        "ask",
        help="answer a question from your documents, with sources",
        description=(
            "Answer one question from the indexed documents. The answer streams to stdout, "
            "followed by its sources. Sensitive questions are always answered locally."
        ),
    )
    p.add_argument("question", help="the question (quote it)")
    p.add_argument("--k", type=int, metavar="N", help="passages to give the model (default 5)")
    p.add_argument("--path", metavar="GLOB", help="only search files matching GLOB (hr/*.pdf)")
    p.add_argument("--model", metavar="NAME", help="GGUF file in models/ (see `appliance models`)")
    p.add_argument(
        "--hybrid",
        action="store_true",
        help="allow non-sensitive questions to go to Claude (needs ANTHROPIC_API_KEY)",
    )
    p.add_argument(
        "--chat",
        metavar="NAME",
        help="continue (or start) the saved conversation NAME: earlier turns are the context, "
        "and once a turn was sensitive the whole conversation stays local",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object when done")
    _common(p)

    p = sub.add_parser(
        "chats",
        help="list saved conversations (or delete one)",
        description="Saved conversations live under the index folder, private to you.",
    )
    p.add_argument("--delete", metavar="NAME", help="delete the conversation NAME")
    p.add_argument("--json", action="store_true", help="print JSON")
    _common(p)

    p = sub.add_parser("chat", help="open the chat app (terminal UI)")
    p.add_argument("--hybrid", action="store_true", help="start in hybrid mode")
    _common(p)

    p = sub.add_parser(
        "models", help="list the GGUF models in models/", description="List local models."
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    _common(p)

    p = sub.add_parser(
        "doctor",
        help="check the installation and say what to fix",
        description="Check models (against the install manifest), llama.cpp, embedder, index.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    _common(p)

    p = sub.add_parser(
        "eval",
        help="measure retrieval (and answers) on your own questions",
        description=(
            'FILE holds JSON lines {"question", "file", "page"?, "answer"?}; file relative '
            "to the ingested folder or absolute, page 1-based. Prints hit@1, hit@5 and MRR for "
            "dense, lexical and hybrid retrieval, and how often answers contain the gold one."
        ),
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--no-answers", action="store_true", help="skip generating answers")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)

    p = sub.add_parser(
        "privacy-eval",
        help="precision and recall of the sensitivity detectors on a labelled set",
        description='FILE holds JSON lines {"text", "sensitive": true|false}.',
    )
    p.add_argument("file", type=Path, nargs="?", metavar="FILE", help="default: the shipped set")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _common(p)

    p = sub.add_parser("audit", help="show or verify the audit log of routing decisions")
    audit = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    a = audit.add_parser("show", help="print recent decisions")
    a.add_argument("-n", type=int, default=20, help="how many (default 20)")
    a.add_argument("--json", action="store_true", help="print JSON lines")
    _common(a)
    a = audit.add_parser(
        "verify", help="check each line's MAC and the chain: edits, forgeries, removed lines"
    )
    a.add_argument("--json", action="store_true", help="print JSON")
    _common(a)

    return parser


@command("ingest")
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.ingest import ingest
    from appliance.render import IngestDisplay
    from appliance.results import IngestSummary

    if args.ray or args.ray_shared_fs:
        address = args.ray or settings.ingest.ray_address
        if not address:
            raise ConfigError("--ray-shared-fs needs --ray ADDRESS (or ingest.ray_address)")
        shared = args.ray_shared_fs or settings.ingest.ray_shared_fs
        ing = settings.ingest.model_copy(update={"ray_address": address, "ray_shared_fs": shared})
        settings = settings.model_copy(update={"ingest": ing})
    with IngestDisplay(enabled=not args.json and sys.stderr.isatty()) as display:
        report = ingest(args.paths, settings, progress=display.update)
    return emit(IngestSummary(report), json_out=args.json)


@command("status")
def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.results import IndexStatus
    from appliance.store import Store

    with Store.open(settings.index_dir) as store:
        stats = store.stats()
    return emit(IndexStatus.from_stats(stats, settings.index_dir), json_out=args.json)


@command("ask")
def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.assistant import Assistant
    from appliance.results import AskResult, ChatState

    if args.hybrid:
        settings.privacy.mode = "hybrid"
    if args.k is not None and args.k < 1:
        raise ConfigError("--k must be at least 1")
    conversations = conversation = None
    if args.chat is not None:
        from appliance.conversations import Conversations, check_name

        conversations = Conversations(settings.index_dir)
        conversation = conversations.load(check_name(args.chat))
    assistant = Assistant(settings)
    history = conversation.turns if conversation is not None else ()
    answer = assistant.ask(
        args.question, history=history, k=args.k, path=args.path, model=args.model
    )
    if args.json:
        answer.read()
    else:
        cleaner = safetext.StreamCleaner()  # the answer may echo escapes from a document
        for piece in answer:
            sys.stdout.write(cleaner.feed(piece))
            sys.stdout.flush()
        sys.stdout.write(cleaner.flush() + "\n")
    chat = None
    if conversation is not None and conversations is not None:
        _save_turn(conversations, conversation, answer)
        chat = ChatState(conversation.name, len(conversation.turns), conversation.local_only)
    return emit(AskResult(answer, chat), json_out=args.json)


def _save_turn(conversations: Conversations, conversation: Conversation, answer: Answer) -> None:
    """Keep a finished turn in its saved conversation (a cancelled or empty one is not kept)."""
    if answer.cancelled or not answer.text.strip():
        return
    conversation.add(answer.turn())
    conversations.save(conversation)


@command("chats")
def cmd_chats(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.conversations import Conversations
    from appliance.results import ChatDeleted, ChatList

    conversations = Conversations(settings.index_dir)
    if args.delete is not None:
        if not conversations.delete(args.delete):
            raise ConfigError(f"no saved conversation {args.delete!r}")
        return emit(ChatDeleted(args.delete), json_out=args.json)
    return emit(ChatList(conversations.recent()), json_out=args.json)


@command("chat")
def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.tui import build_app

    if args.hybrid:
        settings.privacy.mode = "hybrid"
    build_app(settings).run()
    return 0


@command("models")
def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.models import list_models, resolve_model
    from appliance.results import ModelList, ModelRow

    models = list_models(settings.models_dir)
    try:
        default: Path | None = resolve_model(settings.llm.model, settings.models_dir)
    except ApplianceError:
        default = None
    rows = [ModelRow.from_info(m, default) for m in models]
    return emit(ModelList(rows, settings.models_dir), json_out=args.json)


@command("doctor")
def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.doctor import run_checks
    from appliance.results import DoctorReport

    return emit(DoctorReport(run_checks(settings)), json_out=args.json)


@command("eval")
def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.assistant import Assistant
    from appliance.evaluate import evaluate, load_items
    from appliance.render import err
    from appliance.results import EvalReport

    load_items(args.file)  # a malformed file fails before any model loads
    assistant = Assistant(settings)  # audited like `ask`: in hybrid mode questions may leave
    answer_fn = None if args.no_answers else assistant.ask  # read, checked and quoted there
    show = not args.json and sys.stderr.isatty()

    def progress(i: int, n: int) -> None:
        if show:
            err.print(f"\r{i}/{n} questions", end="")

    result = evaluate(args.file, assistant.retriever, answer_fn=answer_fn, progress=progress)
    if show:
        err.print()
    return emit(EvalReport(result), json_out=args.json)


@command("privacy-eval")
def cmd_privacy_eval(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.privacy import Detector, evaluate
    from appliance.results import PrivacyReport

    path = args.file or Path(__file__).parent / "data" / "privacy_eval.jsonl"
    result = evaluate(path, Detector.from_settings(settings.privacy))
    return emit(PrivacyReport(result), json_out=args.json)


@command("audit")
def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from appliance.audit import AuditLog
    from appliance.results import AuditCheck, AuditRecords

    log = AuditLog(settings.index_dir)
    if args.audit_command == "verify":
        return emit(AuditCheck(log.verify()), json_out=args.json)
    records = log.records()[-args.n :] if args.n > 0 else []
    return emit(AuditRecords(records), json_out=args.json)


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # whatever this process writes (index, audit, conversations) is private
    ensure_offline()
    egress.install()  # offline by default: any non-loopback connection fails loudly
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        if args.airgap:  # the OS-level guarantee: re-executes under `unshare --net`
            if getattr(args, "hybrid", False):
                raise ConfigError("--airgap and --hybrid exclude each other: choose one")
            egress.airgap(sys.argv[1:] if argv is None else list(argv))
        settings = load_settings(
            getattr(args, "config", None),
            index_dir=getattr(args, "index", None),
            models_dir=getattr(args, "models", None),
        )
        return COMMANDS[args.command](args, settings)
    except ApplianceError as exc:
        print(f"appliance: error: {safetext.clean(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("appliance: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
