"""The pii stage on Chinese, Japanese and Korean text: addresses and numbers written against CJK letters with
no space between, the three countries' phone numbers, their phone words, and what must be left alone."""

from __future__ import annotations

import random

import pytest

from webcorpus.document import Document
from webcorpus.pii.cjk import CJK_LETTER, mask_cjk_letters
from webcorpus.pii.detector import PATTERN_ENTITIES, PiiDetector, presidio_analyzer
from webcorpus.pii.stage import PiiScrubber


@pytest.fixture(scope="module")
def scrubber() -> PiiScrubber:
    return PiiScrubber(replacement="tag")


def scrubbed(scrubber: PiiScrubber, text: str) -> str:
    document = Document("d", "http://example.com/", text)
    assert scrubber.filter(document) is None
    return document.text


# (text, the text after scrubbing): each was missed, or taken with the letters around it, before.
AGAINST_CJK_LETTERS = [
    ("メールはinfo@example.co.jpです", "メールは<EMAIL_ADDRESS>です"),
    ("이메일은 hong@example.kr으로 보내세요", "이메일은 <EMAIL_ADDRESS>으로 보내세요"),
    ("サーバーadmin@example.jpまで", "サーバー<EMAIL_ADDRESS>まで"),
    ("제 010-1234-5678로 문자 주세요", "제 <PHONE_NUMBER>로 문자 주세요"),  # 제 here is "my", not an ordinal
    ("電話03-1234-5678まで", "電話<PHONE_NUMBER>まで"),
    ("携帯090-1234-5678へ", "携帯<PHONE_NUMBER>へ"),
    ("请拨打13812345678联系我们", "请拨打<PHONE_NUMBER>联系我们"),
    ("卡号4111111111111111。", "卡号<CREDIT_CARD>。"),
    ("服务器8.8.8.8的地址", "服务器<IP_ADDRESS>的地址"),
    ("IP地址是2001:4860:4860::8888。", "IP地址是<IP_ADDRESS>。"),
    # Thai is written without spaces between words too.
    ("ติดต่อinfo@example.co.thได้ทุกวัน", "ติดต่อ<EMAIL_ADDRESS>ได้ทุกวัน"),
    ("เบอร์โทร+66812345678ค่ะ", "เบอร์โทร<PHONE_NUMBER>ค่ะ"),
]


@pytest.mark.parametrize(("text", "expected"), AGAINST_CJK_LETTERS)
def test_addresses_and_numbers_against_cjk_letters(scrubber, text, expected):
    assert scrubbed(scrubber, text) == expected


# National numbers of China and Korea, valid in none of presidio's eight default regions (Japanese ones, and
# Korean landlines, are in the page tests below: some of them happen to be valid in one of those regions).
NATIONAL_NUMBERS = [
    "13812345678",  # Chinese mobile
    "138 1234 5678",
    "座机：010-87654321",  # Beijing landline
    "010 8765 4321",
    "연락처 010-1234-5678",  # Korean mobile
]


@pytest.mark.parametrize("text", NATIONAL_NUMBERS)
def test_chinese_and_korean_national_numbers(scrubber, text):
    number = text.split("：")[-1].removeprefix("연락처 ")
    assert scrubbed(scrubber, text) == text.replace(number, "<PHONE_NUMBER>")


def test_a_chinese_page_with_every_form_of_number():
    text = (
        "联系我们：手机13812345678或138 1234 5678，海外请拨+86 138 1234 5678；座机：010-87654321，"
        "上海分部电话：(021)6234-5678。邮箱service@example.cn。2024年3月15日起，价格¥12,800，订单号2024031512345678。"
    )
    expected = (
        "联系我们：手机<PHONE_NUMBER>或<PHONE_NUMBER>，海外请拨<PHONE_NUMBER>；座机：<PHONE_NUMBER>，"
        "上海分部电话：<PHONE_NUMBER>。邮箱<EMAIL_ADDRESS>。2024年3月15日起，价格¥12,800，订单号2024031512345678。"
    )
    assert scrubbed(PiiScrubber(replacement="tag"), text) == expected


def test_a_japanese_and_a_korean_page():
    japanese = (
        "〒100-0001 東京都千代田区千代田1-1 株式会社サンプル 電話03-1234-5678、携帯０９０−１２３４−５６７８、"
        "大阪06-6123-4567、海外から+81 3-1234-5678。第12345号、2024年3月15日発行、定価¥12,800（税込）。"
    )
    assert scrubbed(PiiScrubber(replacement="tag"), japanese) == (
        "〒100-0001 東京都千代田区千代田1-1 株式会社サンプル 電話<PHONE_NUMBER>、携帯<PHONE_NUMBER>、"
        "大阪<PHONE_NUMBER>、海外から<PHONE_NUMBER>。第12345号、2024年3月15日発行、定価¥12,800（税込）。"
    )
    korean = (
        "서울 본사 전화 02-123-4567, 경기 지사 031-123-4567, 휴대폰 010-1234-5678, 해외 +82 2-123-4567. 2024년 3월 15일"
    )
    assert scrubbed(PiiScrubber(replacement="tag"), korean) == (
        "서울 본사 전화 <PHONE_NUMBER>, 경기 지사 <PHONE_NUMBER>, "
        "휴대폰 <PHONE_NUMBER>, 해외 <PHONE_NUMBER>. 2024년 3월 15일"
    )


# Chinese, Japanese and Korean phone words, right against the number or before a colon.
PHONE_WORDS = ["电话", "手机", "座机", "联系", "联络", "電話", "携帯", "連絡先", "お問い合わせ",
               "연락처", "전화", "휴대폰"]  # fmt: skip


@pytest.mark.parametrize("word", PHONE_WORDS)
def test_phone_words_raise_the_score(scrubber, word):
    for text in (f"{word}010-8765-4321", f"{word}：010-8765-4321", f"本社{word} 010-8765-4321"):
        [match] = scrubber.find(text)
        assert (match.entity_type, text[match.start : match.end], match.score) == ("PHONE_NUMBER", "010-8765-4321", 0.7)
    [bare] = scrubber.find("本社 010-8765-4321")
    assert bare.score == 0.4


def test_latin_phone_words_against_cjk_letters_and_in_full_width(scrubber):
    for text in ("本社TEL：03-1234-5678", "本社ＴＥＬ：０３－１２３４－５６７８", "株式会社FAX 03-1234-5679"):
        assert [m.score for m in scrubber.find(text)] == [0.7], text


# Dates, prices, years, postal codes, order and reference numbers in CJK text: none is personal data.
LEFT_ALONE = [
    "ราคา 1,500 บาท วันที่ 12/03/2567",
    "2024年3月15日（金）10:00〜12:00",
    "２０２４年０３月１５日発売",
    "発売日：２０２４／０３／１５",
    "2024-03-15至2024-04-15",
    "价格¥12,800（税込）",
    "12,800円、1億2345万円",
    "〒100-0001東京都千代田区",
    "〒１００－０００１",
    "〒096-7993東京都千代田区",  # a valid Japanese number's shape, after the postal mark
    "郵便番号：029-6386",
    "邮编100000",
    "第12345号",
    "第1234-5678页",
    "平成31年4月30日、令和6年",
    "1998－2004年",
    "订单号2024031512345678",
    "订单号：202403151234",
    "编号：1234567890",
    "注文番号：123456789012",
    "订单号6710979519426已发货",  # Luhn-valid, Maestro's prefix and length: an order number all the same
    "주문번호 602234500762791",
    "追跡番号：5018 1234 5678 9014",
    "주문번호 1234567890",
    "2024년 3월 15일, 가격 12,800원, 우편번호 04524",
    "人口13,960,000人",
    "面积16410.54平方公里",
    "ISBN978-4-00-310101-8",
    "ISBN-10: 3942795116",
    "网址www.example.cn/page/13812345678",
]


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_dates_prices_and_references_in_cjk_text_are_left_alone(scrubber, text):
    assert scrubbed(scrubber, text) == text


def test_cjk_letters_read_as_line_breaks_offsets_kept():
    from phonenumbers import phonenumbermatcher

    masked = mask_cjk_letters("メールはinfo@example.co.jpです。電話０９０ー1234、한국어")
    assert masked == "\n\n\n\ninfo@example.co.jp\n\n。\n\n０９０ー1234、\n\n\n"
    # What phonenumbers' matcher reads as part of a number is never masked (ー only away from digits).
    number_characters = phonenumbermatcher._VALID_PUNCTUATION + phonenumbermatcher._PLUS_CHARS + "０１２３４５６７８９"
    assert not any(CJK_LETTER.match(c) for c in number_characters)
    text = "English only, 8.8.8.8 and jane@example.com"
    assert mask_cjk_letters(text) is text


def cjk_corpus(seed: int, documents: int) -> list[str]:
    """CJK prose with dates, prices and PII glued to its letters, and to Latin text, at random."""
    rng = random.Random(seed)
    letters = ["的", "是", "电话", "地址", "です", "まで", "携帯", "연락처", "으로", "号", "年", "月", "日", "円", "元"]
    others = ["2024年", "3月15日", "¥12,800", "〒100-0001", "第12345号", "，", "。", "、", " ", "\n", "ー", "1,299"]
    pii = [
        "info@example.co.jp", "13812345678", "138 1234 5678", "+86 138 1234 5678", "010-87654321", "(021)6234-5678",
        "03-1234-5678", "090-1234-5678", "０９０−１２３４−５６７８", "010-1234-5678", "02-123-4567", "+82 2-123-4567",
        "4111111111111111", "DE89370400440532013000", "8.8.8.8", "2001:4860:4860::8888", "536-22-1234",
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "jane@example", "a@b", "192.168.0.1", "abc", "x9",
    ]  # fmt: skip
    texts = []
    for _ in range(documents):
        kinds = rng.choices([letters, others, pii], [5, 3, 2], k=rng.randint(5, 80))
        texts.append("".join(rng.choice(kind) for kind in kinds))
    return texts


def test_spans_equal_a_plain_analyzer_engine_on_the_masked_text():
    # The detector's one claim for CJK text: presidio's spans on the text with CJK letters read as line
    # breaks, found from the windows alone.
    detector = PiiDetector(score_threshold=0.0)
    engine = presidio_analyzer(PATTERN_ENTITIES)
    found = 0
    for text in cjk_corpus(seed=3, documents=120):
        ours = sorted((r.entity_type, r.start, r.end, r.score) for r in detector.find(text))
        masked = mask_cjk_letters(text)
        theirs = sorted((r.entity_type, r.start, r.end, r.score) for r in engine.analyze(masked, language="en"))
        assert ours == theirs, text
        found += len(ours)
    assert found > 200


def test_a_megabyte_of_cjk_text_with_scattered_at_signs_and_digits_finishes(scrubber):
    # No timing assertion: a quadratic case would keep this test from finishing. With the letters read as
    # line breaks each hit's window is its own few characters, not the run of letters around it.
    rng = random.Random(5)
    pieces = [rng.choice("的是电话地址東京都한국어") * rng.randint(1, 40) for _ in range(60_000)]
    for i in range(0, len(pieces), 7):
        pieces[i] += rng.choice(["@", "1", "12", "2024", "13812345", "8.8.", "@a.b", "-"])
    text = "".join(pieces)[:1_000_000]
    assert len(text) == 1_000_000
    document = Document("d", "http://example.com/", text + "邮箱info@example.cn电话13812345678")
    assert scrubber.filter(document) is None
    assert document.text.endswith("邮箱<EMAIL_ADDRESS>电话<PHONE_NUMBER>")
