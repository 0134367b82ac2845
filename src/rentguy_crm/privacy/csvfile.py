"""CSV as people send it: semicolons (Dutch Excel), commas or tabs, UTF-8 with or without BOM, Windows-1252 from
older Excel, quoted fields with line breaks. Each row carries the physical line it starts on, for the report.

Headers map to the columns of contacts and leads by a mapping file or by the usual Dutch and English names."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rentguy_crm.errors import ValidationFailed

CONTACT_COLUMNS = ("first_name", "last_name", "email", "phone", "company", "owner", "marketing_opt_in")
LEAD_COLUMNS = ("first_name", "last_name", "email", "phone", "external_id", "event_type", "event_date", "guests",
                "venue", "city", "budget", "message", "source", "marketing_opt_in")
COLUMNS = {"contacts": CONTACT_COLUMNS, "leads": LEAD_COLUMNS}

# Usual header names (compared lower-case, without spaces, dashes, dots or underscores).
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "voornaam", "givenname", "roepnaam"),
    "last_name": ("lastname", "achternaam", "surname", "familynaam", "familyname"),
    "email": ("email", "emailaddress", "emailadres", "mail", "mailadres"),
    "phone": ("phone", "phonenumber", "telefoon", "telefoonnummer", "tel", "mobiel", "mobile", "gsm"),
    "company": ("company", "bedrijf", "bedrijfsnaam", "organisatie", "organisation", "organization"),
    "owner": ("owner", "eigenaar", "accountmanager"),
    "marketing_opt_in": ("marketingoptin", "marketing", "nieuwsbrief", "newsletter", "optin"),
    "external_id": ("externalid", "externid", "referentie", "reference"),
    "event_type": ("eventtype", "soortfeest", "typefeest", "evenementtype", "event", "evenement"),
    "event_date": ("eventdate", "datum", "feestdatum", "evenementdatum", "date"),
    "guests": ("guests", "gasten", "aantalgasten", "personen"),
    "venue": ("venue", "locatie", "zaal"),
    "city": ("city", "plaats", "stad", "woonplaats"),
    "budget": ("budget",),
    "message": ("message", "bericht", "opmerking", "opmerkingen", "toelichting", "notes"),
    "source": ("source", "bron"),
}

MAX_ROWS = 100_000


def _key(header: str) -> str:
    return re.sub(r"[\s_.\-]+", "", header.strip().lower())


@dataclass
class CsvRow:
    line: int  # the physical line of the file the row starts on (1 = the header)
    values: dict[str, str | None]


@dataclass
class CsvFile:
    headers: list[str]
    mapping: dict[str, str]  # file header -> column
    rows: list[CsvRow]
    delimiter: str
    encoding: str
    warnings: list[str] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, str, list[str]]:
    """UTF-8 (a BOM is dropped); bytes that are not UTF-8 are read as Windows-1252, with a warning."""
    try:
        return data.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise ValidationFailed("file: the file is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8.",
                               errors=[{"field": "file", "message": "not text", "type": "value_error"}]) from None
    return text, "cp1252", ["the file is not UTF-8; it was read as Windows-1252 (check accented names)"]


def sniff_delimiter(text: str) -> str:
    """Semicolon, comma or tab: what the header line (outside quotes) holds most of."""
    sample = text[:64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t").delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        return max((";", ",", "\t"), key=header.count)


def load_mapping(path: Path | None) -> dict[str, str] | None:
    """A mapping file: JSON or YAML, `{"Header in the file": "column"}`."""
    if path is None:
        return None
    raw = path.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"mapping: {path.name} is not valid JSON or YAML ({str(exc).splitlines()[0]}).") \
            from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValidationFailed(f"mapping: {path.name} must map file headers to column names (text to text).")
    return data


def map_headers(headers: list[str], kind: str, mapping: dict[str, str] | None) -> tuple[dict[str, str], list[str]]:
    """File header -> column. Returns the mapping and warnings for headers left out."""
    columns = COLUMNS[kind]
    warnings: list[str] = []
    result: dict[str, str] = {}
    if mapping is not None:
        unknown = sorted({v for v in mapping.values() if v not in columns})
        if unknown:
            raise ValidationFailed(f"mapping: unknown column(s) {', '.join(unknown)}; {kind} have "
                                   f"{', '.join(columns)}.",
                                   errors=[{"field": "mapping", "message": "unknown column", "type": "value_error"}])
        missing = sorted(h for h in mapping if h not in headers)
        if missing:
            raise ValidationFailed(f"mapping: the file has no header(s) {', '.join(missing)}; it has "
                                   f"{', '.join(headers)}.",
                                   errors=[{"field": "mapping", "message": "header not in file",
                                            "type": "value_error"}])
        result = {h: mapping[h] for h in headers if h in mapping}
    else:
        lookup = {alias: column for column, aliases in HEADER_NAMES.items() if column in columns
                  for alias in (_key(column), *aliases)}
        for header in headers:
            column = lookup.get(_key(header))
            if column and column not in result.values():
                result[header] = column
    for header in headers:
        if header not in result:
            warnings.append(f"column '{header[:60]}' is not imported (no {kind} field of that name)")
    if not {"first_name", "last_name", "email", "phone"} & set(result.values()):
        raise ValidationFailed(
            f"file: no column holds a name, e-mail or phone number; headers found: {', '.join(headers) or 'none'}. "
            "Use headers like voornaam/first_name, e-mail, telefoon/phone, or give --mapping.",
            errors=[{"field": "file", "message": "no identifying column", "type": "value_error"}])
    return result, warnings


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValidationFailed(f"file: line {start}: the CSV cannot be read ({exc}); check the quotes.",
                                   errors=[{"field": "file", "message": f"line {start}: {exc}",
                                            "type": "value_error"}]) from None
        yield start, row


def read_csv(data: bytes, kind: str, mapping: dict[str, str] | None = None) -> CsvFile:
    """Parse a whole file. Raises ValidationFailed (422) for a file that cannot be read as CSV at all."""
    if kind not in COLUMNS:
        raise ValidationFailed(f"kind: import contacts or leads, not {kind}.")
    text, encoding, warnings = decode(data)
    if not text.strip():
        raise ValidationFailed("file: the file is empty.", errors=[{"field": "file", "message": "empty",
                                                                   "type": "missing"}])
    if "\x00" in text:
        raise ValidationFailed("file: the file holds NUL characters; it is not a CSV text file.",
                               errors=[{"field": "file", "message": "NUL characters", "type": "value_error"}])
    delimiter = sniff_delimiter(text)
    rows_iter = _rows(text, delimiter)
    try:
        _line, headers = next(rows_iter)
    except StopIteration:
        raise ValidationFailed("file: the file has no header line.") from None
    headers = [h.strip() for h in headers]
    mapped, more = map_headers(headers, kind, mapping)
    warnings += more
    rows: list[CsvRow] = []
    for line, cells in rows_iter:
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise ValidationFailed(f"file: more than {MAX_ROWS} rows; split the file.")
        values: dict[str, str | None] = {column: None for column in mapped.values()}
        for header, cell in zip(headers, cells, strict=False):
            if header in mapped:
                values[mapped[header]] = cell.strip() or None
        if len(cells) > len(headers):
            values["__extra__"] = f"{len(cells)} fields where the header has {len(headers)}"
        rows.append(CsvRow(line, values))
    return CsvFile(headers, mapped, rows, delimiter, encoding, warnings)
