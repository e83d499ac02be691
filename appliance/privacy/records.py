"""Personal record facts found by their label: ``dob`` and ``mrn``.

``dob`` is a date after "DOB", "date of birth", "born"...; ``mrn`` an id after "MRN",
"medical record number", "patient ID"...

Leaves out dates and ids with no such label before them, and free-text health facts (no
reliable detector without a model).
"""

from __future__ import annotations

import re

from appliance.privacy.base import GAP, context_finder

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})(?!\d)|\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}(?!\d)"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?[\s\-/]+(?:of\s+)?{_MONTH}\.?,?[\s\-/]+\d{{4}}"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
)
_DOB = re.compile(
    r"(?i:\bD\.?O\.?B\b\.?|\bdate\s+of\s+birth\b|\bbirth\s*date\b|\bborn\b|\bgeb(?:oren|\.))"
    rf"{GAP}(?P<v>(?i:{_DATE}))"
)
DOB_TRIGGERS = ("dob", "d.o.b", "birth", "born", "geb")
MRN_TRIGGERS = ("mrn", "medical record", "patient", "chart", "hospital")
_MRN = re.compile(
    r"(?i:\bMRN\b|\bmedical\s+record(?:\s+(?:number|no\b\.?|num\b|#))?|"
    r"\bpatient\s+(?:id|identifier|number|no\b\.?|#)|\bchart\s+(?:number|no\b\.?|#)|"
    r"\bhospital\s+(?:number|no\b\.?))"
    rf"{GAP}(?P<v>(?:[A-Z]{{1,3}}-?)?\d{{5,12}})(?![\w-])"
)

dobs = context_finder(_DOB)
mrns = context_finder(_MRN)
