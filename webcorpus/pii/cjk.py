"""Chinese, Japanese and Korean letters (and those of the other scripts written without spaces: Thai, Lao,
Khmer, Burmese, Tibetan), which stand right against addresses and numbers with no space.

Chinese and Japanese put no spaces between words, and Korean none between a word and its particle, so
an address or number sits between letters: "メールはinfo@example.co.jpです", "电话13812345678联系".
Python's `\\w` and `\\b` count Han, kana and Hangul as word characters, so to presidio's patterns the
address runs on into the text around it (the e-mail pattern takes "メールはinfo@example.co.jpです" whole,
the IP pattern finds no word boundary before "8.8.8.8" in "地址是8.8.8.8"), and a window cut at whitespace
is a whole paragraph.

The detector reads each CJK letter as a line break (`mask_cjk_letters`: same length, so every offset
stays): the end of a token for every pattern and for the windows, and for phonenumbers' matcher what
the letter already was (neither is phone punctuation). Our own rules say "a word character of the same
token" as `NOT_CJK_WORD`: a letter, digit or underscore that is not a CJK letter.

Not CJK letters here: digits (full-width ones are digits, and phonenumbers reads them) and CJK punctuation
(。、「」：, already no word characters). The katakana prolonged sound mark ー is masked only away from
digits: phonenumbers counts it as a dash between digit groups (090ー1234ー5678).
"""

from __future__ import annotations

import re

# Han (with the iteration and closing marks 々〆〇 and the Hangzhou numerals), hiragana, katakana (less ・ and
# ー), half-width katakana, bopomofo, and Hangul syllables and jamo, full-width and half-width; then Thai, Lao,
# Tibetan, Myanmar and Khmer, less their digits (which phonenumbers does not read, so they stay digits).
CJK_LETTER_RANGES = (
    "\u0e01-\u0e4f\u0e5a-\u0e7f\u0e80-\u0ecf\u0eda-\u0eff\u0f00-\u0f1f\u0f2a-\u0fff\u1000-\u103f\u104a-\u108f"
    "\u109a-\u109f\u1780-\u17df\u17ea-\u17ff"
    "\u1100-\u11ff\u3005-\u3007\u3021-\u3029\u3031-\u3035\u303b\u303c\u3041-\u309f\u30a1-\u30fa\u30fd-\u30ff"
    "\u3105-\u312f\u3131-\u318e\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7a3"
    "\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f\uffa0-\uffdc\U00020000-\U0003134f"
)
CJK_LETTER = re.compile(f"[{CJK_LETTER_RANGES}]")
CJK_LETTERS = re.compile(f"(?:[{CJK_LETTER_RANGES}]|(?<!\\d)\u30fc(?!\\d))+")  # with ー away from digits (サーバー)
NOT_CJK_WORD = f"[^\\W{CJK_LETTER_RANGES}]"  # a character class: \w less the CJK letters


def mask_cjk_letters(text: str) -> str:
    """`text` with every CJK letter replaced by a line break (one character for one, offsets unchanged)."""
    if CJK_LETTER.search(text) is None:  # most pages: one scan, no copy
        return text
    return CJK_LETTERS.sub(lambda run: "\n" * len(run.group()), text)
