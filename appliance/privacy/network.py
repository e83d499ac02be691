"""Addresses of machines and network cards: ``ip_address`` and ``mac_address``.

``ip_address`` is an IPv4 address (dotted quad, optionally with ``:port`` or ``/prefix``) or an
IPv6 address (full, ``::``-compressed, with a zone or an embedded IPv4 part), public or private,
each validated by ``ipaddress``. ``mac_address`` is six hex pairs joined by ``:`` or ``-``, or
three groups of four joined by ``.`` (Cisco).

Precision, decided here:

- A dotted quad right after a word such as "version", "v", "release", "build", "section", "§",
  "chapter", "clause", "figure", "table", "step" or "rule" is a version or a section number,
  not an address, unless an address word ("IP", "host", "server", "gateway", "ping"...) is near.
- A quad of single digits ("1.2.3.4", "8.8.8.8") needs an address word, a port or a prefix:
  alone it is as often a section or version number.
- Not personal: the unspecified and broadcast addresses (``0.0.0.0``, ``::``,
  ``255.255.255.255``), loopback (``127.0.0.1``, ``::1``) and netmasks (``255.255.255.0``); a
  MAC of all zeros or all ``ff``; a MAC of digits only ("04-11-23-35-42-47") unless a word
  such as "MAC", "hwaddr" or "ether" is near.

Leaves out host names, URLs, IPv4 in other notations (hex, one integer), and an IPv6 address
with fewer than three groups ("fe80::1").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from appliance.privacy.base import Span

# Addresses are looked for only where a cheap hint is (".1.2." for IPv4, ":ab:" or "::" for
# IPv6, ":ab:", "-ab-" or ".abcd." for a MAC): a regex that starts with a literal character is
# skipped along by the engine, one that starts with a lookbehind is tried at every position.
_IPV4_HINT = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.")
_IPV4 = re.compile(
    r"(?<![\w.])(?P<v>[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})"
    r"(?P<tail>:[0-9]{1,5}(?![0-9])|/[0-9]{1,2}(?![0-9]))?(?![\w]|\.[0-9])"
)
_ADDRESS_WORD = re.compile(
    r"(?i)(?<![a-z])(?:ip|ipv4|ipv6|ip\s+address|address(?:es)?|addr|host(?:name)?s?|server|"
    r"gateway|gw|dns|nameserver|subnet|netmask|router|route|ping|ssh|telnet|rdp|vpn|proxy|"
    r"firewall|dhcp|lan|wan|nat|client|peer|endpoint|inet|src|dst|source|destination|origin|"
    r"login|logged\s+in|connected|connection|from|remote|whitelist|allowlist|blocklist|ban(?:ned)?)"
    r"(?![a-z])"
)
_NOT_ADDRESS_WORD = re.compile(
    r"(?i)(?<![a-z])(?:v|ver|version|versions|release|rel|build|revision|rev|section|sec|sect|"
    r"§|chapter|ch|clause|para(?:graph)?|article|art|figure|fig|table|tab|step|item|rule|"
    r"appendix|annex|part|note|eq|equation|page|p|pp|oid|snmp|isbn|doi|patch|firmware|fw|sdk|"
    r"api|python|node|java|release\s+notes)\.?\s*$"
)


def _ipv4_ok(value: str, text: str, start: int, tail: str | None) -> bool:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        return False
    if address.is_unspecified or address.is_loopback or value == "255.255.255.255":
        return False
    octets = [int(o) for o in value.split(".")]
    host_bits = ~int(address) & 0xFFFFFFFF
    if octets[0] == 255 and host_bits & (host_bits + 1) == 0:
        return False  # a netmask: 255.255.255.0, 255.255.240.0
    before = text[max(0, start - 40) : start]
    near = _ADDRESS_WORD.search(before) is not None or tail is not None
    if _NOT_ADDRESS_WORD.search(before[-16:]) and not near:
        return False
    return near or any(o >= 10 for o in octets)


# Hex groups and colons; at least two colons. Validation is ipaddress's.
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6 = re.compile(
    r"(?<![\w:.])(?P<v>(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})"
    r"(?:%[\w.]+)?)(?P<tail>/\d{1,3}(?!\d))?(?![\w:])"
)


def _ipv6_ok(value: str) -> bool:
    groups = [g for g in re.split(r"[:.]", value.split("%")[0]) if g]
    # "12:30:45", "a::b" and C++'s "std::" are not addresses: at least three groups, one of
    # them long or with a letter, and either all eight or a "::".
    if len(groups) < 3 or not ("::" in value or value.count(":") == 7 or "." in value):
        return False
    if sum(len(g) >= 2 for g in groups) < 2 or not any(len(g) >= 3 for g in groups):
        return False
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return False
    mapped = address.ipv4_mapped
    return not (address.is_unspecified or address.is_loopback or (mapped and mapped.is_loopback))


def ip_addresses(text: str) -> Iterator[Span]:
    """IPv4 and IPv6 addresses, public and private.

    >>> text = "ssh to 10.0.4.17:22 or fe80::1ff:fe23:4567:890a; see section 1.2.3.4, v2.10.3.1"
    >>> [text[s:e] for s, e in ip_addresses(text)]
    ['fe80::1ff:fe23:4567:890a', '10.0.4.17:22']
    """
    v6: list[Span] = []
    for hint in _IPV6_HINT.finditer(text):
        if v6 and hint.start() < v6[-1][1]:
            continue
        start = _back(text, hint.start(), "0123456789abcdefABCDEF:", 40)
        m = _IPV6.match(text, start)
        if m is not None and _ipv6_ok(m.group("v")):
            v6.append(m.span())
    yield from v6
    end = 0
    for hint in _IPV4_HINT.finditer(text):
        start = _back(text, hint.start(), "0123456789", 3)
        if start < end:
            continue
        m = _IPV4.match(text, start)
        if m is None:
            continue
        end = m.end()
        if _ipv4_ok(m.group("v"), text, m.start(), m.group("tail")) and not any(
            s <= m.start() < e for s, e in v6
        ):
            yield m.span()


def _back(text: str, at: int, chars: str, limit: int) -> int:
    """Where a run of ``chars`` that ends at ``at`` starts (looking back ``limit`` at most)."""
    start = at
    while start > 0 and at - start < limit and text[start - 1] in chars:
        start -= 1
    return start


_MAC_HINTS = (
    (re.compile(r":[0-9A-Fa-f]{2}:"), 2),
    (re.compile(r"-[0-9A-Fa-f]{2}-"), 2),
    (re.compile(r"\.[0-9A-Fa-f]{4}\."), 4),
)
_MAC = re.compile(
    r"(?<![\w:.-])(?:(?P<v>[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\2[0-9A-Fa-f]{2}){4})"
    r"|(?P<c>[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}))(?![\w:-]|\.\w)"
)
_MAC_WORD = re.compile(r"(?i)(?<![a-z])(?:mac|hw|hwaddr|ether|bssid|wi-?fi|nic)(?![a-z])")


def mac_addresses(text: str) -> Iterator[Span]:
    """MAC addresses in colon, dash or dot (Cisco) form.

    >>> text = "ether 3c:22:fb:91:0a:7e; hwaddr 3C-22-FB-91-0A-7E; nic 3c22.fb91.0a7e"
    >>> [text[s:e] for s, e in mac_addresses(text)]
    ['3c:22:fb:91:0a:7e', '3C-22-FB-91-0A-7E', '3c22.fb91.0a7e']
    """
    found: list[re.Match[str]] = []
    for hint_rx, width in _MAC_HINTS:
        end = 0
        for hint in hint_rx.finditer(text):
            start = hint.start() - width
            if start >= end and start >= 0 and (m := _MAC.match(text, start)) is not None:
                found.append(m)
                end = m.end()
    for m in sorted(found, key=lambda m: m.start()):
        value = m.group().lower()
        hexdigits = re.sub(r"[^0-9a-f]", "", value)
        if set(hexdigits) <= {"0"} or set(hexdigits) <= {"f"}:
            continue
        # "2024.0312.1234" or "04-11-23-35-42-47" (lottery numbers) are more often ids than a
        # MAC, which has a letter in 99.6% of cases
        if hexdigits.isdigit() and not _MAC_WORD.search(text, max(0, m.start() - 40), m.start()):
            continue
        yield m.span()
