"""Amounts with a currency, written as the active language writes them (CLDR's standard currency
pattern): "€1,180.00" in English, "1.180,00 €" in German.

Django localizes the number (its grouping and decimal separators per language); this adds where
the currency goes. Babel would do it for every locale; for the portal's few languages a table is
enough and needs no dependency. A new language adds its row to `CURRENCY_PATTERNS`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import formats, numberformat, translation

NBSP = "\u00a0"
CENT = Decimal("0.01")

# Currencies written with a symbol; any other code is written as itself ("CHF 12.00").
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}

# language -> (symbol pattern, code pattern); {n} is the number, {c} the symbol or code.
CURRENCY_PATTERNS = {
    "en": ("{c}{n}", "{c}" + NBSP + "{n}"),
    "de": ("{n}" + NBSP + "{c}", "{n}" + NBSP + "{c}"),
}


def money_format(amount: Decimal | int | float | str | None, currency: str = "", language: str = "") -> str:
    """`amount` (two decimals, grouped) with `currency` (an ISO 4217 code, or ""), in `language`
    (default: the active one). None or "" gives "" (the caller shows its own placeholder)."""
    return MoneyFormatter(language)(amount, currency)


class MoneyFormatter:
    """`money_format` for one language, its separators and pattern looked up once: a task list
    page writes 25 amounts."""

    def __init__(self, language: str = "") -> None:
        language = language or translation.get_language() or "en"
        self.decimal_separator = formats.get_format("DECIMAL_SEPARATOR", language)
        self.grouping = formats.get_format("NUMBER_GROUPING", language)
        self.thousand_separator = formats.get_format("THOUSAND_SEPARATOR", language)
        self.patterns = CURRENCY_PATTERNS.get(language.split("-")[0].lower(), CURRENCY_PATTERNS["en"])

    def __call__(self, amount: Decimal | int | float | str | None, currency: str = "") -> str:
        if amount is None or amount == "":
            return ""
        try:
            value = Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)  # commercial rounding
        except InvalidOperation:
            raise ValueError(f"not an amount: {amount!r}") from None
        number = numberformat.format(
            abs(value),
            self.decimal_separator,
            decimal_pos=2,
            grouping=self.grouping,
            thousand_sep=self.thousand_separator,
            force_grouping=True,
            use_l10n=True,
        )
        sign = "-" if value < 0 else ""
        code = (currency or "").upper()
        if not code:
            return sign + number
        symbol = CURRENCY_SYMBOLS.get(code)
        symbol_pattern, code_pattern = self.patterns
        pattern = symbol_pattern if symbol else code_pattern
        return sign + pattern.format(n=number, c=symbol or code)
