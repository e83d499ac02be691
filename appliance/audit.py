"""The audit log: one authenticated, chained JSON line per question, in ``index/audit.jsonl``.

Each record (built here from an answer and its routing decision: ``record_answer``, and
``record_send`` for each request body about to leave) says when, in which mode, what was
decided and why (detector and rule names with counts, never the values), which backend and
model answered, and the size and sha256 of exactly what was sent off the machine, per attempt
(nothing for local answers). The question itself is
never written, only a keyed hash of it (``question_hmac``), so a short question (a PIN, an SSN)
cannot be recovered from the log by trying every value.

Authentication. A 32-byte random key lives OUTSIDE the index folder, in
``$XDG_CONFIG_HOME/appliance/audit.key`` (``~/.config/appliance/audit.key``; the environment
variable ``APPLIANCE_AUDIT_KEY_FILE`` names another file), mode 0600 in a 0700 folder, created on
first use. Every line carries ``prev`` (the MAC of the line before it) and ``mac``, an
HMAC-SHA256 under that key of the line's canonical JSON. ``audit.head`` holds the count of lines
written and the last MAC, itself authenticated. Beside the key, ``audit-state/<id>.json`` keeps
the same (count, last MAC) for each index (keyed by the index folder's absolute path), so a log
cut short together with its head, or deleted outright, still shows: "the log has N lines but M
were written".

Appends are serialised with a file lock and crash-safe: the line is written and fsynced, then
the head, then the record outside the index (each replaced atomically). A crash between them
leaves the head or the outside record exactly one line behind: ``verify`` calls that an
interrupted append (OK, with a note) and the next append completes it. A torn last line (a crash
in the middle of writing it: no newline at the end) is moved to ``audit.jsonl.torn-<time>`` by
the next append, which then starts on a fresh line. If the log is found shorter than what was
written, the next append does not paper over it: its sequence number continues from the count
written, so the gap stays visible (and authenticated) in the log for good.

What ``verify`` cannot detect: anything done by someone who holds the key (your own account,
root) — they can rewrite the log, the head and the outside record consistently; and, for an
index with no outside record (moved or copied to another path or account, or the record
deleted), lines removed from the end together with a rewritten head. Deleting the key makes
every existing line unverifiable (reported as such, never as intact).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.crashpoints import crash_point
from appliance.errors import ApplianceError

if TYPE_CHECKING:
    from appliance.answers import Answer
    from appliance.backends.base import Backend
    from appliance.router import Decision

LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
STATE_DIR = "audit-state"
KEY_ENV = "APPLIANCE_AUDIT_KEY_FILE"
KEY_BYTES = 32
GENESIS = "0" * 64
RESERVED = ("seq", "time", "prev", "key_id", "mac")


class AuditError(ApplianceError):
    """The audit key cannot be read or created, or the log cannot be written."""


def key_path() -> Path:
    """Where the audit key lives: ``$APPLIANCE_AUDIT_KEY_FILE``, else the user config dir."""
    override = os.environ.get(KEY_ENV)
    if override:
        return Path(override).expanduser()
    return _default_key_path()


def _default_key_path() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "appliance" / "audit.key"


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, kind: str, body: dict[str, Any]) -> str:
    """HMAC-SHA256 of ``body``; ``kind`` keeps a record's MAC from passing as a head's."""
    return hmac.new(key, kind.encode() + b"\n" + _canonical(body), hashlib.sha256).hexdigest()


def _line(record: dict[str, Any]) -> bytes:
    """A record exactly as it is written (verify insists on these bytes)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=True).encode() + b"\n"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate field {k!r}")
        out[k] = v
    return out


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON object with an integer ``seq`` and hex ``prev``/``mac``, else why not."""
    try:
        rec = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"not valid JSON: {str(exc)[:80]}"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    if "mac" not in rec:
        return rec, "no MAC"
    seq = rec.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return rec, "no valid sequence number"
    for name in ("prev", "mac"):
        if not _is_hex(rec.get(name)):
            return rec, f"no valid {name!r}"
    return rec, None


def _is_hex(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 64:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


def _write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` (mode 0600, fsynced, folder fsynced)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _private_dir(folder: Path, tighten: bool = True) -> None:
    """Create ``folder`` 0700 (parents as needed); with ``tighten``, an existing folder of ours
    that others can read is made 0700 too (not done to a folder the user named elsewhere)."""
    existed = folder.is_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if existed and not tighten:
        return
    with contextlib.suppress(OSError):
        st = folder.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            folder.chmod(0o700)


@dataclass(frozen=True)
class Anchor:
    """A (count, last MAC) pair: what the head, or the record outside the index, says."""

    count: int
    mac: str


@dataclass
class VerifyResult:
    ok: bool
    lines: int
    """Complete lines in the log (all authenticated when ``ok``)."""
    problem: str | None = None
    """The first problem found, in words; None when ``ok``."""
    kind: str | None = None
    """``edited``, ``forged``, ``unauthenticated``, ``inserted``, ``removed``, ``reordered``,
    ``truncated``, ``replaced``, ``garbage``, ``missing``, ``head`` or ``key``."""
    line: int | None = None
    """The first bad line (1-based line number in ``audit.jsonl``), when one is to blame."""
    written: int | None = None
    """How many lines were written, as the head and the record outside the index say."""
    notes: list[str] = field(default_factory=list)
    """Things that are not tampering: an interrupted append, a torn line set aside."""


class AuditLog:
    def __init__(self, index_dir: Path, key_file: Path | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.path = self.index_dir / LOG_NAME
        self.head = self.index_dir / HEAD_NAME
        self.key_file = Path(key_file) if key_file is not None else key_path()
        self._key: bytes | None = None

    # -- the key and the record outside the index ----------------------------------------------
    @property
    def state_file(self) -> Path:
        """The (count, last MAC) copy kept beside the key, one file per index folder."""
        where = str(self.index_dir.resolve())
        name = hashlib.sha256(where.encode()).hexdigest()[:32]
        return self.key_file.parent / STATE_DIR / f"{name}.json"

    def key(self, create: bool = True) -> bytes | None:
        """The audit key; created (0600, in a 0700 folder) on first use when ``create``."""
        if self._key is not None:
            return self._key
        try:
            data = self.key_file.read_bytes()
        except FileNotFoundError:
            if not create:
                return None
            data = self._create_key()
        except OSError as exc:
            raise AuditError(
                f"cannot read the audit key {self.key_file}: {exc.strerror or exc}",
                hint="it must be a file readable by you (mode 0600)",
            ) from None
        if len(data) != KEY_BYTES:
            raise AuditError(
                f"the audit key {self.key_file} is damaged ({len(data)} bytes, expected "
                f"{KEY_BYTES})",
                hint="restore it from a backup: without it no audit line can be verified",
            )
        with contextlib.suppress(OSError):
            if self.key_file.stat().st_mode & 0o077:
                self.key_file.chmod(0o600)
        self._key = data
        return data

    def _create_key(self) -> bytes:
        try:
            # The default folder (~/.config/appliance) is ours to tighten; one named through
            # APPLIANCE_AUDIT_KEY_FILE is the user's (it may be their home folder).
            _private_dir(self.key_file.parent, tighten=self.key_file == _default_key_path())
            tmp = self.key_file.with_name(
                f".{self.key_file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            )
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                _write_all(fd, secrets.token_bytes(KEY_BYTES))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.key_file)  # never replaces a key another process just made
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(self.key_file.parent)
            return self.key_file.read_bytes()
        except OSError as exc:
            raise AuditError(
                f"cannot create the audit key {self.key_file}: {exc.strerror or exc}",
                hint=f"make its folder writable, or set {KEY_ENV} to a file in one",
            ) from None

    @property
    def key_id(self) -> str | None:
        """A short fingerprint of the key, written in each line (to tell keys apart)."""
        key = self.key(create=False)
        return None if key is None else _mac(key, "key-id", {})[:16]

    def question_hmac(self, question: str) -> str:
        """The keyed hash of a question (what the log stores instead of the text)."""
        key = self.key()
        assert key is not None
        return hmac.new(key, b"question\n" + question.encode(), hashlib.sha256).hexdigest()

    # -- the records ---------------------------------------------------------------------------
    def record_send(
        self,
        question: str,
        decision: Decision,
        backend: Backend,
        body: bytes,
        *,
        mode: str,
        via_proxy: str | None,
    ) -> dict[str, Any]:
        """Record one request body about to be sent to a remote backend (written before a byte
        leaves, so a retry, a lost response or a crash mid-answer is on record)."""
        return self.append(
            {
                "event": "send",
                "mode": mode,
                "decision": "cloud",
                "reasons": decision.reasons,
                "backend": "cloud",
                "model": backend.name,
                **_server_field(backend),
                "sent": {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)},
                "via_proxy": via_proxy,
                "question_hmac": self.question_hmac(question),
            }
        )

    def record_answer(
        self,
        answer: Answer,
        decision: Decision,
        backend: Backend | None,
        *,
        mode: str,
        via_proxy: str | None,
    ) -> dict[str, Any]:
        """Record a finished (or cancelled) answer: the route and why, who answered, and for a
        remote backend every request body handed to the network (``backend`` None: nothing
        was asked of a model)."""
        remote = backend is not None and not backend.is_local
        return self.append(
            {
                "event": "answer",
                "mode": mode,
                "decision": answer.route,
                "sensitive": decision.sensitive,
                "reasons": decision.reasons,
                "detectors": decision.counts,
                "backend": "none" if backend is None else ("cloud" if remote else "local"),
                "model": answer.model,
                **_server_field(backend),
                "sent": _sent(backend, via_proxy) if remote else None,
                "question_hmac": self.question_hmac(answer.question),
                "passages": len(answer.passages),
                "cancelled": answer.cancelled,
            }
        )

    def _read_anchor(self, path: Path, kind: str, key: bytes) -> tuple[Anchor | None, str | None]:
        """(anchor, None), (None, None) when the file is missing, or (None, what is wrong)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"cannot be read ({exc.strerror or exc})"
        if len(raw) > 4096:
            return None, f"is not a valid {kind} record ({len(raw)} bytes)"
        try:
            data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError):
            old = raw.split()
            if len(old) == 2 and old[0].isdigit():
                return None, "is in the old unauthenticated format"
            return None, "is not valid JSON (garbage)"
        if not isinstance(data, dict):
            return None, "is not a JSON object (garbage)"
        count, mac, auth = data.get("count"), data.get("mac"), data.get("auth")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            return None, "has no valid count (garbage)"
        if not (isinstance(mac, str) and isinstance(auth, str) and _is_hex(mac) and _is_hex(auth)):
            return None, "has no valid MAC (garbage)"
        body: dict[str, Any] = {"count": count, "mac": mac}
        if kind == "state":
            body["index"] = data.get("index")
        if not hmac.compare_digest(auth, _mac(key, kind, body)):
            return None, "fails authentication (forged, or made with another key)"
        return Anchor(count, mac), None

    def _write_anchors(self, key: bytes, count: int, mac: str) -> None:
        head = {"count": count, "mac": mac}
        _write_private(self.head, _line({**head, "auth": _mac(key, "head", head)}))
        crash_point("audit-head-written")
        state = {"count": count, "mac": mac, "index": str(self.index_dir.resolve())}
        _private_dir(self.state_file.parent)
        _write_private(
            self.state_file, _line({**state, "time": _now(), "auth": _mac(key, "state", state)})
        )

    # -- appending -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[int | None]:
        if exclusive:
            self.index_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        else:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                yield None
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield fd
        finally:
            os.close(fd)  # releases the lock

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Add one record (``seq``, ``time``, ``prev``, ``key_id`` and ``mac`` are filled in)."""
        key = self.key()
        assert key is not None
        try:
            with self._locked(exclusive=True) as fd:
                assert fd is not None
                with contextlib.suppress(OSError):  # not ours (a shared index): leave its mode
                    os.fchmod(fd, 0o600)
                return self._append(fd, key, entry)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc}") from None

    def _append(self, fd: int, key: bytes, entry: dict[str, Any]) -> dict[str, Any]:
        size = os.fstat(fd).st_size
        last, torn = _tail(fd, size)
        if torn:
            self._set_aside(torn, "torn")
            os.ftruncate(fd, size - len(torn))
            os.fsync(fd)
        head, _ = self._read_anchor(self.head, "head", key)
        state, _ = self._read_anchor(self.state_file, "state", key)
        seq, prev = 0, GENESIS
        if last is not None:
            rec, why = _parse(last)
            if rec is not None and why == "no MAC" and "hash" in rec and not (head or state):
                # A log from before audit keys: keep it beside, start an authenticated one.
                self._set_aside(_read_all(fd), "legacy")
                os.ftruncate(fd, 0)
                os.fsync(fd)
                self.head.unlink(missing_ok=True)
            elif rec is not None and why is None and self._authentic(key, rec):
                seq, prev = rec["seq"], rec["mac"]
            else:  # damaged: chain on it anyway (verify reports it), numbering as best we can
                n = rec.get("seq") if rec is not None else None
                seq = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0
                prev = hashlib.sha256(last).hexdigest()
        # Never count below what was written: a log cut short keeps a visible gap.
        seq = max([seq] + [a.count for a in (head, state) if a is not None]) + 1
        record: dict[str, Any] = {
            **{k: v for k, v in entry.items() if k not in RESERVED},
            "seq": seq,
            "time": _now(),
            "prev": prev,
            "key_id": _mac(key, "key-id", {})[:16],
        }
        record["mac"] = _mac(key, "record", record)
        _write_all(fd, _line(record))
        os.fsync(fd)
        crash_point("audit-line-written")
        self._write_anchors(key, seq, record["mac"])
        return record

    def _set_aside(self, data: bytes, what: str) -> Path:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.path.with_name(f"{LOG_NAME}.{what}-{stamp}")
        _write_private(path, data)
        return path

    @staticmethod
    def _authentic(key: bytes, rec: dict[str, Any]) -> bool:
        body = {k: v for k, v in rec.items() if k != "mac"}
        return hmac.compare_digest(str(rec.get("mac")), _mac(key, "record", body))

    # -- reading -------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Every line parsed (``{"_malformed": text}`` for one that is not JSON)."""
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        out: list[dict[str, Any]] = []
        for line in lines:
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):
                rec = None
            out.append(rec if isinstance(rec, dict) else {"_malformed": line})
        return out

    def verify(self) -> VerifyResult:
        """Check every line, the head and the record outside the index; never raises for what
        is in the files (only for an unreadable key)."""
        try:
            key = self.key(create=False)
        except AuditError as exc:
            return VerifyResult(False, 0, exc.message, "key")
        with self._locked(exclusive=False) as fd:
            try:
                data = _read_all(fd) if fd is not None else None
            except OSError as exc:
                return VerifyResult(False, 0, f"{LOG_NAME} cannot be read: {exc}", "missing")
            if key is None:
                return self._no_key(data)
            head, head_err = self._read_anchor(self.head, "head", key)
            state, state_err = self._read_anchor(self.state_file, "state", key)
        return _Verifier(self, key, data, head, head_err, state, state_err).run()

    def _no_key(self, data: bytes | None) -> VerifyResult:
        if not data and not self.head.exists():
            return VerifyResult(True, 0, notes=["the log is empty (no audit key yet)"])
        first, _ = _parse((data or b"").split(b"\n", 1)[0])
        if first is not None and "hash" in first and "mac" not in first:
            return VerifyResult(
                False,
                0,
                "line 1 carries no MAC (written before audit keys): it cannot be trusted; the "
                "next question starts an authenticated log and keeps this one beside it",
                "unauthenticated",
                1,
            )
        return VerifyResult(
            False,
            0,
            f"the audit key {self.key_file} is missing: no line can be authenticated (it was "
            "deleted, or the log was written by another account or machine)",
            "key",
        )


def _server_field(backend: Backend | None) -> dict[str, str]:
    """``{"server": "gpu-box.lan:8000 (trusted)"}`` for a model server; nothing otherwise."""
    server = getattr(backend, "server", None)
    return {"server": server} if isinstance(server, str) else {}


def _sent(backend: Backend | None, via_proxy: str | None) -> dict[str, Any]:
    """What a remote backend sent for an answer: every request body handed to the network
    (retries included, recorded before it was sent), so a retried request or one whose answer
    never came is still counted."""
    answered: bytes = getattr(backend, "last_request_bytes", b"") or b""
    attempts: list[bytes] = list(getattr(backend, "attempts", None) or [])
    if not attempts and answered:
        attempts = [answered]
    body = answered or (attempts[-1] if attempts else b"")
    return {
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
        "attempts": len(attempts),
        "total_bytes": sum(len(a) for a in attempts),
        "per_attempt": [
            {"bytes": len(a), "sha256": hashlib.sha256(a).hexdigest()} for a in attempts
        ],
        "answered": bool(answered),
        "via_proxy": via_proxy,
    }


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _tail(fd: int, size: int) -> tuple[bytes | None, bytes]:
    """(the last complete line without its newline, the bytes after the last newline)."""
    buf, pos = b"", size
    while pos > 0:
        step = min(1 << 16, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        if buf.count(b"\n") >= 2 or pos == 0:
            break
    end = buf.rfind(b"\n")
    if end < 0:
        return None, buf
    torn = buf[end + 1 :]
    start = buf.rfind(b"\n", 0, end) + 1
    return buf[start:end], torn


class _Verifier:
    def __init__(
        self,
        log: AuditLog,
        key: bytes,
        data: bytes | None,
        head: Anchor | None,
        head_err: str | None,
        state: Anchor | None,
        state_err: str | None,
    ) -> None:
        self.log, self.key = log, key
        self.missing = data is None
        data = data or b""
        self.lines = data.split(b"\n")
        self.torn = self.lines.pop()  # b"" when the file ends with a newline
        self.head, self.head_err = head, head_err
        self.state, self.state_err = state, state_err
        self.notes: list[str] = []
        self.n = 0  # sequence number of the last good line
        self.tip = GENESIS
        self.last: dict[str, Any] | None = None
        anchors = [a.count for a in (head, state) if a is not None]
        self.written = max(anchors) if anchors else None

    def fail(self, kind: str, problem: str, line: int | None = None) -> VerifyResult:
        return VerifyResult(False, len(self.lines), problem, kind, line, self.written, self.notes)

    def run(self) -> VerifyResult:
        for path in sorted(self.log.index_dir.glob(f"{LOG_NAME}.*-*")):
            what = "a torn line" if ".torn-" in path.name else "an older log"
            self.notes.append(f"{path.name} holds {what} set aside by an append")
        bad = self._lines()
        if bad is not None:
            return bad
        return self._torn() or self._state() or self._head() or self._ok()

    def _lines(self) -> VerifyResult | None:
        seqs: dict[int, int] = {}
        for i, raw in enumerate(self.lines, 1):
            rec, _ = _parse(raw)
            if rec is not None and isinstance(rec.get("seq"), int):
                seqs.setdefault(rec["seq"], i)
        key_id = _mac(self.key, "key-id", {})[:16]
        for i, raw in enumerate(self.lines, 1):
            rec, why = _parse(raw)
            where = f"line {i}"
            if rec is None:
                return self.fail("garbage", f"{where} is not an audit record ({why})", i)
            if why == "no MAC":
                legacy = " (written before audit keys)" if "hash" in rec else ""
                return self.fail(
                    "unauthenticated", f"{where} carries no MAC{legacy}: it cannot be trusted", i
                )
            if why is not None:
                return self.fail("garbage", f"{where} is not an audit record ({why})", i)
            if not self.log._authentic(self.key, rec):
                other = rec.get("key_id")
                hint = (
                    f" (it names key {str(other)[:16]}, but the key in {self.log.key_file} is "
                    f"{key_id}: was the key file replaced?)"
                    if isinstance(other, str) and other != key_id
                    else ""
                )
                return self.fail(
                    "forged",
                    f"{where} fails authentication: it was edited, or written without the "
                    f"key{hint}",
                    i,
                )
            if raw + b"\n" != _line(rec):
                return self.fail("edited", f"{where} was edited (its bytes were changed)", i)
            seq, expect = rec["seq"], self.n + 1
            if rec["prev"] != self.tip:
                if seq < expect:
                    return self.fail(
                        "reordered",
                        f"{where} (record {seq}) comes after record {self.n}: lines were "
                        "reordered or duplicated",
                        i,
                    )
                if seq > expect and expect in seqs and seqs[expect] > i:
                    return self.fail(
                        "reordered",
                        f"{where} is record {seq} but record {expect} comes later, at line "
                        f"{seqs[expect]}: lines were reordered",
                        i,
                    )
                if seq > expect:
                    gone = _span(expect, seq - 1, "was", "were")
                    return self.fail("removed", f"{where} is record {seq}: {gone} removed", i)
                return self.fail(
                    "inserted",
                    f"{where} does not follow line {i - 1}: a line was inserted or replaced",
                    i,
                )
            if seq != expect:
                if seq < expect:
                    return self.fail("reordered", f"{where} repeats record {seq}", i)
                gone = _span(expect, seq - 1, "is", "are")
                return self.fail(
                    "truncated",
                    f"{gone} missing: the log had been cut short (or deleted) when {where} "
                    f"(record {seq}) was appended",
                    i,
                )
            self.n, self.tip, self.last = seq, rec["mac"], rec
        return None

    def _behind(self, anchor: Anchor) -> bool:
        """One line behind the log: an append interrupted before it updated this anchor."""
        last = self.last
        return last is not None and anchor.count == self.n - 1 and anchor.mac == last["prev"]

    def _torn(self) -> VerifyResult | None:
        if not self.torn:
            return None
        i = len(self.lines) + 1
        if self.written is not None and self.written > self.n:
            return self.fail(
                "truncated",
                f"line {i} is cut off, but {self.written} lines were written and only {self.n} "
                "are complete",
                i,
            )
        self.notes.append(
            f"line {i} is torn: an append was interrupted by a crash before the line was "
            "complete (nothing written before it is lost); the next append sets it aside"
        )
        return None

    def _state(self) -> VerifyResult | None:
        where = f"the record kept outside the index ({self.log.state_file})"
        if self.state_err is not None:
            return self.fail("garbage", f"{where} {self.state_err}")
        state = self.state
        if state is None:
            if self.n:
                self.notes.append(
                    "there is no record of this log outside the index (the index was moved or "
                    "copied, or that record was deleted): lines removed from the end together "
                    "with the head cannot be detected"
                )
            return None
        if state.count == self.n and state.mac == self.tip:
            return None
        if self._behind(state):
            self.notes.append(
                "interrupted append: the record outside the index is one line behind the log "
                "(a crash just after a line was written); the next append completes it"
            )
            return None
        if state.count > self.n:
            if self.missing:
                files = (
                    f"{LOG_NAME} is"
                    if self.log.head.exists()
                    else f"{LOG_NAME} and {HEAD_NAME} are"
                )
                return self.fail(
                    "missing",
                    f"{files} missing, but {state.count} lines were written to this index "
                    f"({where})",
                )
            return self.fail(
                "truncated",
                f"the log has {self.n} lines but {state.count} were written ({where}): "
                f"{_span(self.n + 1, state.count, 'was', 'were')} removed from the end",
            )
        if state.count == self.n:
            return self.fail(
                "replaced",
                f"the last line is not the one that was written ({where}): the log was replaced",
            )
        self.notes.append(
            f"{where} says {state.count} lines, the log holds {self.n} authenticated ones "
            "(it could not be updated, or was restored from an older copy)"
        )
        return None

    def _head(self) -> VerifyResult | None:
        head = self.head
        if self.head_err is not None:
            return self.fail("garbage", f"{HEAD_NAME} {self.head_err}")
        if head is None:
            if self.n == 0:
                return None
            if self.n == 1 and (self.state is None or self._behind(self.state)):
                self.notes.append(
                    "interrupted append: the first line was written but not the head; the "
                    "next append completes it"
                )
                return None
            lost = " (the lines match the record outside the index: none were lost)"
            return self.fail(
                "missing", f"{HEAD_NAME} is missing{lost if self.state is not None else ''}"
            )
        if head.count == self.n and head.mac == self.tip:
            return None
        if self._behind(head):
            self.notes.append(
                "interrupted append: the head is one line behind the log (a crash between "
                "writing the line and the head); the next append completes it"
            )
            return None
        if head.count > self.n:
            if self.missing:
                return self.fail(
                    "missing", f"{LOG_NAME} is missing, but {HEAD_NAME} says {head.count} "
                    "lines were written"
                )  # fmt: skip
            return self.fail(
                "truncated",
                f"the log ends at line {self.n} but {HEAD_NAME} says {head.count} were "
                f"written: {_span(self.n + 1, head.count, 'was', 'were')} removed from the end",
            )
        if head.count == self.n:
            return self.fail(
                "replaced", f"{HEAD_NAME} does not match the last line: the log was replaced"
            )
        return self.fail(
            "head",
            f"{HEAD_NAME} says {head.count} lines but the log holds {self.n} authenticated "
            "ones (an old head was put back?)",
        )

    def _ok(self) -> VerifyResult:
        return VerifyResult(True, len(self.lines), None, None, None, self.written, self.notes)


def _span(first: int, last: int, one: str, many: str) -> str:
    """Sequence numbers in words (a record's number is its line number in an intact log)."""
    return f"record {first} {one}" if first == last else f"records {first}–{last} {many}"
