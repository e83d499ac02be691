"""Save an SVG screenshot of ``appliance chat`` with a real answer, for the README.

Ingests the bundled samples into a temporary index with the real embedder, asks one question
of the real local model (the bundled SmolLM2 unless ``--model`` names another GGUF), opens
nothing else, and writes ``docs/screenshot.svg``. Everything runs offline.

    .venv/bin/python scripts/screenshot.py [--question Q] [--size 100x30] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def shoot(question: str, size: tuple[int, int], out: Path, model: str | None) -> None:
    from appliance.assistant import Assistant
    from appliance.config import load_settings
    from appliance.embedding import Embedder
    from appliance.ingest import ingest
    from appliance.offline import ensure_offline
    from appliance.tui import build_app
    from appliance.tui.prompt import PromptInput

    ensure_offline()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            index_dir=Path(tmp) / "index",
            models_dir=ROOT / "models",
            llm={"max_tokens": 96, "temperature": 0.0, **({"model": model} if model else {})},
        )
        embedder = Embedder()
        ingest([ROOT / "samples"], settings, embedder=embedder)
        assistant = Assistant(settings, embedder=embedder, audit=False)
        app = build_app(settings, assistant, embedder=embedder)
        async with app.run_test(size=size) as pilot:
            app.query_one(PromptInput).value = question
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause(0.5)
            out.parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename=out.name, path=str(out.parent))
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default="When is the fire alarm tested?")
    parser.add_argument("--size", default="100x30", help="terminal COLUMNSxROWS")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.svg")
    parser.add_argument("--model", help="GGUF file in models/ (default: the bundled one)")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.lower().split("x"))
    asyncio.run(shoot(args.question, (cols, rows), args.out, args.model))


if __name__ == "__main__":
    main()
