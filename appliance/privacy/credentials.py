"""Secrets: ``api_key``, ``private_key``, ``jwt`` and ``credential``.

``api_key`` knows token shapes (``sk-``, ``sk-ant-``, ``AKIA``, ``ghp_``, ``xox?-``, ``AIza``,
``hf_``, Stripe, Slack webhooks...); ``private_key`` finds PEM/OpenSSH/PGP blocks, also a chunk
holding only the end of one; ``credential`` finds assigned values (``password=``,
``"secret": ...``, ``Bearer ...``, ``scheme://user:pass@host``, "the password is ...").

Leaves out placeholders and references (``${DB_PASSWORD}``, ``os.environ[...]``), masked values
("********"), code that merely names a secret (``password = request.form``), a private key body
cut off from both its BEGIN and END lines, and high-entropy strings of no known shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from appliance.privacy.base import Span

_API_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{20,}"
    r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposre]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}"
    r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}"
    r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"
    r"|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"
    r")(?![\w-])"
)


API_KEY_TRIGGERS = (
    "sk-", "sk_", "rk_", "akia", "asia", "agpa", "aida", "aroa", "anpa", "ghp_", "gho_", "ghu_",
    "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "aiza", "whsec_", "hf_", "npm_", "sg.",
    "hooks.slack",
)  # fmt: skip


def api_keys(text: str) -> Iterator[Span]:
    for m in _API_KEY.finditer(text):
        value = m.group()
        # Real keys are random: letters and digits. "sk-this-is-not-a-key-at-all" is prose.
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            yield m.span()


_PEM_LABEL = r"(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
_PEM_BEGIN = re.compile(rf"-----BEGIN {_PEM_LABEL}")
_PEM_END = re.compile(rf"-----END {_PEM_LABEL}")
# The end of a key whose BEGIN line is in the previous chunk: its base64 lines, then END.
_PEM_TAIL = re.compile(rf"(?m)(?:^[ \t]*[A-Za-z0-9+/=]{{16,}}\r?\n)*[ \t]*-----END {_PEM_LABEL}")


def private_keys(text: str) -> Iterator[Span]:
    if "PRIVATE KEY" not in text:
        return
    pos = 0
    for begin in _PEM_BEGIN.finditer(text):
        if begin.start() < pos:
            continue
        # The body may run past the end of a chunk: then it runs to the end of the text.
        end = _PEM_END.search(text, begin.end())
        pos = end.end() if end else len(text)
        yield begin.start(), pos
    first_begin = _PEM_BEGIN.search(text)
    tail = _PEM_TAIL.search(text)
    if tail and (first_begin is None or tail.start() < first_begin.start()):
        yield tail.span()


_JWT = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")


def jwts(text: str) -> Iterator[Span]:
    return (m.span() for m in _JWT.finditer(text))


_CREDENTIAL_KEY = (
    r"(?:password|passwd|passphrase|pwd|(?<=[_.\-])pass|pass(?=[ \t]*=|:)|secret|secret[_\-]?key|"
    r"client[_\-]?secret|"
    r"api[_\-]?key|apikey|access[_\-]?key|secret[_\-]?access[_\-]?key|access[_\-]?token|"
    r"auth[_\-]?token|refresh[_\-]?token|private[_\-]?key|account[_\-]?key)"
)
CREDENTIAL_TRIGGERS = ("pass", "pwd", "secret", "key", "token", "bearer", "://")
# The key may carry a prefix ("DB_PASSWORD", "spring.datasource.password") but not be the end
# of another word ("mypassword") or the start of one ("password_hash").
_CREDENTIAL = re.compile(
    rf"(?i)(?<![a-z0-9]){_CREDENTIAL_KEY}(?![\w-])[\"'*]*[ \t]*"
    # "password for the guest wifi is ...": a short phrase may sit between the key and "is"
    r"(?P<sep>:=|=>|=|:|(?:[ \t]+(?:for|of|on|to)[ \t]+[\w\- ]{1,30}?)?[ \t]+is[ \t]+)[*]*[ \t]*"
    r"(?:\"(?P<dq>[^\"\n]{1,200})\"|'(?P<sq>[^'\n]{1,200})'|(?P<bare>[^\s\"',;]{1,200}))"
)
_CODE_AFTER = re.compile(r"[ \t]*[,)\]=|]")
_BEARER = re.compile(r"\bBearer[ \t]+(?P<bare>[A-Za-z0-9\-._~+/]{20,}=*)")
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:(?P<bare>[^\s@/]+)@[\w.\-]+")

# Punctuation that ends a bare value rather than belongs to it: in prose ("the password is
# hunter2.") and in code ("f(password=hunter2)"), where "!" or "." may be part of a password.
_PROSE_TRAILING = ".,;:!?)]}"
_CODE_TRAILING = ")]}"
_NOT_A_SECRET = {
    "none", "null", "nil", "true", "false", "undefined", "required", "optional", "string",
    "str", "secret", "password", "your_password", "yourpassword", "your_password_here",
    "your-api-key", "your_api_key", "changeit", "redacted", "hidden", "example", "empty",
}  # fmt: skip
# Not a value but a pointer to one: "${X}", "%(x)s", "<set me>", "{{ var }}",
# os.environ[...], settings.X...
_REFERENCE = re.compile(
    r"^(?:[$%<{\[(]|.*\{\{|.*(?:os\.environ|getenv|process\.env|env\(|secrets\.|"
    r"settings\.|config\.|vault:|keyring))"
)


def _looks_secret(value: str, quoted: bool, strict: bool = False) -> bool:
    """Whether an assigned value is a real secret rather than a placeholder or code.

    ``strict`` is for ``key: value`` and "the password is ...", which prose uses too: an
    unquoted value then needs a letter and a digit or symbol.

    >>> _looks_secret("hunter2", quoted=False), _looks_secret("${DB_PASS}", quoted=False)
    (True, False)
    """
    if len(value) < 5 or value.lower() in _NOT_A_SECRET or _REFERENCE.match(value):
        return False
    if set(value) <= set("*xX•.-_#?"):
        return False  # masked: "********", "xxxx-xxxx"
    if quoted:
        return True
    if re.fullmatch(r"![A-Za-z]+", value):
        return False  # a YAML tag such as "!vault" or "!Ref"
    # "password = request.form", "api_key = API_KEY", "token = get_token()" are code.
    if re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:[(\[].*)?", value) and (
        any(c in value for c in ".([") or not any(c.isdigit() for c in value)
    ):
        return False
    return not strict or (any(c.isalpha() for c in value) and any(not c.isalpha() for c in value))


def credentials(text: str) -> Iterator[Span]:
    for m in _CREDENTIAL.finditer(text):
        group = next(g for g in ("dq", "sq", "bare") if m.group(g) is not None)
        quoted = group != "bare"
        colon = m.group("sep").strip() == ":"
        strict = colon or m.group("sep").rstrip().lower().endswith("is")
        value = m.group(group)
        if not quoted:
            if colon and _CODE_AFTER.match(text, m.end(group)):
                continue  # "private_key: PKCS7PrivateKeyTypes," is a type annotation
            value = value.rstrip(_PROSE_TRAILING if strict else _CODE_TRAILING)
        if _looks_secret(value, quoted=quoted, strict=strict):
            yield m.start(group), m.start(group) + len(value)
    for rx in (_BEARER, _URL_PASSWORD):
        for m in rx.finditer(text):
            if _looks_secret(m.group("bare"), quoted=True):
                yield m.span("bare")
