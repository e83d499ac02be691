"""Write the sample PDFs and DOCX files for the fictional Saltmarsh Lane Clinic into samples/.

Run: ``.venv/bin/python scripts/make_samples.py``. Everything here is invented; the personal
data (names, phone numbers in Ofcom's drama range, the 4111... test card, the documentation
IBAN) belongs to no one. The text, Markdown and HTML samples are hand-written files beside
these. PDFs use fpdf2's core fonts, so text stays within latin-1; each page is laid out
explicitly so that facts land on known pages (the eval questions cite them).
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docx
from fpdf import FPDF

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CLINIC = "Saltmarsh Lane Clinic Ltd"
CREATED = datetime(2024, 11, 15, 9, 0, tzinfo=timezone.utc)

# A page is a list of blocks: ("h1" | "h2" | "p", text) or ("table", rows).
Block = tuple[str, object]

LEASE: list[list[Block]] = [
    [
        ("h1", "Lease Agreement - Unit 3, Calder Wharf"),
        (
            "p",
            "Reference: CW-LEASE-2024-003. This lease is made on 12 February 2024 between "
            "Calder Wharf Properties Ltd (the Landlord) and Saltmarsh Lane Clinic Ltd, company "
            "number 11873402 (the Tenant).",
        ),
        ("h2", "1. Premises"),
        (
            "p",
            "The premises are Unit 3, Calder Wharf, 14 Saltmarsh Lane, London, comprising the "
            "ground floor treatment rooms and the basement hydrotherapy suite, with a net "
            "internal area of 412 square metres, together with the right to use 6 parking "
            "spaces on level -1 of the Calder Wharf car park.",
        ),
        ("h2", "2. Term"),
        (
            "p",
            "The term is ten years, commencing on 1 March 2024 and ending on 28 February 2034. "
            "The Tenant may occupy the premises for fitting out from 15 February 2024 without "
            "paying rent for that period.",
        ),
    ],
    [
        ("h2", "3. Rent and deposit"),
        (
            "p",
            "The annual rent is GBP 58,500 (£58,500), payable quarterly in advance on the usual "
            "quarter days in instalments of £14,625. The first payment is due on 1 March 2024.",
        ),
        (
            "p",
            "Rent is paid by bank transfer to the Landlord's account, IBAN "
            "GB82WEST12345698765432, quoting reference CW-LEASE-2024-003.",
        ),
        (
            "p",
            "On signing, the Tenant pays a security deposit of £29,250, equal to six months' "
            "rent, held in a separate deposit account and returned within 28 days after the "
            "end of the term, less any sums properly owed to the Landlord.",
        ),
        ("h2", "4. Rent review"),
        (
            "p",
            "The rent will be reviewed upwards only on 1 March 2029 to the open market rent, "
            "assessed by an independent surveyor if the parties do not agree within 3 months.",
        ),
        ("h2", "5. Service charge"),
        (
            "p",
            "The Tenant pays a fair share of the cost of the common parts, capped at £9,800 "
            "per year for the first five years of the term.",
        ),
    ],
    [
        ("h2", "6. Use and repair"),
        (
            "p",
            "The premises may be used only as a physiotherapy and sports medicine clinic with "
            "ancillary offices. The Tenant keeps the interior in good repair; the Landlord "
            "keeps the structure, roof and the shared plant room in repair.",
        ),
        ("h2", "7. Insurance"),
        (
            "p",
            "The Landlord insures the building for its full reinstatement value. The Tenant "
            "holds public liability insurance of at least £5,000,000 per claim and shows the "
            "policy to the Landlord each year.",
        ),
        ("h2", "8. Break clause"),
        (
            "p",
            "The Tenant may end this lease on 1 March 2029 by giving the Landlord not less than "
            "six months' written notice, provided the rent is paid up to date.",
        ),
        ("h2", "9. Alterations"),
        (
            "p",
            "Structural alterations need the Landlord's written consent. Non-structural "
            "partitioning of treatment rooms does not.",
        ),
    ],
    [
        ("h2", "10. Notices and contacts"),
        (
            "p",
            "Notices to the Landlord go to its property manager, Desmond Achterberg, by e-mail "
            "to d.achterberg@calderwharf.example or by phone on +44 20 7946 0318. Notices to "
            "the Tenant go to its director, Dr Imogen Farrow, at "
            "imogen.farrow@saltmarshclinic.example, phone +44 20 7946 0127.",
        ),
        ("h2", "Signatures"),
        (
            "p",
            "Signed for Calder Wharf Properties Ltd by Desmond Achterberg, Property Manager, "
            "on 12 February 2024.",
        ),
        (
            "p",
            "Signed for Saltmarsh Lane Clinic Ltd by Dr Imogen Farrow, Director, on "
            "12 February 2024.",
        ),
    ],
]

HANDBOOK: list[list[Block]] = [
    [
        ("h1", "Employee Handbook (edition 4, January 2025)"),
        (
            "p",
            f"This handbook applies to everyone employed by {CLINIC}. It summarises our "
            "policies; the full policy documents are on the staff intranet. Questions go to "
            "the HR team at hr@saltmarshclinic.example.",
        ),
        ("h2", "Working hours"),
        (
            "p",
            "The standard working week is 37.5 hours. Clinical staff work rostered shifts "
            "between 07:30 and 20:00; rotas are published four weeks in advance.",
        ),
        ("h2", "Probation"),
        (
            "p",
            "New employees complete a probation period of six months, with reviews at "
            "month 2 and month 5.",
        ),
    ],
    [
        ("h2", "Annual leave"),
        (
            "p",
            "Full-time employees receive 27 days of annual leave plus public holidays. Up to "
            "5 unused days may be carried over and must be taken by 31 March of the following "
            "year. Leave requests are made in the rota system at least two weeks ahead.",
        ),
        ("h2", "Sickness absence"),
        (
            "p",
            "If you are unwell, call your team lead before 08:30 on the first day of absence. "
            "A fit note is required for absences longer than seven calendar days. Company sick "
            "pay is full pay for up to 20 working days in any rolling 12 months.",
        ),
        ("h2", "Family leave"),
        (
            "p",
            "Enhanced maternity and adoption pay is 16 weeks at full pay. Paternity leave is "
            "4 weeks at full pay.",
        ),
    ],
    [
        ("h2", "Remote working"),
        (
            "p",
            "Administrative staff may work from home for up to two days per week by agreement "
            "with their manager. Clinical work is always on site.",
        ),
        ("h2", "Expenses"),
        (
            "p",
            "Claims for business expenses are submitted through ClaimPoint within 30 days of "
            "the expense, with receipts. Mileage is reimbursed at 45p per mile.",
        ),
        ("h2", "Training"),
        (
            "p",
            "Every employee has a training budget of £750 per year. Data protection training "
            "is mandatory and repeated every 12 months.",
        ),
    ],
    [
        ("h2", "Raising concerns"),
        (
            "p",
            "Concerns about patient safety or wrongdoing can be raised under the Speak Up "
            "Policy (HR-07), anonymously if you prefer. Grievances follow the Grievance "
            "Procedure (HR-04): a written response is given within 10 working days.",
        ),
        ("h2", "Dress code"),
        ("p", "Clinical staff wear the navy clinic tunic. Name badges are worn at all times."),
    ],
]

REPORT: list[list[Block]] = [
    [
        ("h1", "Quarterly Report - Q3 2024 (July to September)"),
        ("h2", "Summary"),
        (
            "p",
            "Total revenue for the third quarter of 2024 was £1,284,500, up 11.2% on Q3 2023. "
            "The clinic delivered 9,412 patient appointments, and the average wait for a "
            "first appointment fell to 4.1 days.",
        ),
        ("p", "Operating profit was £203,700, an operating margin of 15.9%."),
    ],
    [
        ("h2", "Revenue by service line"),
        (
            "table",
            [
                ["Service line", "Q3 2024", "Q3 2023", "Change"],
                ["Physiotherapy", "£612,300", "£566,000", "+8.2%"],
                ["Sports medicine", "£388,900", "£342,100", "+13.7%"],
                ["Hydrotherapy", "£171,600", "£145,400", "+18.0%"],
                ["Workshops and classes", "£111,700", "£101,600", "+9.9%"],
                ["Total", "£1,284,500", "£1,155,100", "+11.2%"],
            ],
        ),
        (
            "p",
            "Hydrotherapy grew fastest after the pool reopened on 8 July 2024 following its "
            "refurbishment.",
        ),
    ],
    [
        ("h2", "People and outlook"),
        (
            "p",
            "Headcount at 30 September 2024 was 46, including 29 clinicians. Staff turnover "
            "over the last twelve months was 7%.",
        ),
        (
            "p",
            "The board approved a second site in Greenwich, planned to open in Q2 2025 with a "
            "capital budget of £420,000.",
        ),
    ],
]


def write_pdf(path: Path, title: str, pages: list[list[Block]]) -> None:
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_author(CLINIC)
    pdf.set_creation_date(CREATED)
    pdf.set_auto_page_break(False)  # pages are laid out by hand so facts keep their page
    for number, blocks in enumerate(pages, start=1):
        pdf.add_page()
        for style, content in blocks:
            if style == "table":
                pdf.set_font("Helvetica", size=10)
                with pdf.table(col_widths=(60, 35, 35, 25), text_align="LEFT") as table:
                    for row in content:  # type: ignore[attr-defined]
                        table.row(row)
                pdf.ln(4)
                continue
            size = {"h1": 16, "h2": 12}.get(style, 11)
            pdf.set_font("Helvetica", "B" if style != "p" else "", size)
            pdf.multi_cell(0, 6 if style == "p" else 9, str(content))
            pdf.ln(3)
        pdf.set_y(-15)
        pdf.set_font("Helvetica", "I", 8)
        pdf.cell(0, 10, f"{CLINIC} - {title} - page {number} of {len(pages)}", align="C")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))


def save_docx(document: Any, path: Path) -> None:
    """Save with fixed dates (core properties and ZIP entries) so reruns give the same bytes."""
    document.core_properties.created = document.core_properties.modified = CREATED
    buffer = io.BytesIO()
    document.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=CREATED.timetuple()[:6])
            dst.writestr(fixed, src.read(info), compress_type=zipfile.ZIP_DEFLATED)


def write_new_starter(path: Path) -> None:
    d = docx.Document()
    d.core_properties.author = "HR, Saltmarsh Lane Clinic"
    d.add_heading("New Starter Form", level=1)
    d.add_paragraph("Confidential: HR use only. Completed by Priya Venkataraman (HR Manager).")
    details = [
        ("Full name", "Tomasz Wierzbicki"),
        ("Role", "Senior Physiotherapist (Band 7)"),
        ("Start date", "3 February 2025"),
        ("Work e-mail", "tomasz.wierzbicki@saltmarshclinic.example"),
        ("Mobile", "+44 20 7946 0742"),
        ("US phone (secondment)", "+1 201-555-0123"),
        ("US Social Security Number (payroll)", "123-45-6789"),
        ("Corporate card", "4111 1111 1111 1111, expires 09/27"),
        ("Salary", "£48,200 per year"),
    ]
    table = d.add_table(rows=0, cols=2)
    for label, value in details:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    d.add_heading("Emergency contact", level=2)
    d.add_paragraph("Agnieszka Wierzbicka (spouse), phone +44 20 7946 0991.")
    d.add_paragraph("Right-to-work check completed on 20 January 2025 by Priya Venkataraman.")
    save_docx(d, path)


def write_cleaning_contract(path: Path) -> None:
    d = docx.Document()
    d.add_heading("Cleaning Services Agreement", level=1)
    d.add_paragraph(
        f"Between {CLINIC} (the Client) and BrightMop Facilities Ltd (the Contractor). The "
        "agreement runs for 12 months from 1 April 2024 and renews each year unless either "
        "party gives 30 days' written notice."
    )
    d.add_heading("Services and fees", level=2)
    table = d.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Service", "Frequency", "Fee"), strict=True):
        cell.text = text
    for row in [
        ("Daily clean of treatment rooms and reception", "Monday to Saturday", "£640 per week"),
        ("Deep clean of the whole clinic", "Quarterly", "£1,150 per visit"),
        ("Hydrotherapy pool water test", "Twice weekly", "£95 per visit"),
        ("Window cleaning", "Monthly", "£180 per visit"),
    ]:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text
    d.add_heading("Standards", level=2)
    d.add_paragraph(
        "Cleaning follows the clinic's infection control policy IC-02. Clinical waste is not "
        "handled by the Contractor. Invoices are paid within 30 days of receipt."
    )
    save_docx(d, path)


def main() -> None:
    write_pdf(SAMPLES / "contracts" / "lease_agreement.pdf", "Lease Agreement", LEASE)
    write_pdf(SAMPLES / "hr" / "employee_handbook.pdf", "Employee Handbook", HANDBOOK)
    write_pdf(SAMPLES / "quarterly_report_q3_2024.pdf", "Quarterly Report Q3 2024", REPORT)
    write_new_starter(SAMPLES / "hr" / "new_starter_form.docx")
    write_cleaning_contract(SAMPLES / "contracts" / "cleaning_services_agreement.docx")
    for path in sorted(SAMPLES.rglob("*")):
        if path.suffix in (".pdf", ".docx"):
            print(f"{path.relative_to(SAMPLES)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
