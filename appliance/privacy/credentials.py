"""Secrets: ``api_key``, ``private_key``, ``jwt``, ``credential`` and ``pin``.

``api_key`` knows token shapes (OpenAI/Anthropic ``sk-``, AWS ``AKIA``, GitHub, GitLab, Slack,
Google ``AIza``/``ya29.``/``1//0``/``GOCSPX-``, Stripe, Hugging Face, npm, SendGrid, Shopify,
DigitalOcean, Atlassian, PyPI, Square, Linear, Notion, Vault, Grafana, New Relic, Postman,
Doppler, Databricks, Supabase, Groq, Replicate, Perplexity, Mailgun, Mailchimp, Telegram, Sentry,
Azure AD client secrets, Slack and Discord webhooks) and, by their neighbours, secrets with no
prefix (``cloud_secrets``): AWS secret access keys, Azure ``AccountKey=``/``SharedAccessKey=``/
SAS ``sig=``, Twilio ids and auth tokens, Datadog and other hex keys after their service's name.
``private_key`` finds PEM/OpenSSH/PGP/SSH2 blocks (encrypted ones too), also a chunk holding
only the end of one, and PuTTY ``.ppk`` files or their private lines; ``credential`` finds
assigned values (``password=``, ``"secret": ...``, ``Bearer ...``, ``scheme://user:pass@host``,
"the password is ...") and random-looking tokens (20+ characters, letters and digits, Shannon
entropy near the maximum for their length, no words) just after "key", "token", "secret",
"auth", "credential", "password" on the same line; ``pin`` a PIN, passcode, PUK or card security
code (CVV/CVC) after its label.

Leaves out placeholders and references (``${DB_PASSWORD}``, ``os.environ[...]``), masked values
("********"), code that merely names a secret (``password = request.form``), a private key body
cut off from both its BEGIN and END lines (the ingest scans whole pages for that), public keys
and certificates, and, next to key words, hex strings and UUIDs (git SHAs, checksums, request
ids are far more common there than hex secrets: those of known services are found by their
service's name), identifiers and paths ("AWS_SECRET_ACCESS_KEY_2", "src/auth/handler.ts"),
fingerprints, digests and "sha512-..." integrity values.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

from appliance.privacy.base import GAP, Span
from appliance.privacy.textscan import long_words, lower, near

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
    # Google OAuth access and refresh tokens, OAuth client secrets
    r"|ya29\.[0-9A-Za-z_\-]{20,}|(?<![\w/:])1//0[0-9A-Za-z_\-]{20,}|GOCSPX-[A-Za-z0-9_\-]{20,}"
    # Shopify, DigitalOcean, Atlassian
    r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}|do[por]_v1_[a-f0-9]{64}|ATATT3[A-Za-z0-9_\-=]{50,}"
    # PyPI, Square, Linear, Notion, Vault, Grafana, New Relic, Postman, Doppler, Databricks,
    # Supabase, Groq, Replicate, Perplexity, Mailgun, Mailchimp, Telegram bots, Sentry
    r"|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}|sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,}"
    r"|lin_api_[A-Za-z0-9]{40}|ntn_[A-Za-z0-9]{40,}|secret_[A-Za-z0-9]{43}"
    r"|hv[sb]\.[A-Za-z0-9_\-]{24,}|glsa_[A-Za-z0-9]{32}_[0-9a-fA-F]{8}|glc_[A-Za-z0-9+/=]{32,}"
    r"|NRAK-[A-Z0-9]{27}|PMAK-[0-9a-f]{24}-[0-9a-f]{34}|dp\.pt\.[A-Za-z0-9]{40,}"
    r"|dapi[a-f0-9]{32}(?:-\d)?|sbp_[a-f0-9]{40}|gsk_[A-Za-z0-9]{48,}|r8_[A-Za-z0-9]{37}"
    r"|pplx-[A-Za-z0-9]{48}|key-[0-9a-f]{32}|sntrys_[A-Za-z0-9+/=_]{50,}"
    r"|https://discord(?:app)?\.com/api/webhooks/\d+/[\w\-]+"
    r")(?![\w-])"
)
# Shapes whose literal part is in the middle: Mailchimp ("<32 hex>-us6"), Telegram bots
# ("123456789:AA..."), Azure AD client secrets ("abc8Q~...").
_MIDDLE_KEYS = (
    ("-us", re.compile(r"(?<![\w-])[0-9a-f]{32}-us\d{1,2}(?![\w-])"), 32),
    (":AA", re.compile(r"(?<![\w-])\d{8,10}:AA[0-9A-Za-z_\-]{33}(?![\w-])"), 10),
    ("Q~", re.compile(r"(?<![\w-])[A-Za-z0-9_.\-]{3}\dQ~[A-Za-z0-9_.~\-]{31,34}(?![\w-])"), 4),
)


# The prefixes and infixes of the shapes above, lower-cased.
KEY_MARKERS = (
    "sk-", "sk_", "rk_", "akia", "asia", "agpa", "aida", "aroa", "anpa", "ghp_", "gho_", "ghu_",
    "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "aiza", "whsec_", "hf_", "npm_", "sg.",
    "hooks.slack", "ya29.", "1//0", "gocspx-", "shp", "_v1_", "atatt3", "pypi-",
    "sq0", "lin_api_", "ntn_", "secret_", "hvs.", "hvb.", "glsa_", "glc_", "nrak-", "pmak-",
    "dp.pt.", "dapi", "sbp_", "gsk_", "r8_", "pplx-", "key-", "-us", ":aa", "sntrys_", "q~",
    "https://discord",
)  # fmt: skip
# Key prefixes, lower-cased; webhook URLs and the shapes with a marker inside are found apart.
_INFIXES = ("-us", ":aa", "q~", "_v1_", "hooks.slack", "https://discord")
_PREFIXES = (*(t for t in KEY_MARKERS if t not in _INFIXES), "dop_v1_", "dor_v1_", "doo_v1_")
# A run of 15 or more characters that keys are made of: every key starts one (a Telegram token
# is cut at its ":").
_LONG = re.compile(r"[A-Za-z0-9](?<![\w./+~-][A-Za-z0-9])[\w./+~-]{14}[\w./+~-]*")


# ``api_keys`` runs on every text: it finds its own candidates faster than the ``Detector``
# could test for each of the markers.
API_KEY_TRIGGERS: tuple[str, ...] = ()


def api_keys(text: str) -> Iterator[Span]:
    """Tokens of known shapes, looked for only in long runs of key characters.

    >>> text = "use sk-proj-xluWx2MqtYygX0bKRVitGoPZ, not sk-this-is-not-a-key-at-all"
    >>> [text[s:e] for s, e in api_keys(text)]
    ['sk-proj-xluWx2MqtYygX0bKRVitGoPZ']
    """
    words = long_words(text, 15)  # every key is one, or in one
    if not words:
        return
    found: set[Span] = set()
    for webhook in ("https://hooks.slack", "https://discord"):
        at = text.find(webhook)
        while at != -1:
            if (m := _API_KEY.match(text, at)) is not None:
                found.add(m.span())
            at = text.find(webhook, at + 1)
    for token in (t for s, e in words for t in _LONG.finditer(text, s, e)):
        start, low = token.start(), token.group().lower()
        m = None
        if low.startswith(_PREFIXES):
            m = _API_KEY.match(text, start)
        if m is not None:
            found.add(m.span())
            continue
        for hint, rx, before in _MIDDLE_KEYS:
            if hint.lower() in low or (hint == ":AA" and low.startswith("aa")):
                endpos = min(len(text), token.end() + 1)
                m = rx.search(text, max(0, start - before - 1), endpos)
                if m is not None:
                    found.add(m.span())
    for start, end in sorted(found):
        value = text[start:end]
        # Real keys are random: letters and digits. "sk-this-is-not-a-key-at-all" is prose.
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            yield start, end


_PEM_LABEL = r"(?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?(?:-----| ----)"
# PEM and OpenSSH ("-----BEGIN ..."), and SSH2/SECSH ("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----")
_PEM_BEGIN = re.compile(rf"-{{4,5}} ?BEGIN {_PEM_LABEL}")
_PEM_END = re.compile(rf"-{{4,5}} ?END {_PEM_LABEL}")
# The end of a key whose BEGIN line is in the previous chunk: its base64 lines, then END.
_PEM_TAIL = re.compile(
    rf"(?m)(?:^[ \t]*[A-Za-z0-9+/=]{{16,}}\r?\n)*[ \t]*-{{4,5}} ?END {_PEM_LABEL}"
)


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


_ARN = re.compile(r"\barn:aws[\w-]*:[^\s]*$")


def credentials(text: str) -> Iterator[Span]:
    for m in _CREDENTIAL.finditer(text):
        if _ARN.search(text, max(0, m.start() - 80), m.start()):
            continue  # "arn:aws:secretsmanager:...:secret:prod/db" names a secret
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
    for rx, hint in ((_BEARER, "Bearer"), (_URL_PASSWORD, "://")):
        for m in rx.finditer(text) if hint in text else ():
            if _looks_secret(m.group("bare"), quoted=True):
                yield m.span("bare")


# ---------------------------------------------------------------------------- cloud secrets
# Secrets with no prefix of their own, recognised by the words around them.
# (Class first, then a lookbehind on what precedes it: the engine rejects a position inside a
# word at once instead of reading the rest of the word.)
_AWS_SECRET = re.compile(
    r"[A-Za-z0-9/+](?<![A-Za-z0-9/+][A-Za-z0-9/+])[A-Za-z0-9/+]{39}(?![A-Za-z0-9/+=])"
)
_AWS_CONTEXT = re.compile(r"(?i)aws|secret[\s_\-]*access|secretaccesskey|secret[\s_\-]*key")
_AZURE_KEY = re.compile(
    r"(?i:AccountKey|SharedAccessKey|SharedSecret)\s*=\s*(?P<v>[A-Za-z0-9+/]{30,}={0,2})"
    r"|[?&]sig=(?P<sig>[A-Za-z0-9%+/]{30,}(?:%3D|=){0,2})"
)
_HEX_SID = re.compile(r"[AS](?<![\w-][AS])[CK](?<=AC|SK)[0-9a-f]{32}(?![\w-])")
# Twilio auth tokens, Datadog API (32 hex) and application keys (40 hex), Azure OpenAI keys
_HEX_KEY = re.compile(r"[0-9a-f](?<![\w-][0-9a-f])[0-9a-f]{31}(?:[0-9a-f]{8})?(?![\w-])")
_HEX_KEY_WORDS = (
    "twilio", "auth", "datadog", "dd_", "dd-", "dd ", "azure", "api", "app", "subscription",
    "ocp-apim",
)  # fmt: skip
_HEX_KEY_CONTEXT = re.compile(
    r"(?i)(?:twilio|auth[\s_\-]*token|datadog|dd[\s_\-]*(?:api|app)|azure[\s_\-]*openai|"
    r"api[\s_\-]*key|app(?:lication)?[\s_\-]*key|subscription[\s_\-]*key|ocp-apim)"
)
# ``cloud_secrets`` tests for its own words, after a cheaper test for a long word.
CLOUD_TRIGGERS: tuple[str, ...] = ()


def _mixed(value: str) -> bool:
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )


def cloud_secrets(text: str) -> Iterator[Span]:
    """Cloud and SaaS secrets that only their neighbours identify.

    AWS secret access keys (40 characters of base64 after "aws" or "secret access key"), Azure
    storage and Service Bus keys (``AccountKey=``, ``SharedAccessKey=``, SAS ``sig=``), Twilio
    account and key ids (``AC``/``SK`` and 32 hex digits), and 32- or 40-digit hex keys after
    "twilio", "auth token", "datadog", "DD_API_KEY", "Azure OpenAI", "api key"...

    >>> text = "aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    >>> [text[s:e] for s, e in cloud_secrets(text)]
    ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']
    """
    if not long_words(text, 30):
        return  # each of these secrets is 30 characters or more
    low = lower(text)
    for m in near(text, low, ("aws", "secret"), 80, _AWS_SECRET, 40):
        # a git SHA-1 is 40 hex digits: lower case and digits only
        if _mixed(m.group()) and _AWS_CONTEXT.search(text, max(0, m.start() - 80), m.start()):
            yield m.span()
    if any(w in low for w in ("accountkey", "sharedaccesskey", "sharedsecret", "sig=")):
        for m in _AZURE_KEY.finditer(text):
            yield m.span("v") if m.group("v") is not None else m.span("sig")
    if "sid" in low or "twilio" in low:
        yield from (m.span() for m in _HEX_SID.finditer(text))
    for m in near(text, low, _HEX_KEY_WORDS, 60, _HEX_KEY, 40):
        line_start = text.rfind("\n", 0, m.start()) + 1
        before = text[max(line_start, m.start() - 60) : m.start()]
        if _HEX_KEY_CONTEXT.search(before) and not _NOT_SECRET_CONTEXT.search(before):
            yield m.span()


# ---------------------------------------------------------------------------- entropy
_KEYISH = re.compile(
    r"(?i)(?<![a-z])(?:api[\s_\-]?keys?|apikeys?|access[\s_\-]?keys?|secrets?|tokens?|auth\w*|"
    r"credentials?|creds|passwords?|passwd|passphrase|pwd|keys?)(?![a-z])"
)
# What a checksum, a fingerprint, a commit or a public key is called: not a secret.
_NOT_SECRET_CONTEXT = re.compile(
    r"(?i)fingerprint|checksum|hash|digest|sha-?\d*|md5|commit|revision|rev\b|uuid|guid|"
    r"public|pubkey|ssh-(?:rsa|dss|ed25519)|ecdsa-sha2|request[\s_\-]*id|trace[\s_\-]*id|"
    r"correlation|etag|integrity|nonce"
)
# "=" only as base64 padding at the end: "token=abc..." is a key, "=" and a value.
_TOKEN = re.compile(r"(?<![\w+/.~\-])[A-Za-z0-9+/_\-.~]{20,}={0,2}")
_TOKEN_HEAD = re.compile(
    r"[A-Za-z0-9+/_\-.~](?<![\w+/.~\-][A-Za-z0-9+/_\-.~])[A-Za-z0-9+/_\-.~]{19}"
)
_HEX_ONLY = re.compile(
    r"[0-9a-fA-F]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}"
)
_WORDY = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{4,}")
_WORD_SEGMENT = re.compile(r"[a-z]{4,}|[A-Z]{4,}|[A-Z][a-z]{3,}")
_BREAK = re.compile(r"</?[A-Za-z]|[.!?][ \t]")
ENTROPY_TRIGGERS = ("key", "token", "secret", "auth", "cred", "pass", "pwd")


def _entropy(value: str) -> float:
    """Shannon entropy of ``value``'s characters, in bits per character."""
    n = len(value)
    return -sum(k / n * math.log2(k / n) for k in Counter(value).values())


def high_entropy(value: str) -> bool:
    """Whether ``value`` looks random: long, mixed letters and digits, no words, high entropy.

    Hex strings (git SHAs, checksums) and UUIDs are left out: they are ids far more often than
    secrets; the hex keys of known services are found by ``cloud_secrets``.

    >>> high_entropy("q8Zt3LmN0vXc7RbWy2KdPf9s"), high_entropy("getAccessTokenFromCache2")
    (True, False)
    >>> high_entropy("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"), high_entropy("x" * 30)
    (False, False)
    """
    core = value.rstrip("=.")
    if len(core) < 20 or _HEX_ONLY.fullmatch(core):
        return False
    digits = sum(c.isdigit() for c in core)
    letters = sum(c.isalpha() for c in core)
    if digits < 2 or letters < 4 or (not any(c.isupper() for c in core) and digits < 4):
        return False
    if "://" in core or core.startswith(("/", "./", "sha256-", "sha384-", "sha512-")):
        return False
    if sum(len(w) for w in _WORDY.findall(core)) > 0.4 * len(core):
        return False  # an identifier or a path: "AWS_SECRET_ACCESS_KEY_2", "com.acme.app.v2"
    if any(_WORD_SEGMENT.fullmatch(s) for s in re.split(r"[-_./]", core)):
        return False  # a word between separators: "terminal-360487072-r2", "build_2024_x86"
    return _entropy(core) >= min(4.2, math.log2(len(core)) - 0.75)


def entropy_tokens(text: str) -> Iterator[Span]:
    """Random-looking tokens of 20+ characters just after a key-ish word on the same line.

    >>> text = "the deploy token is q8Zt3LmN0vXc7RbWy2KdPf9s; commit key 9f86d081884c7d659a2f"
    >>> [text[s:e] for s, e in entropy_tokens(text)]
    ['q8Zt3LmN0vXc7RbWy2KdPf9s']
    """
    if not long_words(text, 20):
        return
    for head in near(text, lower(text), ENTROPY_TRIGGERS, 48, _TOKEN_HEAD, 20):
        m = _TOKEN.match(text, head.start())
        if m is None:
            continue
        value = m.group().rstrip(".")
        if not high_entropy(value):
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        before = text[max(line_start, m.start() - 48) : m.start()]
        words = list(_KEYISH.finditer(before))
        # The key word must lead to the value: no markup or sentence end between them
        # ("the keys.</text><text class=...").
        if (
            words
            and not _NOT_SECRET_CONTEXT.search(before)
            and not _BREAK.search(before, words[-1].end())
        ):
            yield m.start(), m.start() + len(value)


# ---------------------------------------------------------------------------- PuTTY keys
# A PuTTY key file: its header to its "Private-MAC" line (or the end of the text); and a chunk
# holding only its private lines.
_PUTTY = re.compile(
    r"PuTTY-User-Key-File-\d+:[^\n]*(?:\n(?!Private-MAC:)[^\n]*)*(?:\nPrivate-MAC:[^\n]*)?"
)
_PUTTY_PRIVATE = re.compile(
    r"Private-Lines:[ \t]*\d+[ \t]*\r?\n(?:[ \t]*[A-Za-z0-9+/=]{16,}\r?\n?)+"
)
PUTTY_TRIGGERS = ("putty-user-key-file", "private-lines")


def putty_keys(text: str) -> Iterator[Span]:
    """PuTTY private key files (``.ppk``), whole or in part."""
    found = [m.span() for m in _PUTTY.finditer(text)]
    yield from found
    for m in _PUTTY_PRIVATE.finditer(text):
        if not any(s <= m.start() < e for s, e in found):
            yield m.span()


# ---------------------------------------------------------------------------- PINs
# "PIN 4821", "PIN: 0000", "pin code is 123456", "my PIN is 4 8 2 1", "CVV 123". A lower-case
# "pin" needs "code", "number", "is" or ":" after it: "pin 13 of the header" is hardware.
_PIN = re.compile(
    r"(?:\b(?:PIN|Pin|PUK)\b|(?i:\bpin(?=[\s\-]*(?:code|number|no\b|#|[:=]|is\b))|\bpasscode\b"
    r"|\b(?:my|your|his|her|our|new|old|default|card|debit|atm|sim|bank)\s+pin\b"
    r"|\bunlock\s+code\b))"
    rf"(?i:[\s\-]*(?:code|number)\b)?{GAP}(?P<v>\d(?:[ \-]?\d){{3,7}})(?![\w\-]|[ \-]\d)"
    r"|(?i:\b(?:cvv2?|cvc2?|cid|card\s+(?:security|verification)\s+(?:code|value))\b)"
    rf"{GAP}(?P<cvv>\d{{3,4}})(?![\w\-]|[ \-]\d)"
)
PIN_TRIGGERS = (
    "pin",
    "puk",
    "passcode",
    "unlock code",
    "cvv",
    "cvc",
    "cid",
    "card security",
    "card verification",
)


def pins(text: str) -> Iterator[Span]:
    """PINs, passcodes and card security codes after their label.

    >>> text = "PIN: 0000; my pin is 4 8 2 1; CVV 123; pin 13 of the header"
    >>> [text[s:e] for s, e in pins(text)]
    ['0000', '4 8 2 1', '123']
    """
    # The label starts at most 8 characters before its trigger ("debit pin") and the value
    # ends within 60 characters of it.
    for m in near(text, lower(text), PIN_TRIGGERS, 0, _PIN, 60, back=8):
        yield m.span("v") if m.group("v") is not None else m.span("cvv")
