"""Distributed ingest on a Ray cluster: parsing and embedding on the cluster, one writer here.

``ingest(paths, settings)`` takes this path when ``ingest.ray_address`` is set (``appliance
ingest PATH --ray ADDRESS``). Only two stages change place:

- **Loading, chunking, document context and labelling** run as Ray tasks, a group of files per
  task. Each task calls the in-process producer (``appliance.ingest._produce``) on its files,
  with the same chunker settings and ``default_labeler(settings)`` built on the worker, and
  returns the producer's messages (begin, chunks, end, failure, unchanged, OCR pages). So
  chunks, spans and labels are those of an in-process run by construction.
- **Embedding** runs in embedder actors: one per GPU when the cluster has GPUs, otherwise one
  per ``ingest.ray_cpus_per_actor`` cores (at least one), spread over the nodes. The writer's
  ``encode`` calls are split across them, one slice per actor, each embedded in batches of
  ``ingest.batch_size``; the writer buffers ``4 × batch_size × actors`` chunks so every actor
  gets work on each flush.

Everything else is the in-process code: this process scans, skips unchanged files (size and
mtime here; content hash on the worker), and is the only writer of SQLite and FAISS, through
the same ``IndexWriter``. A file is committed only when all its chunks are back, so a killed
driver leaves what ``appliance.store`` guarantees after any crash, and the rerun finishes the
job.

How documents travel: by default this process reads each file and its bytes go through Ray's
object store to a worker, which parses a private temporary copy (no shared storage needed;
folder rules still see the original path). With ``ingest.ray_shared_fs`` (``--ray-shared-fs``)
only the path travels and workers open the file themselves: every node must mount the
documents at the same path.

Failures: a task whose worker dies is retried by Ray (twice), then its files are retried one
per task, then reported as failed with a reason; an embedder actor that dies is restarted and
its call retried; if the cluster itself is lost, the run ends with an error (the embedder
is gone) or with the files not yet done reported as failed, and everything committed stays.
Addresses: ``host:port`` of the head node, ``auto`` (the
cluster this machine has joined with ``ray start``) or ``local`` (a private one-machine cluster
for this run, bound to loopback). A cluster on another machine is inside the trust boundary by
the user's choice; the egress guard is opened for its head's address only.

Left out: Ray client mode (``ray://``): the driver must run on a cluster node; more than one
writer; streaming a file's chunks before the whole file is parsed (a file travels back whole).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.errors import ConfigError, LoadError, ModelError
from appliance.ingest import (
    Candidate,
    Labeler,
    _Begin,
    _Fail,
    _Same,
)

if TYPE_CHECKING:
    from appliance.chunking import Chunker
    from appliance.config import Settings
    from appliance.embedding import TextEmbedder
    from appliance.store import FileRecord

log = logging.getLogger("appliance.ingest_ray")

NAMESPACE = "appliance"
"""Ray namespace of the embedder actors (named ``embedder-<run>-<i>``)."""
GROUP_FILES = 16
"""Files per parse task at most (tiny files would otherwise cost a task each)."""
GROUP_BYTES = 4 << 20
"""Bytes per parse task at most (a larger file travels alone)."""
INFLIGHT_BYTES = 256 << 20
"""Document bytes in the object store at once, at most (one larger file may exceed it)."""
TASK_RETRIES = 2
"""Ray reruns a parse task this many times when its worker dies."""
ACTOR_RESTARTS = 3
"""Ray restarts a dead embedder actor this many times, retrying its calls."""


@dataclass(frozen=True)
class _Item:
    """A file sent to a worker."""

    cand: Candidate
    data: bytes | None
    """Its content; None: the worker opens ``cand.path`` (a shared file system)."""
    prev: FileRecord | None
    """What the index holds for it (the worker compares its hash with this one's)."""
    mtime_ns: int
    label_path: str
    """The absolute path the labeller is given (see ``RayPipeline._label_path``)."""

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0


@dataclass(frozen=True)
class RunStats:
    """What the last Ray ingest in this process measured (read by ``bench.ray_bench``)."""

    actors: int
    parse_slots: int
    actor_start_s: float
    encode_wait_s: float
    per_actor: list[tuple[int, int, float]]
    """(calls, texts, seconds encoding) of each actor; empty if they could not be asked."""


last_run: RunStats | None = None


class RayUnavailable(ConfigError):
    """``--ray`` was asked for but Ray is not installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "ingest on a Ray cluster needs Ray, which is not installed",
            hint="pip install 'appliance[ray]' (or `make install EXTRAS=ray`), "
            "or ingest without --ray",
        ) from None
    return ray


# -- what travels to the workers ------------------------------------------------------------------
@dataclass(frozen=True)
class EmbedderSpec:
    """How a worker gets the driver's embedder: the model folder (never the loaded model), or,
    for fakes in tests and custom embedders, the object itself (pickled)."""

    model_dir: Path | None = None
    device: str | None = None
    obj: Any = None

    @classmethod
    def of(cls, embedder: TextEmbedder, device: str | None) -> EmbedderSpec:
        from appliance.embedding import DEFAULT_MODEL_ID, Embedder

        if isinstance(embedder, Embedder):
            custom = embedder.model_id != DEFAULT_MODEL_ID
            return cls(model_dir=embedder.path if custom else None, device=device)
        return cls(obj=embedder)

    def build(self, device: str | None = None) -> TextEmbedder:
        if self.obj is not None:
            return self.obj
        from appliance.embedding import Embedder

        return Embedder(self.model_dir, device or self.device)


@dataclass(frozen=True)
class Job:
    """One ingest run's worker-side settings (put in the object store once)."""

    run: str
    settings: Settings
    embedder: EmbedderSpec
    labeler: Labeler | None
    """A caller's own labeller, shipped as is; None: ``default_labeler(settings)`` is built
    on each worker, so labels are the in-process ones."""


_worker_state: dict[str, tuple[Chunker, Labeler | None]] = {}


def _tools(job: Job) -> tuple[Chunker, Labeler | None]:
    """The chunker and labeller of this run, built once per worker process."""
    got = _worker_state.get(job.run)
    if got is None:
        from appliance.chunking import Chunker
        from appliance.ingest import default_labeler

        ing = job.settings.ingest
        counter = job.embedder.build().token_counter()
        chunker = Chunker(counter, ing.chunk_tokens, ing.chunk_overlap)
        labeler = job.labeler or default_labeler(job.settings)
        _worker_state.clear()  # one run at a time per worker process
        got = _worker_state[job.run] = (chunker, labeler)
    return got


def parse_group(job: Job, items: list[_Item]) -> list[object]:
    """Worker side: the in-process producer on a group of files; its messages, in order.

    Bytes are written to a private temporary copy (same name, same mtime) that the producer
    reads; the messages then name the original candidate again, and the labeller sees the
    original paths.
    """
    from appliance.ingest import _DONE, _produce

    chunker, labeler = _tools(job)
    with tempfile.TemporaryDirectory(prefix="appliance-ray-") as tmp:
        originals: dict[str, Candidate] = {}  # what the producer reads → the file it stands for
        labelled: dict[str, Candidate] = {}  # ... → what the labeller is told
        cands: list[Candidate] = []
        known: dict[str, FileRecord] = {}
        for i, item in enumerate(items):
            cand = local = item.cand
            if item.data is not None:
                folder = os.path.join(tmp, str(i))
                os.mkdir(folder)
                path = os.path.join(folder, os.path.basename(cand.path))
                with open(path, "wb") as fh:
                    fh.write(item.data)
                # The producer compares size and mtime with the record and stores them.
                os.utime(path, ns=(item.mtime_ns, item.mtime_ns))
                local = Candidate(path, folder, cand.relpath)
            originals[local.path] = cand
            labelled[local.path] = Candidate(item.label_path, cand.root, cand.relpath)
            cands.append(local)
            if item.prev is not None:
                known[local.path] = item.prev

        def label(c: Candidate, section: Any, chunks: Any) -> None:
            assert labeler is not None
            labeler(labelled.get(c.path, c), section, chunks)

        out: queue.Queue[object] = queue.Queue()
        max_bytes = job.settings.ingest.max_file_mb << 20
        _produce(
            cands,
            known,
            lambda: chunker,
            label if labeler is not None else None,
            max_bytes,
            out,
            threading.Event(),
            job.settings.ocr,
        )
        msgs: list[object] = []
        while (msg := out.get_nowait()) is not _DONE:
            if isinstance(msg, (_Begin, _Fail, _Same)):
                msg.cand = originals.get(msg.cand.path, msg.cand)
            msgs.append(msg)
    return msgs


class EmbedActor:
    """Ray actor: one loaded embedder; ``encode`` is the in-process ``encode``."""

    def __init__(self, spec: EmbedderSpec, threads: int, device: str | None) -> None:
        self.embedder = spec.build(device)
        self.calls = self.texts = 0
        self.busy = 0.0
        self.embedder.encode(["load the model"])  # fail here, at start, not mid-run
        if spec.obj is None:
            import torch

            torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))

    def model_id(self) -> str:
        return self.embedder.model_id

    def pid(self) -> int:
        return os.getpid()

    def stats(self) -> tuple[int, int, float]:
        """Calls, texts and seconds spent encoding (for the benchmark's scaling estimate)."""
        return self.calls, self.texts, self.busy

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        t = time.perf_counter()
        try:
            return self.embedder.encode(texts, batch_size=batch_size)
        finally:
            self.calls += 1
            self.texts += len(texts)
            self.busy += time.perf_counter() - t


# -- the driver's side -----------------------------------------------------------------------------
class RemoteEmbedder:
    """A ``TextEmbedder`` whose ``encode`` is split over the embedder actors.

    Each call is cut into one contiguous slice per live actor (at least ``batch_size`` texts
    each); a slice whose actor is gone for good goes to another one.
    """

    def __init__(
        self, ray: Any, start: Callable[[], list[Any]], model_id: str, batch_size: int
    ) -> None:
        self._ray = ray
        self._start: Callable[[], list[Any]] | None = start
        self.actors: list[Any] = []
        self.model_id = model_id
        self.batch_size = batch_size
        self.start_s = 0.0
        """Seconds the actors took to start (model loaded), within the first call."""
        self.wait_s = 0.0
        """Seconds the writer waited on the actors, startup included."""

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        t = time.perf_counter()
        if self._start is not None:
            start, self._start = self._start, None
            self.actors = start()
            self.start_s = time.perf_counter() - t
        if not self.actors:
            raise ModelError("every embedder actor on the Ray cluster is gone")
        per = max(self.batch_size, math.ceil(len(texts) / len(self.actors)))
        pieces = [texts[i : i + per] for i in range(0, len(texts), per)]
        sent = [self._submit(k, p) for k, p in enumerate(pieces)]
        out = [self._get(k, p, s) for k, (p, s) in enumerate(zip(pieces, sent, strict=True))]
        self.wait_s += time.perf_counter() - t
        return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)

    def _submit(self, k: int, piece: list[str]) -> tuple[Any, Any]:
        actor = self.actors[k % len(self.actors)]
        return actor, actor.encode.remote(piece, self.batch_size)

    def _get(self, k: int, piece: list[str], sent: tuple[Any, Any]) -> np.ndarray:
        actor, ref = sent
        while True:
            try:
                return np.asarray(self._ray.get(ref), dtype=np.float32)
            except self._ray.exceptions.RayActorError as exc:
                log.warning("embedder actor lost for good: %s", exc)
                if actor in self.actors:
                    self.actors.remove(actor)
                if not self.actors:
                    raise ModelError(
                        "every embedder actor on the Ray cluster died",
                        hint="check the workers' memory and logs; rerun to finish the ingest",
                    ) from None
                actor, ref = self._submit(k, piece)

    def token_counter(self) -> Any:  # the driver never chunks on this path
        raise NotImplementedError


class RayPipeline:
    """Connects to the cluster, starts the embedder actors, and feeds ``ingest``'s writer."""

    def __init__(
        self,
        settings: Settings,
        embedder: TextEmbedder,
        labeler: Labeler | None,
    ) -> None:
        ing = settings.ingest
        self.settings = settings
        self.address = str(ing.ray_address)
        self.shared_fs = bool(ing.ray_shared_fs)
        self.cpus_per_actor = int(ing.ray_cpus_per_actor)
        self.model_id = embedder.model_id
        self.spec = EmbedderSpec.of(embedder, settings.embedding.device)
        self.job = Job(uuid.uuid4().hex[:12], settings, self.spec, labeler)
        self._rules: Any = None
        if settings.privacy.sensitive_paths and not self.shared_fs:
            from appliance.privacy import Classifier

            self._rules = Classifier(settings.privacy).rules
        self.ray: Any = None
        self.started_ray = False
        self.actors: list[Any] = []
        self.embedder: RemoteEmbedder | None = None
        self.batch_size = ing.batch_size
        self.slots = 1
        self.count = 1
        self.gpus = False
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> tuple[RemoteEmbedder, int]:
        """Connect; the writer's embedder (its actors start on first use, so a run with
        nothing to embed starts none) and batch size."""
        self.ray, self.started_ray = connect(self.address)
        ray = self.ray
        try:
            resources = ray.cluster_resources()
            gpus = int(resources.get("GPU", 0))
            cpus = int(resources.get("CPU", 1))
            self.count = gpus or max(1, cpus // self.cpus_per_actor)
            # Parse tasks take the cores the actors do not hold (one at least).
            self.slots = max(1, cpus - self.count)
            self.gpus = gpus > 0
            self.embedder = RemoteEmbedder(ray, self._start_actors, self.model_id, self.batch_size)
            self.job_ref = ray.put(self.job)
            self.parse = ray.remote(parse_group).options(
                num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False
            )
        except BaseException:
            self.close()
            raise
        # The writer embeds when 4 x its batch size is buffered: a few batches for each actor.
        return self.embedder, self.batch_size * self.count

    def prestart(self) -> None:
        """Create the actors without waiting: their model loads while the first files parse."""
        with self._lock:
            if self.actors or self.ray is None:
                return
            device: str | None = self.settings.embedding.device
            opts: dict[str, Any] = {"num_cpus": 1}
            if self.gpus:
                opts, device = {"num_gpus": 1, "num_cpus": 1}, "cuda"
            actor_cls = self.ray.remote(EmbedActor)
            self.actors = [
                actor_cls.options(
                    name=f"embedder-{self.job.run}-{i}",
                    namespace=NAMESPACE,
                    max_restarts=ACTOR_RESTARTS,
                    max_task_retries=ACTOR_RESTARTS,
                    scheduling_strategy="SPREAD",
                    **opts,
                ).remote(self.spec, self.cpus_per_actor, device)
                for i in range(self.count)
            ]

    def _start_actors(self) -> list[Any]:
        """The actors, up and checked (created now if ``prestart`` was not called)."""
        ray = self.ray
        self.prestart()
        try:
            ids = ray.get([a.model_id.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:
            raise ModelError(
                f"the embedder could not start on the Ray cluster: {_cause(exc)}",
                hint="every node needs the appliance and its embedding model installed",
            ) from None
        if any(i != self.model_id for i in ids):
            raise ModelError(
                f"the cluster's embedder is {ids[0]}, this index uses {self.model_id}",
                hint="install the same embedding model on every node",
            )
        return list(self.actors)

    def close(self) -> None:
        global last_run
        ray = self.ray
        if ray is None:
            return
        with self._lock:
            self.ray = None  # no prestart after this
        if self.embedder is not None:
            per_actor: list[tuple[int, int, float]] = []
            with contextlib.suppress(Exception):
                per_actor = ray.get([a.stats.remote() for a in self.actors], timeout=10)
            emb = self.embedder
            last_run = RunStats(self.count, self.slots, emb.start_s, emb.wait_s, per_actor)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.actors = []
        if self.started_ray:
            with contextlib.suppress(Exception):
                ray.shutdown()

    # -- the producer (same signature as ``appliance.ingest._produce``) ------------------------
    def produce(
        self,
        cands: list[Candidate],
        known: dict[str, FileRecord],
        make_chunker: Any,
        labeler: Any,
        max_bytes: int,
        out: queue.Queue[object],
        cancel: threading.Event,
        ocr_settings: Any = None,
    ) -> None:
        """Sends the files to parse tasks and puts their messages on ``out``, a file's
        messages together (files in the order their tasks finish)."""
        from appliance.ingest import _DONE

        left = {c.path: c for c in cands}  # not yet answered for
        try:
            self._dispatch(cands, known, max_bytes, out, cancel, left)
        except BaseException as exc:
            reason = f"not ingested: the Ray cluster failed ({_cause(exc)})"
            for cand in left.values():
                out.put(_Fail(cand, reason[:300]))
            if not isinstance(exc, Exception):
                raise
            log.warning("Ray ingest stopped: %s", exc)
        finally:
            out.put(_DONE)

    def _dispatch(
        self,
        cands: list[Candidate],
        known: dict[str, FileRecord],
        max_bytes: int,
        out: queue.Queue[object],
        cancel: threading.Event,
        left: dict[str, Candidate],
    ) -> None:
        ray = self.ray
        pending: dict[Any, list[_Item]] = {}
        inflight_bytes = 0
        limit = 2 * self.slots

        def finish(ready: Sequence[Any]) -> None:
            nonlocal inflight_bytes
            for ref in ready:
                group = pending.pop(ref)
                inflight_bytes -= sum(item.size for item in group)
                for msg in self._results(ref, group):
                    out.put(msg)
                for item in group:
                    left.pop(item.cand.path, None)

        def submit(group: list[_Item]) -> None:
            nonlocal inflight_bytes
            size = sum(item.size for item in group)
            while pending and (len(pending) >= limit or inflight_bytes + size > INFLIGHT_BYTES):
                if cancel.is_set():
                    return
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                finish(ready)
            pending[self.parse.remote(self.job_ref, group)] = group
            inflight_bytes += size
            self.prestart()

        group: list[_Item] = []
        group_bytes = 0
        for cand in cands:
            if cancel.is_set():
                break
            item = self._item(cand, known.get(cand.path), max_bytes, out)
            if item is None:
                left.pop(cand.path, None)
                continue
            if group and (len(group) >= GROUP_FILES or group_bytes + item.size > GROUP_BYTES):
                submit(group)
                group, group_bytes = [], 0
            group.append(item)
            group_bytes += item.size
            if pending:  # pass on what is done while reading the next files
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                finish(ready)
        if group and not cancel.is_set():
            submit(group)
        while pending:
            if cancel.is_set():
                for ref in pending:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref)
                return
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            finish(ready)

    def _item(
        self, cand: Candidate, prev: FileRecord | None, max_bytes: int, out: queue.Queue[object]
    ) -> _Item | None:
        """What to send for one file; None when it is answered here (unchanged or unreadable)."""
        try:
            st = os.stat(cand.path)
        except OSError:
            st = None
        recorded = (prev.size, prev.mtime_ns) if prev is not None else None
        if st is not None and recorded == (st.st_size, st.st_mtime_ns):
            out.put(_Same(cand, None))
            return None
        if self.shared_fs:
            return _Item(cand, None, prev, st.st_mtime_ns if st is not None else 0, cand.path)
        from appliance.loaders import load_file

        try:
            load_file(Path(cand.path), [], max_bytes=max_bytes)  # the cheap checks, no parsing
            with open(cand.path, "rb") as fh:
                data = fh.read()
        except LoadError as exc:
            out.put(_Fail(cand, exc.reason))
            return None
        except OSError as exc:
            out.put(_Fail(cand, f"cannot read: {exc.strerror or exc}"))
            return None
        if st is None:  # vanished between the checks and the read
            out.put(_Fail(cand, "cannot read: the file disappeared"))
            return None
        return _Item(cand, data, prev, st.st_mtime_ns, self._label_path(cand))

    def _label_path(self, cand: Candidate) -> str:
        """The path the worker's labeller is given for a file sent as bytes.

        Folder rules match a file by any of its paths, its real one included; a worker
        without the file cannot resolve a symlink on its way. So when a rule matches only
        the real path, here, the labeller is given that one (and finds the same rule).
        """
        rules = self._rules
        if rules is None or rules.match(cand.relpath) or rules.match_any_tail(cand.path):
            return cand.path
        real = os.path.realpath(cand.path)
        return real if real != cand.path and rules.match_any_tail(real) else cand.path

    def _results(self, ref: Any, group: list[_Item]) -> Iterator[object]:
        ray = self.ray
        try:
            yield from ray.get(ref)
            return
        except ray.exceptions.TaskCancelledError:
            return
        except ray.exceptions.RayTaskError as exc:  # a bug on the worker's side, not a file
            reason = f"unexpected error on the Ray worker: {_cause(exc)}"
        except ray.exceptions.RayError as exc:
            if len(group) > 1:  # one of them may crash its worker: try each alone
                for item in group:
                    yield from self._results(self.parse.remote(self.job_ref, [item]), [item])
                return
            reason = f"the Ray worker reading it died ({_cause(exc)})"
        for item in group:
            yield _Fail(item.cand, reason[:300])


def _cause(exc: BaseException) -> str:
    """The first line of an error, without Ray's traceback."""
    text = str(exc).strip().splitlines()
    lines = [t for t in text if t.strip() and not t.startswith(("Traceback", " "))]
    return (lines[-1] if lines else type(exc).__name__)[:200]


# -- connecting --------------------------------------------------------------------------------
def connect(address: str) -> tuple[Any, bool]:
    """Connect this process to the cluster at ``address`` (``local``: start one on loopback);
    the ``ray`` module, and whether this call connected (a connection made by the caller
    beforehand is used as it is, and left open)."""
    from appliance import egress

    loaded = sys.modules.get("ray")
    if loaded is not None and loaded.is_initialized():
        return loaded, False
    if address.startswith("ray://"):
        raise ConfigError(
            "Ray client addresses (ray://) are not supported",
            hint="run `appliance ingest` on a node of the cluster, with --ray auto",
        )
    host, port = _head(address)
    _prepare(address)
    ray = import_ray()
    kwargs: dict[str, Any] = {
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "namespace": NAMESPACE,
    }
    if address == "local":
        kwargs.update(include_dashboard=False, num_cpus=os.cpu_count() or 1)
    else:
        if host is None:
            raise ConfigError(
                "no Ray cluster found on this machine (--ray auto)",
                hint="join one with `ray start --address HEAD:PORT`, or give --ray HEAD:PORT",
            )
        if not _loopback(host) and egress.is_installed():
            egress.allow(host, port)
        try:  # Ray itself retries for minutes; a wrong address should fail now
            socket.create_connection((host, port), timeout=10).close()
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Ray cluster's head at {host}:{port}: {exc.strerror or exc}",
                hint="start it with `ray start --head` (see the README's team setup), or use "
                "--ray local",
            ) from None
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"cannot connect to the Ray cluster at {address}: {_cause(exc)}",
            hint="start it with `ray start --head` (see the README's team setup), or use "
            "--ray local",
        ) from None
    return ray, True


def _prepare(address: str) -> None:
    """Environment Ray reads when it is imported: set before the first ``import ray``."""
    host, _ = _head(address)
    if host is None or _loopback(host):
        # Ray picks the node's LAN address otherwise; this keeps every socket on loopback.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if address == "local":  # token auth is Ray's default for a new cluster; this skips its warning
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def _head(address: str) -> tuple[str | None, int]:
    """The head's host and port for ``host:port`` or ``auto`` (None for ``local`` or unknown).

    >>> _head("10.0.0.5:6380"), _head("[::1]:6379"), _head("head.lan")
    (('10.0.0.5', 6380), ('::1', 6379), ('head.lan', 6379))
    """
    if address == "local":
        return None, 0
    if address == "auto":  # what `ray start` recorded on this machine
        for base in (os.environ.get("RAY_TMPDIR"), tempfile.gettempdir(), "/tmp"):
            with contextlib.suppress(OSError):
                address = (Path(base or "/tmp") / "ray" / "ray_current_cluster").read_text()
                break
        else:
            return None, 0
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit():
        return address.strip().strip("[]") or None, 6379
    return host.strip("[]") or None, int(port)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_pipeline(
    settings: Settings, embedder: TextEmbedder, labeler: Labeler | None
) -> RayPipeline:
    """The Ray pipeline for ``ingest``; raises ``RayUnavailable`` without Ray installed."""
    if "ray" not in sys.modules:
        _prepare(str(settings.ingest.ray_address))
    import_ray()
    return RayPipeline(settings, embedder, labeler)


__all__ = [
    "EmbedActor",
    "EmbedderSpec",
    "RayPipeline",
    "RayUnavailable",
    "RemoteEmbedder",
    "connect",
    "make_pipeline",
    "parse_group",
]
