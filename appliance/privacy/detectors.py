"""Find personal and secret data in text: where it is and what kind, never what it says.

``Detector`` runs the finders of ``numbers`` (cards, IBANs, national ids), ``contact`` (e-mail,
also obfuscated, and phone numbers), ``credentials`` (API keys and cloud secrets, private keys,
JWTs, passwords, random tokens next to key words, PINs), ``network`` (IP and MAC addresses),
``documents`` (driver's licence and passport numbers) and ``records`` (dates of birth, medical
record numbers), each under a detector name that becomes a verdict reason and a placeholder
label, plus ``term`` and ``pattern``: the user's words and regular expressions from
``PrivacySettings``. Where findings overlap, the most specific name wins (an IBAN is not also a
card, a key in ``API_KEY=...`` is an ``api_key``, not a ``credential``).

Left out here: what each finder catches or misses (its module says), names, street addresses
and free-text health facts (no reliable detector without a model). Findings carry offsets only;
the matched value is read from the text by whoever needs it (``redact``), so nothing that is
logged can leak it. A ``Detector`` holds no state between calls: one can serve several threads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from appliance.config import PrivacySettings
from appliance.errors import ConfigError
from appliance.privacy.base import Finder
from appliance.privacy.contact import PhoneFinder, emails, obfuscated_emails
from appliance.privacy.credentials import (
    API_KEY_TRIGGERS,
    CLOUD_TRIGGERS,
    CREDENTIAL_TRIGGERS,
    ENTROPY_TRIGGERS,
    PIN_TRIGGERS,
    PUTTY_TRIGGERS,
    api_keys,
    cloud_secrets,
    credentials,
    entropy_tokens,
    jwts,
    pins,
    private_keys,
    putty_keys,
)
from appliance.privacy.documents import (
    LICENSE_TRIGGERS,
    PASSPORT_TRIGGERS,
    drivers_licenses,
    passports,
)
from appliance.privacy.network import ip_addresses, mac_addresses
from appliance.privacy.normalize import normalize
from appliance.privacy.numbers import CONTEXT_IDS, cards, codici_fiscali, ibans, ssns_dashed
from appliance.privacy.records import DOB_TRIGGERS, MRN_TRIGGERS, dobs, mrns


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected value: ``text[start:end]`` is it; the value itself is never stored."""

    detector: str
    start: int
    end: int


_DIGIT = re.compile(r"\d")


def _finder(rx: re.Pattern[str]) -> Finder:
    return lambda t: (m.span() for m in rx.finditer(t) if m.end() > m.start())


# Most specific first: where findings overlap, the later name gives way.
_PRECEDENCE = (
    "private_key", "jwt", "api_key", "iban", "it_codice_fiscale",
    *(c.name for c in CONTEXT_IDS), "card", "email", "dob", "mrn", "passport",
    "drivers_license", "pin", "ip_address", "mac_address", "credential", "phone",
)  # fmt: skip
_RANK = {name: i for i, name in enumerate(_PRECEDENCE)}


@dataclass(frozen=True)
class _Check:
    """One detector: its name, its finder, and when it is worth running at all."""

    name: str
    find: Finder
    triggers: tuple[str, ...] = ()
    """Run only if the lower-cased text holds one of these (empty: always)."""
    digits: bool = False
    """Run only if the text holds a digit."""


class Detector:
    """All detectors, compiled once; ``scan(text)`` lists what it finds, in text order.

    >>> d = Detector.from_settings(PrivacySettings(terms=["Project Falcon"]))
    >>> [f.detector for f in d.scan("mail ana@corp.io about project falcon")]
    ['email', 'term']
    """

    def __init__(
        self,
        terms: list[str] | None = None,
        patterns: list[str] | None = None,
        phone_regions: tuple[str, ...] = ("US",),
    ) -> None:
        unknown = [r for r in phone_regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ConfigError(f"unknown phone region(s): {', '.join(unknown)}")
        self._phones = PhoneFinder(tuple(phone_regions))
        self._checks: list[_Check] = [
            _Check("card", cards, digits=True),
            _Check("iban", ibans, digits=True),
            _Check("us_ssn", ssns_dashed, digits=True),
            *(_Check(c.name, c.finder(), c.triggers, True) for c in CONTEXT_IDS),
            _Check("it_codice_fiscale", codici_fiscali, digits=True),
            _Check("dob", dobs, DOB_TRIGGERS, True),
            _Check("mrn", mrns, MRN_TRIGGERS, True),
            _Check("passport", passports, PASSPORT_TRIGGERS, True),
            _Check("drivers_license", drivers_licenses, LICENSE_TRIGGERS, True),
            _Check("email", emails, ("@",)),
            _Check("email", obfuscated_emails, (" at ", "at]", "at)", "at}", "at>", "@")),
            _Check("api_key", api_keys, API_KEY_TRIGGERS),
            _Check("api_key", cloud_secrets, CLOUD_TRIGGERS),
            _Check("private_key", private_keys, ("private key",)),
            _Check("private_key", putty_keys, PUTTY_TRIGGERS),
            _Check("jwt", jwts, ("eyj",)),
            _Check("credential", credentials, CREDENTIAL_TRIGGERS),
            _Check("credential", entropy_tokens, ENTROPY_TRIGGERS),
            _Check("pin", pins, PIN_TRIGGERS, True),
            _Check("ip_address", ip_addresses, (".", ":"), True),
            _Check("mac_address", mac_addresses, (":", "-", "."), True),
        ]
        words = sorted({t.strip() for t in terms or [] if t.strip()}, key=len, reverse=True)
        if words:
            alternation = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
            self._checks.append(
                _Check("term", _finder(re.compile(rf"(?i)(?<!\w)(?:{alternation})(?!\w)")))
            )
        for i, pattern in enumerate(patterns or []):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"privacy.patterns[{i}] is not a valid regular expression: {exc}",
                    hint="patterns use Python's re syntax; escape literal dots and brackets",
                ) from None
            self._checks.append(_Check("pattern", _finder(compiled)))

    @property
    def names(self) -> list[str]:
        """Every name ``scan`` may report (``term`` and ``pattern`` only when configured)."""
        return list(dict.fromkeys([c.name for c in self._checks] + ["phone"]))

    @classmethod
    def from_settings(
        cls, settings: PrivacySettings, phone_regions: tuple[str, ...] | None = None
    ) -> Detector:
        regions = phone_regions or tuple(r.upper() for r in settings.phone_regions)
        return cls(settings.terms, settings.patterns, regions)

    def scan(self, text: str) -> list[Finding]:
        """What the detectors find in ``text``, as spans of ``text`` itself.

        Detection runs on the folded text (``normalize``: Unicode spaces, dashes, digits,
        full-width forms and look-alike letters made plain, invisible characters dropped);
        each finding is mapped back, so it covers the characters as written.
        """
        folded = normalize(text)
        findings = self._scan(folded.text)
        if folded.origins is None:
            return findings
        mapped = {Finding(f.detector, *folded.original(f.start, f.end)) for f in findings}
        return sorted(mapped, key=lambda f: (f.start, f.end, f.detector))

    def _scan(self, text: str) -> list[Finding]:
        found: set[Finding] = set()
        digits = _DIGIT.search(text) is not None
        lowered = text.lower()
        for check in self._checks:
            if (check.digits and not digits) or (
                check.triggers and not any(t in lowered for t in check.triggers)
            ):
                continue
            found.update(Finding(check.name, s, e) for s, e in check.find(text))
        if digits:  # last, to skip the numbers other detectors have claimed
            taken = [(f.start, f.end) for f in found if f.detector not in ("term", "pattern")]
            found.update(Finding("phone", s, e) for s, e in self._phones(text, taken))
        # One value may match several detectors (a card-like run inside an IBAN, a key in a
        # "password=" line): keep the most specific name. User terms and patterns always stay.
        kept: list[Finding] = []
        for f in sorted(found, key=lambda f: _RANK.get(f.detector, -1)):
            if f.detector in _RANK and any(
                g.detector in _RANK
                and g.detector != f.detector
                and f.start < g.end
                and g.start < f.end
                for g in kept
            ):
                continue
            kept.append(f)
        return sorted(kept, key=lambda f: (f.start, f.end, f.detector))
