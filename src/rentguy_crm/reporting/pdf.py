"""The PDF of a report, from its self-contained HTML, with WeasyPrint (https://doc.courtbouillon.org/weasyprint/).

WeasyPrint needs Pango at run time (Debian: libpango-1.0-0, libpangoft2-1.0-0; see `ops/install-test-tools.sh`).
It is imported only when a PDF is made: without those libraries the suite starts and reports are still archived
and mailed, and making a PDF raises `PdfUnavailable` with a sentence saying what to install.
"""

from __future__ import annotations

from rentguy_crm.errors import AppError

INSTALL_HINT = ("install WeasyPrint's system libraries (Debian/Ubuntu: apt-get install libpango-1.0-0 "
                "libpangoft2-1.0-0; see https://doc.courtbouillon.org/weasyprint/stable/first_steps.html)")


class PdfUnavailable(AppError):
    """WeasyPrint or the libraries it loads are missing, or it failed on this document."""

    status = 503
    title = "PDF not available"


def render_pdf(html: str) -> bytes:
    """PDF bytes of a self-contained HTML document (images as data: URIs). Raises PdfUnavailable."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        # OSError: cffi could not load libpango/libgobject (WeasyPrint's documented failure without them).
        raise PdfUnavailable(f"cannot make the PDF: WeasyPrint cannot be loaded ({str(exc).splitlines()[0][:200]});"
                             f" {INSTALL_HINT}") from None
    try:
        return bytes(HTML(string=html).write_pdf())
    except Exception as exc:
        raise PdfUnavailable(f"cannot make the PDF: WeasyPrint failed ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None
