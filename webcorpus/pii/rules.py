"""Our own rules where presidio's recognizers miss or misfire: cards, IBANs, and phone numbers.

presidio's card pattern misses real networks and lengths (19-digit Visa, 12-digit Maestro, Mastercard's
2-series, 15-digit JCB), its IBAN recognizer wants upper case, and its phone recognizer (python-
phonenumbers, lenient) takes dates, page ranges and issue numbers for German phone numbers. Here:

- cards: every major network's prefixes and lengths (`CARD_NETWORKS`), Luhn-checked, digits written
  together or in groups joined by one kind of separator (one or two spaces, no-break spaces, a dash or a
  dot), not glued to letters after them, not named as an order, tracking, part or serial number (order
  no., P/N, S/N, 订单号, 注文番号, 주문번호); a label glued before them is fine (Card:4111..., CC#4111...);
- IBANs: any case, together or in groups joined as cards' are, the country's length (`IBAN_LENGTHS`, the
  SWIFT registry) and the ISO 7064 mod-97 checksum;
- phone numbers: presidio's matches, less those shaped like a date, a range of small numbers, a year, an
  issue number (35/2023), a decimal (16410.54) or a page or catalogue reference (S. 12, Nr. 4711); a
  phone word nearby (tel, phone, fax, Kontakt, 电话, 携帯, 연락처...) or the '+' international form keeps
  a match that is not a date, and raises its score. International numbers phonenumbers calls invalid
  (+1-984-182-0190) are contact numbers too, and so is a number after a phone word that more numbers follow
  (Tel 030 2345678 1000 1001 1002), which phonenumbers' matcher reads on past. Full-width digits and
  punctuation (０９０－１２３４－５６７８, ２０２４／０３／１５) are judged as their ASCII forms; the
  replacement covers the characters as written.

A Chinese, Japanese or Korean letter right before a number is not part of an identifier: those scripts
put no space between a word and a number (webcorpus/pii/cjk.py).

Measured recall and precision, against presidio: docs/pii.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

from webcorpus.pii.cjk import NOT_CJK_WORD

# network: (prefix ranges as (low, high) over the first len(low) digits, allowed lengths)
CARD_NETWORKS: dict[str, tuple[tuple[tuple[str, str], ...], frozenset[int]]] = {
    "visa": ((("4", "4"),), frozenset({13, 16, 19})),
    "mastercard": ((("51", "55"), ("2221", "2720")), frozenset({16})),
    "amex": ((("34", "34"), ("37", "37")), frozenset({15})),
    "discover": ((("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")), frozenset(range(16, 20))),
    "jcb": ((("35", "35"),), frozenset(range(16, 20))),
    "jcb15": ((("1800", "1800"), ("2131", "2131")), frozenset({15})),
    "diners": ((("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")), frozenset(range(14, 20))),
    "unionpay": ((("62", "62"), ("81", "81")), frozenset(range(16, 20))),
    "maestro": ((("50", "50"), ("56", "69")), frozenset(range(12, 20))),
    "mir": ((("2200", "2204"),), frozenset(range(16, 20))),
    "uatp": ((("1", "1"),), frozenset({15})),
}
# What joins a card's or an IBAN's groups: one or two spaces (no-break ones too, as HTML writes them), a dash or a dot.
_GROUP_SEPARATOR = r"[ \u00a0\u202f]{1,2}|[\-.]"
# Digits together or in groups joined by separators; not inside a longer run of digits.
CARD_CANDIDATE = re.compile(
    rf"(?<![\d\-])(?<!\d[ \u00a0\u202f.])(?<!\d[ \u00a0\u202f]{{2}})\d(?:(?:{_GROUP_SEPARATOR})?\d){{11,18}}"
    rf"(?!\d)(?!(?:{_GROUP_SEPARATOR})\d)"
)
CARD_GROUPS = re.compile(_GROUP_SEPARATOR)
DIGIT_RUN = re.compile(r"\d[\d \-.\u00a0\u202f]{11,}")
NOT_BEFORE_CARD = re.compile(rf"{NOT_CJK_WORD}|[/=:.#?&+]")  # inside a URL, an identifier or a decimal
# ... unless it is a label's end: a word and ':', '#' or '=' right before the digits (Card:4111..., CC#4111...).
LABEL_BEFORE_CARD = re.compile(r"(?<![^\s(\[\"'])[^\W\d_]{1,30}[:#=]$")
NOT_AFTER_CARD = re.compile(rf"-?{NOT_CJK_WORD}")  # glued to letters: 4111111111111111aa, ...-1111-XY

# SWIFT's IBAN registry: country code -> IBAN length.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
# The check digits of an IBAN, after its two-letter country code: a scan that starts at digits skips
# ordinary text much faster than one starting at letters.
IBAN_SEPARATOR = re.compile(_GROUP_SEPARATOR)
IBAN_CHECK_DIGITS = re.compile(r"\d\d(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d\d)")

# Phone candidates that are something else.
_DAY_MONTH = r"(?:0?[1-9]|[12]\d|3[01])[./\-](?:0?[1-9]|1[0-2])"
DATE = re.compile(
    rf"{_DAY_MONTH}[./\-](?:\d{{2}}|\d{{4}})|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:\d{{2}}|\d{{4}})"
    r"|(?:1[89]|20)\d\d[./\-](?:0?[1-9]|1[0-2])[./\-](?:0?[1-9]|[12]\d|3[01])"
)
YEAR = re.compile(r"1\d\d\d|20\d\d")
ISSUE = re.compile(r"\d{1,3}/(?:1[89]|20)\d\d|(?:1[89]|20)\d\d/\d{1,3}")
RANGE = re.compile(r"(?<![\d\-–—/])(\d{1,4})[\-–—/](\d{1,4})(?![\d\-–—/])")
SPACED_DASH = re.compile(r"\s*([\-–—/])\s*")
TIME = re.compile(r"\d{1,2}\s?[.:]\s?\d{2}(?:[\-–—]\d{1,2}\s?[.:]\s?\d{2})*")
THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:[., \u00a0\u202f]\d{3})+")
DECIMAL = re.compile(r"[1-9]\d*[.,]\d{1,2}")  # a quantity or price: 16410.54 (square kilometres)
IDENTIFIER_BEFORE = re.compile(rf"{NOT_CJK_WORD}|[.\-/:]")
# A word's edge is any character but a non-CJK word character: "No." and "TEL" stand right against Chinese
# or Japanese letters.
_START, _END = f"(?<!{NOT_CJK_WORD})", f"(?!{NOT_CJK_WORD})"
# Order, item, model, member and tracking numbers in Chinese, Japanese and Korean (订单号, 注文番号, 주문번호...).
_CJK_ORDER_WORDS = (
    "订单号|訂單號|订单编号|訂單編號|单号|單號|运单号|運單號|编号|編號|货号|貨號|型号|型號|注文番号|商品番号|品番|型番"
    "|管理番号|受付番号|伝票番号|追跡番号|会員番号|會員編號|주문번호|상품번호|송장번호|운송장번호"
)
# Words that make a number a reference, not a phone number, just before it.
REFERENCE_BEFORE = re.compile(
    rf"(?:{_START}(?:s|p|pp|nr|no|nos|bd|vol|art|kat|az|isbn(?:-1[03])?|issn|heft|seite|seiten|page|pages|band"
    r"|jg|jahrgang|artikel(?:nummer)?|best(?:ell)?(?:-?nr|nummer)?|item|sku|ref|order|bestellnummer|kundennummer"
    rf"|gz|pmid|doi|aktenzeichen|tab|abb|fig|kapitel|chapter|ausgabe|issue)\.?|§|#|№|{_CJK_ORDER_WORDS}"
    r"|〒|郵便番号|邮编|邮政编码|郵遞區號|우편번호)\s*[:.：]?\s*$"  # 〒 and the words for postal code
    r"|(?:第|제)$",  # ordinals, right against the number: 第12345号, 제1234호 (제 before a space is "my")
    re.IGNORECASE,
)
# Words that make a long Luhn-valid number an order or tracking number, not a card, just before it: one digit
# string in ten passes Luhn, and Maestro takes 12 to 19 digits after 50 or 56-69.
ORDER_BEFORE = re.compile(
    rf"(?:{_START}(?:order|bestellnummer|bestell-?nr|sku|tracking|invoice|p/n|s/n|pn|sn|mpn|part|serial|model"
    rf"|item|article|artikel|ean|upc|gtin)(?:\s?(?:no|nr|number|nummer|id)\.?)?|{_CJK_ORDER_WORDS})\s*[:.：#=]?\s*$",
    re.IGNORECASE,
)
PHONE_CONTEXT = re.compile(
    rf"{_START}(?:tel|tele|telefon|telephone|phone|ph|fon|fax|telefax|call|mobile|mobil|cell|handy|kontakt"
    r"|contact|hotline|whatsapp|sms|téléphone|tél|portable|numéro|rufnummer|durchwahl|anrufen|ring|dial"
    rf"){_END}|☎|📞|📱"
    r"|(?:^|[\s(|])(?-i:[TMF])\s?[:.]\s*$"  # "T: 030 ...", "F. 030 ..." just before the number
    # Chinese (telephone, mobile, landline, contact, hotline, fax, customer service, dial), Japanese
    # (telephone, mobile, contact, enquiries, fax, toll-free) and Korean (contact, telephone, mobile, fax,
    # enquiries)
    r"|电话|電話|手机|手機|座机|座機|固话|固話|联系|聯繫|聯絡|联络|热线|熱線|传真|傳真|客服|致电|致電|拨打|撥打"
    r"|携帯|ケータイ|連絡先|お問い?合わせ|問い?合わせ|問合せ|ファックス|ファクス|フリーダイヤル"
    r"|연락|전화|휴대폰|핸드폰|휴대전화|팩스|문의",
    re.IGNORECASE,
)
CONTEXT_CHARACTERS = 40
# More numbers in a row, joined by spaces, than one phone number is written in: "030 2345678 1000 1001 1002".
# After a phone word, the first tokens may be a phone number that phonenumbers' matcher misses: it reads the
# run whole, then token by token. (Four or fewer may be one number: "18001 0800 0282 878", text relay.)
MOST_TOKENS = 4
_NUMBER_TOKEN = r"\(?\d(?:[\d()\-./]*[\d)])?"
# The first character before the look-behinds (a scan that starts at a digit or '(' skips text fast), then the
# first token's rest: not a word's or another number's tail.
NUMBER_TOKENS = re.compile(
    rf"[(\d](?<=(?<!{NOT_CJK_WORD})(?<![+()\-./]).)(?:[\d()\-./]*[\d)])?(?: {_NUMBER_TOKEN}){{{MOST_TOKENS},}}"
)
TOKEN_END = re.compile(r"(?= |\Z)")
PHONE_SCORE, PHONE_SCORE_WITH_CONTEXT = 0.4, 0.7
# '+', a country code, then groups: what a number written for callers abroad looks like.
INTERNATIONAL = re.compile(rf"(?<!{NOT_CJK_WORD})(?<!\+)\+\d{{1,3}}(?:[ .\-]?\(?\d{{1,5}}\)?){{2,6}}(?![\d])")
# Full-width forms (U+FF01-FF5E), the ideographic space and the minus sign, read as ASCII when judging a
# phone match: Japanese pages write ０９０－１２３４－５６７８ and ２０２４／０３／１５. One character for one.
ASCII_FORMS = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " ", "\u2212": "-"})


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_network(digits: str) -> str | None:
    """The network whose prefixes and lengths fit `digits`, if any."""
    for network, (ranges, lengths) in CARD_NETWORKS.items():
        if len(digits) in lengths and any(low <= digits[: len(low)] <= high for low, high in ranges):
            return network
    return None


def find_cards(text: str) -> Iterator[tuple[int, int]]:
    """Spans of card numbers: a known network's prefix and length, Luhn-valid, written as cards are (all
    together, or a first group of 4 or 6 digits and one kind of separator), not part of a URL or a word, and
    not named as an order or tracking number."""
    for run in DIGIT_RUN.finditer(text):  # one cheap scan; the card pattern runs only inside long runs
        yield from _cards_in(text, run.start(), run.end())


def _cards_in(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    for found in CARD_CANDIDATE.finditer(text, start, end):
        before = max(0, found.start() - CONTEXT_CHARACTERS)
        if found.start() and NOT_BEFORE_CARD.match(text, found.start() - 1):
            if not LABEL_BEFORE_CARD.search(text, before, found.start()):
                continue
        if NOT_AFTER_CARD.match(text, found.end()) or ORDER_BEFORE.search(text, before, found.start()):
            continue
        value = found.group()
        groups = CARD_GROUPS.split(value)
        separators = set(CARD_GROUPS.findall(value))
        if len(groups) > 1 and (len(groups[0]) not in (4, 6) or len(separators) > 1):
            continue
        if separators == {"."} and len(groups) < 3:  # a decimal: 4111.1111111111111
            continue
        digits = "".join(groups)
        if card_network(digits) and luhn_valid(digits):
            yield found.start(), found.end()


def iban_valid(iban: str) -> bool:
    """ISO 7064 mod 97-10 over the IBAN with its first four characters moved to the end."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def find_ibans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of IBANs in any case, written together or in groups joined by one or two (no-break) spaces, dashes
    or dots."""
    for found in IBAN_CHECK_DIGITS.finditer(text):
        start = found.start() - 2
        country = text[start : found.start()].upper()
        length = IBAN_LENGTHS.get(country)
        if length is None:
            continue
        characters, end, i = [country, found.group()], found.end(), found.end()
        count = 4
        while count < length and i < len(text):
            if text[i].isascii() and text[i].isalnum():
                characters.append(text[i].upper())
                count += 1
                end = i = i + 1
            else:
                separator = IBAN_SEPARATOR.match(text, i)
                after = separator.end() if separator else i
                if after == i or after == len(text) or not (text[after].isascii() and text[after].isalnum()):
                    break
                i = after
        followed = end < len(text) and text[end].isascii() and text[end].isalnum()
        if count == length and not followed and iban_valid("".join(characters)):
            yield start, end


def phone_verdict(text: str, start: int, end: int) -> float | None:
    """The score of a phone-number match at text[start:end], or None if it is something else."""
    value = text[start:end].translate(ASCII_FORMS).strip().strip("[]()")
    before = text[max(0, start - CONTEXT_CHARACTERS) : start].translate(ASCII_FORMS)
    if DATE.match(value):  # a date, or a date and the hour after it ("28.04.2020 18:00")
        return None
    if PHONE_CONTEXT.search(before) or value.startswith("+"):
        return PHONE_SCORE_WITH_CONTEXT
    compact = SPACED_DASH.sub(lambda m: m.group(1), value)  # "333 – 337" reads as "333–337"
    if (
        (start and IDENTIFIER_BEFORE.match(text, start - 1))  # inside a DOI, URL or article number
        or REFERENCE_BEFORE.search(before)
        or YEAR.fullmatch(value)
        or ISSUE.fullmatch(value)
        or TIME.fullmatch(compact)
        or THOUSANDS.fullmatch(value)
        or DECIMAL.fullmatch(value)
        or (value.isdigit() and not 9 <= len(value) <= 12)  # bare digits of no national length
        or any(_is_small_range(found) for found in RANGE.finditer(compact))
    ):
        return None
    return PHONE_SCORE


def _is_small_range(found: re.Match[str]) -> bool:
    """Page, issue and year ranges: 339-344, 552/553, 1998-2004 (the second number just after the first),
    not part of a longer chain (212-306-6794) and without a trunk zero (089-1234 is Munich)."""
    first, second = found.groups()
    if first.startswith("0"):
        return False
    close = 0 < int(second) - int(first) <= 100
    return close or (YEAR.fullmatch(first) is not None and YEAR.fullmatch(second) is not None)


def find_international_numbers(text: str) -> Iterator[tuple[int, int]]:
    """Numbers in '+country' form with 8 to 15 digits (11 for +1), valid by phonenumbers' rules or not."""
    if "+" not in text:
        return
    for found in INTERNATIONAL.finditer(text):
        digits = sum(c.isdigit() for c in found.group())
        if 8 <= digits <= 15 and (not found.group().startswith("+1") or digits == 11):
            yield found.start(), found.end()


def find_numbers_after_phone_words(text: str, regions: Sequence[str]) -> Iterator[tuple[int, int]]:
    """After a phone word (tel, phone, 电话 ...), the leading tokens of a run of numbers that are a phone number,
    and no date: "Tel 030 2345678 1000 1001 1002" holds "030 2345678". Of the readings valid in one of `regions`, the
    one valid in most of them, then the shortest (Germany's numbering takes "(415) 555" and "(415) 555 2671 10"
    too; seven of the default regions take "(415) 555 2671")."""
    for run in NUMBER_TOKENS.finditer(text):
        start = run.start()
        if not PHONE_CONTEXT.search(text[max(0, start - CONTEXT_CHARACTERS) : start].translate(ASCII_FORMS)):
            continue
        ends = [start + m.start() for m in TOKEN_END.finditer(run.group())][:MOST_TOKENS]
        agreeing = {end: _regions_where_valid(text[start:end], tuple(regions)) for end in ends}
        end = max(ends, key=lambda e: (agreeing[e], -e))
        if agreeing[end] and phone_verdict(text, start, end):
            yield start, end


@functools.lru_cache(maxsize=100_000)
def _regions_where_valid(value: str, regions: tuple[str, ...]) -> int:
    import phonenumbers

    if not 6 <= sum(c.isdigit() for c in value) <= 15:  # shorter or longer than a phone number with its prefix
        return 0
    valid = 0
    for region in regions:
        try:
            valid += phonenumbers.is_valid_number(phonenumbers.parse(value, region))
        except phonenumbers.NumberParseException:
            continue
    return valid
