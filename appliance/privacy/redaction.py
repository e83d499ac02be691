"""Redaction of a whole prompt, and restoring the values as the answer streams back.

``redact_messages`` replaces what the detector finds in every message with placeholders that are
unique across the prompt (``[EMAIL_1]``) and returns the placeholder → value mapping;
``restoring`` puts the values back into the model's streamed answer, holding back a piece that
may end inside a placeholder. Both build on ``redact``/``restore`` (``verdict``).

Left out: deciding whether a turn may be redacted and sent (the router) and the last check of
the bytes that leave (the router's gate).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from appliance.backends.base import Message
from appliance.errors import ConfigError
from appliance.privacy.detectors import Detector
from appliance.privacy.verdict import redact, restore


def redact_messages(
    messages: Sequence[Message], detector: Detector
) -> tuple[list[Message], dict[str, str]]:
    """The messages with detected values replaced, and the placeholder → value mapping.

    >>> msgs, mapping = redact_messages([Message("user", "Mail ana@corp.io")], Detector())
    >>> msgs[0].content, mapping
    ('Mail [EMAIL_1]', {'[EMAIL_1]': 'ana@corp.io'})
    """
    mapping: dict[str, str] = {}
    out: list[Message] = []
    for m in messages:
        text, more = redact(m.content, detector.scan(m.content))
        # placeholders are numbered per call: make them unique across messages
        for ph, value in more.items():
            if ph in mapping and mapping[ph] != value:
                raise ConfigError("redaction placeholders collided; answering locally")
            mapping[ph] = value
        out.append(Message(m.role, text))
    return out, mapping


def restoring(pieces: Iterator[str], mapping: dict[str, str]) -> Iterator[str]:
    """Swap placeholders back as the answer streams (holding back a possibly split one).

    >>> "".join(restoring(iter(["To [EMA", "IL_1] now"]), {"[EMAIL_1]": "ana@corp.io"}))
    'To ana@corp.io now'
    """
    buf = ""
    for piece in pieces:
        buf += piece
        cut = buf.rfind("[")
        if cut != -1 and "]" not in buf[cut:]:
            ready, buf = buf[:cut], buf[cut:]
        else:
            ready, buf = buf, ""
        if ready:
            yield restore(ready, mapping)
    if buf:
        yield restore(buf, mapping)
