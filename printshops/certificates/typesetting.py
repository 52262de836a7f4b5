"""Setting the view's values in type: dates and tolerances as the certificate writes them, and
the paragraphs and tables every section is made of. Every string from the view passes through
`fonts.fit` here, never straight into reportlab's markup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import CondPageBreak, Flowable, Paragraph, Table, TableStyle

from printshops.certificates.fonts import Fonts, fit, in_win_ansi
from printshops.certificates.layout import (
    HEADING_ROOM,
    LABEL_BG,
    MUTED,
    NAVY,
    RULE,
    ZEBRA,
    Styles,
)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # the project stores aware datetimes; never shift a naive one
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_utc(moment: datetime, *, suffix: bool = True) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M" + (" UTC" if suffix else ""))


def format_tolerance(minus: str, plus: str) -> str:
    """ "+a / -b" (with a true minus sign) from the two limits, signed by the caller or not."""
    plus, minus = plus.strip(), minus.strip()
    if not plus and not minus:
        return "\u2014"
    upper = plus if plus[:1] in {"+", "-", "\u2212"} else f"+{plus or '0'}"
    if minus[:1] in {"-", "\u2212"}:
        lower = f"\u2212{minus[1:].strip()}"
    elif minus[:1] == "+":  # both limits above nominal
        lower = minus
    else:
        lower = f"\u2212{minus or '0'}"
    return f"{upper} / {lower}"


class Typesetter:
    """Paragraphs and tables in the certificate's style, for the fonts in use."""

    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self.styles = Styles(fonts)

    # Text. Every string from the view goes through one of these, never straight into markup.

    def text(self, value: str, style: ParagraphStyle) -> Paragraph:
        markup = escape(fit(value, self.fonts.covers)).replace("\n", "<br/>")
        return Paragraph(markup, style)

    def mono(self, value: str, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(escape(fit(value, in_win_ansi)), style or self.styles.mono)

    def optional(self, value: str) -> Paragraph:
        if value.strip():
            return self.text(value, self.styles.value)
        return self.text("not reported", self.styles.missing)

    def heading(self, title: str) -> list[Flowable]:
        # A heading starts a new page rather than stand alone at the foot of one; unlike
        # keepWithNext this does not push a whole table that would fit on the next page.
        return [CondPageBreak(HEADING_ROOM), self.text(title, self.styles.heading)]

    def link(self, url: str, style: ParagraphStyle) -> Paragraph:
        shown = escape(fit(url, in_win_ansi))
        return Paragraph(f"<link href={quoteattr(url)}>{shown}</link>", style)

    # Tables.

    def table(
        self,
        head: Sequence[str],
        rows: Sequence[Sequence[Flowable]],
        widths: Sequence[float],
        *,
        right: frozenset[int] = frozenset(),
        empty: str,
        extra: Sequence[tuple[Any, ...]] = (),
    ) -> Table:
        """A data table whose header row repeats on every page it runs onto."""
        header = [
            self.text(h, self.styles.cell_head_right if i in right else self.styles.cell_head)
            for i, h in enumerate(head)
        ]
        body: list[list[Flowable | str]] = [list(row) for row in rows]
        commands: list[tuple[Any, ...]] = [
            ("BACKGROUND", (0, 0), (-1, 0), NAVY),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 1), (-1, -1), 0.4, RULE),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]
        if body:
            commands.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]))
        else:
            placeholder: list[Flowable | str] = [self.text(empty, self.styles.note)]
            body = [placeholder + [""] * (len(head) - 1)]
            commands.append(("SPAN", (0, 1), (-1, 1)))
        table = Table(
            [header, *body],
            colWidths=list(widths),
            repeatRows=1,
            splitInRow=1,  # a row taller than a page (a very long summary) splits too
            hAlign="LEFT",
        )
        table.setStyle(TableStyle([*commands, *extra]))
        return table

    def key_values(self, rows: Sequence[tuple[str, Flowable]], widths: Sequence[float]) -> Table:
        table = Table(
            [[self.text(key, self.styles.label), value] for key, value in rows],
            colWidths=list(widths),
            hAlign="LEFT",
        )
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (0, -1), LABEL_BG),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                    ("LINEABOVE", (0, 0), (-1, 0), 0.4, RULE),
                    ("LEFTPADDING", (0, 0), (-1, -1), 5),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 5),
                    ("TOPPADDING", (0, 0), (-1, -1), 3.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
                ]
            )
        )
        return table

    def with_note(self, value: str, note: str, style: ParagraphStyle) -> Paragraph:
        """`value`, and under it `note` in small muted type."""
        covers = self.fonts.covers
        return Paragraph(
            f"{escape(fit(value, covers))}<br/>"
            f'<font size="7" color="#{MUTED.hexval()[2:]}">'
            f"{escape(fit(note, covers))}</font>",
            style,
        )
