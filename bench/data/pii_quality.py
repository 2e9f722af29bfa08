"""PII recall and precision: the pii stage against presidio's AnalyzerEngine (same recognizers, default regions).

    python bench/data/pii_quality.py [--texts 1500] [--seed 0] [--per-type 50] [WARC ...]

1. Recall on synthetic text: Faker (pip install faker) writes PII values of every type in seven locales
   (cards of every network Faker knows, in one piece or grouped; IBANs as Faker writes them, grouped by
   four, or lower-case; phone numbers; e-mails; US SSNs; public IPv4 and IPv6), each inside a sentence with
   or without a context word. A value counts as found when a match of its type covers 80% of it.
   1b. The same in Chinese, Japanese and Korean text (Faker zh_CN, ja_JP, ko_KR): phone numbers, e-mails,
   cards, IPs and IBANs written right against CJK letters or after the languages' phone words, as such
   pages write them.
   1c. CJK text with no PII in it, dates, prices, postal codes, order and page numbers, years, populations
   and areas written as such pages write them (some in full-width digits): how many texts get a
   replacement at all.
2. presidio's own test cases for cards and IBANs (from presidio-analyzer's tests): whether each side finds
   what the test expects (presidio's IBAN recognizer is case-sensitive; ours is not, on purpose).
3. Precision on the dev pages (../shared/data/warc/dev-*.warc.gz, extracted): every replacement per type,
   ours and presidio's, and a seeded random sample of ours (up to --per-type of each type) written to
   bench/data/pii_sample.tsv with a `label` column (phone / card / iban / email / ip / no) filled in by
   hand; rerunning reads the labels back by (document, start, end) and prints precision per type.
"""

from __future__ import annotations

import argparse
import csv
import glob
import logging
import random
import sys
from collections import Counter
from pathlib import Path

from pii import extracted_texts  # this folder's neighbour (run as a script, its folder is on the path)

from webcorpus.pii.detector import PATTERN_ENTITIES, PRESIDIO_PHONE_REGIONS, presidio_analyzer
from webcorpus.pii.stage import PiiScrubber

REPO = Path(__file__).resolve().parents[2]
SAMPLE_FILE = Path(__file__).with_name("pii_sample.tsv")
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]
CARD_TYPES = ["visa13", "visa16", "visa19", "mastercard", "amex", "discover", "jcb15", "jcb16", "diners", "maestro"]
TEMPLATES = {
    "CREDIT_CARD": ["Please charge my card {} today.", "Payment made with {} on Monday.", "{}", "Card no. {}"],
    "IBAN_CODE": ["Please transfer the fee to {} by Friday.", "Kontoverbindung: {}", "{}", "account {} (bank)"],
    "PHONE_NUMBER": ["Call me at {} tomorrow.", "You can reach the office on {}.", "{}", "Tel. {}"],
    "EMAIL_ADDRESS": ["Write to {} for details.", "{}"],
    "US_SSN": ["My social security number is {}.", "{}"],
    "IP_ADDRESS": ["The server at {} did not answer.", "{}"],
}
# presidio-analyzer tests/test_credit_card_recognizer.py and tests/test_iban_recognizer.py (a selection):
# (text, whether the test expects a match).
PRESIDIO_CASES = {
    "CREDIT_CARD": [
        ("4012888888881881", True), ("4012-8888-8888-1881", True), ("4012 8888 8888 1881", True),
        ("122000000000003", True), ("371449635398431", True), ("5555555555554444", True),
        ("5019717010103742", True), ("30569309025904", True), ("6011000400000000", True),
        ("3528000700000000", True), ("6759649826438453", True), ("4111111111111111", True),
        ("4917300800000000", True), ("4484070000000000", True), ("4012-8888-8888-1882", False),
        ("my credit card number is 4012-8888-8888-1882", False), ("36168002586008", False),
    ],
    "IBAN_CODE": [
        ("AL47212110090000000235698741", True), ("AL47 2121 1009 0000 0002 3569 8741", True),
        ("AL47 212A 1009 0000 0002 3569 8741", False), ("AL47 2121 1009 0000 0002 3569 8740", False),
        ("AT611904300234573201", True), ("AT61 1904 3002 3457 3201", True), ("AT61 1904 3002 3457 3202", False),
        ("BE71 0961 2345 6769", True), ("BE6853900754703", False), ("BR97 0036 0305 0000 1000 9795 493P 1", True),
        ("CH9300762011623852957", True), ("CH93 0076 2011 6238 5295 8", False),
        ("DE89370400440532013000", True), ("DE89 3704 0044 0532 0130 00", True),
        ("DE89 A704 0044 0532 0130 00", False), ("DE89 3704 0044 0532 0130 01", False),
        ("EE38 2200 2210  014 5686", False), ("ES91 2100 0418 4502 0005 1332", True),
        ("FR14 2004 1010 0505 0001 3M02 606", True), ("GB29 NWBK 6016 1331 9268 19", True),
        ("GB29 1WBK 6016 1331 9268 19", False), ("GI75 aWBK 0000 0000 7099 453", False),
        ("IT60 X054 2811 1010 0000 0123 456", True), ("MT84 MALT 0110 0001 2345 MTLC AST0 01S", True),
        ("NL91 ABNA 0417 1643 00", True), ("NL91 1BNA 0417 1643 00", False), ("NO93 8601 1117 947", True),
        ("PL61 1090 1014 0000 0712 1981 2874", True), ("LV80 bANK 0000 4351 9500 1", False),
    ],
}  # fmt: skip
CJK_LOCALES = ["zh_CN", "ja_JP", "ko_KR"]
# entity: {locale: sentences}; the value stands right against the letters, as these languages write it.
CJK_TEMPLATES = {
    "PHONE_NUMBER": {
        "zh_CN": ["请拨打{}联系我们", "电话：{}", "手机{}。", "{}"],
        "ja_JP": ["電話{}まで", "携帯：{}", "お問い合わせはTEL {}へ", "{}"],
        "ko_KR": ["연락처 {}", "전화: {}", "{}로 연락주세요", "{}"],
    },
    "EMAIL_ADDRESS": {
        "zh_CN": ["邮箱{}。", "请发邮件至{}联系"],
        "ja_JP": ["メールは{}です", "連絡先：{}まで"],
        "ko_KR": ["이메일: {}으로", "{}로 보내세요"],
    },
    "CREDIT_CARD": {"zh_CN": ["卡号{}。"], "ja_JP": ["カード番号{}で支払い"], "ko_KR": ["카드번호 {}"]},
    "IP_ADDRESS": {"zh_CN": ["服务器{}的地址"], "ja_JP": ["IPアドレスは{}です"], "ko_KR": ["IP 주소는 {}입니다"]},
    "IBAN_CODE": {"zh_CN": ["账户{}。"], "ja_JP": ["口座{}へ"], "ko_KR": ["계좌 {}"]},
}
FULL_WIDTH = str.maketrans("0123456789-/", "０１２３４５６７８９－／")
LABELS = {"PHONE_NUMBER": "phone", "CREDIT_CARD": "card", "IBAN_CODE": "iban", "EMAIL_ADDRESS": "email",
          "IP_ADDRESS": "ip", "US_SSN": "ssn", "CRYPTO": "crypto"}  # fmt: skip


def synthetic(count: int, seed: int) -> list[tuple[str, str, int, int]]:
    """(text, entity, start, end) of one planted value each."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in LOCALES}
    for index, faker in enumerate(fakers.values()):
        faker.seed_instance(seed + index)
    rows = []
    for i in range(count):
        entity = list(TEMPLATES)[i % len(TEMPLATES)]
        faker = fakers[rng.choice(LOCALES if entity != "US_SSN" else ["en_US"])]
        if entity == "CREDIT_CARD":
            value = faker.credit_card_number(card_type=rng.choice(CARD_TYPES))
            if rng.random() < 0.5 and len(value) in (16, 19):
                value = rng.choice([" ", "-"]).join(value[j : j + 4] for j in range(0, len(value), 4))
        elif entity == "IBAN_CODE":
            value = faker.iban()
            form = rng.random()
            if form < 0.33:
                value = " ".join(value[j : j + 4] for j in range(0, len(value), 4))
            elif form < 0.5:
                value = value.lower()
        elif entity == "PHONE_NUMBER":
            value = faker.phone_number()
        elif entity == "EMAIL_ADDRESS":
            value = faker.email()
        elif entity == "US_SSN":
            value = faker.ssn()
        else:
            value = faker.ipv4_public() if rng.random() < 0.7 else faker.ipv6()
        template = rng.choice(TEMPLATES[entity])
        start = template.index("{}")
        rows.append((template.format(value), entity, start, start + len(value)))
    return rows


def cjk_synthetic(count: int, seed: int) -> list[tuple[str, str, int, int]]:
    """(text, entity, start, end) of one planted value each, in Chinese, Japanese or Korean text."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in CJK_LOCALES}
    western = Faker("en_US")  # the CJK locales know fewer card networks, and write IBANs of the wrong length
    for index, faker in enumerate([*fakers.values(), western]):
        faker.seed_instance(seed + index)
    makers = {
        "PHONE_NUMBER": lambda faker: faker.phone_number(),
        "EMAIL_ADDRESS": lambda faker: faker.email(),
        "CREDIT_CARD": lambda faker: western.credit_card_number(card_type=rng.choice(CARD_TYPES)),
        "IP_ADDRESS": lambda faker: faker.ipv4_public(),
        "IBAN_CODE": lambda faker: western.iban(),
    }
    rows = []
    for i in range(count):
        entity = list(CJK_TEMPLATES)[i % len(CJK_TEMPLATES)]
        locale = rng.choice(CJK_LOCALES)
        value = makers[entity](fakers[locale])
        template = rng.choice(CJK_TEMPLATES[entity][locale])
        start = template.index("{}")
        rows.append((template.format(value), entity, start, start + len(value)))
    return rows


def cjk_without_pii(count: int, seed: int) -> list[str]:
    """Chinese, Japanese and Korean sentences holding numbers that are not personal data."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in CJK_LOCALES}
    for index, faker in enumerate(fakers.values()):
        faker.seed_instance(seed + index)

    def digits(low: int, high: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(low, high)))

    def year() -> int:
        return rng.randint(1990, 2030)

    def month() -> int:
        return rng.randint(1, 12)

    def day() -> int:
        return rng.randint(1, 28)

    def full_width(text: str, share: float) -> str:
        return text.translate(FULL_WIDTH) if rng.random() < share else text

    makers = [
        lambda: f"会议于{year()}年{month()}月{day()}日举行",
        lambda: f"{year()}年{month():02}月{day():02}日（金）{rng.randint(9, 18)}:00〜{rng.randint(9, 18)}:30に開催",
        lambda: full_width(f"発売日：{year()}/{month():02}/{day():02}", 0.5),
        lambda: f"{year()}-{month():02}-{day():02}至{year()}-{month():02}-{day():02}",
        lambda: f"价格¥{rng.randint(100, 999_999):,}（税込）",
        lambda: f"定価{rng.randint(100, 9_999_999):,}円",
        lambda: f"售价{rng.randint(10, 99_999)}.{rng.randint(0, 99):02}元",
        lambda: f"가격 {rng.randint(1_000, 9_999_999):,}원",
        lambda: full_width(f"〒{fakers['ja_JP'].postcode()}東京都千代田区", 0.3),
        lambda: f"邮编{fakers['zh_CN'].postcode()}北京市",
        lambda: f"우편번호 {fakers['ko_KR'].postcode()} 서울",
        lambda: f"订单号{digits(10, 20)}已发货",
        lambda: f"注文番号：{digits(9, 16)}",
        lambda: f"주문번호 {digits(9, 16)}",
        lambda: f"第{digits(1, 6)}号",
        lambda: f"第{rng.randint(1, 999)}-{rng.randint(1000, 9999)}页",
        lambda: f"{year()}年至{year()}年",
        lambda: f"人口{rng.randint(10_000, 99_999_999):,}人",
        lambda: f"面积{rng.randint(100, 99_999)}.{rng.randint(0, 99):02}平方公里",
        lambda: f"{year()}년 {month()}월 {day()}일",
    ]
    return [rng.choice(makers)() for _ in range(count)]


def covered(results, entity: str, start: int, end: int) -> bool:
    return any(
        r.entity_type == entity and min(end, r.end) - max(start, r.start) >= 0.8 * (end - start) for r in results
    )


def recall(rows, analyze) -> dict[str, tuple[int, int]]:
    found: Counter = Counter()
    total: Counter = Counter()
    for text, entity, start, end in rows:
        total[entity] += 1
        found[entity] += covered(analyze(text), entity, start, end)
    return {entity: (found[entity], total[entity]) for entity in total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dev_warcs = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    parser.add_argument("warcs", nargs="*", default=dev_warcs)
    parser.add_argument("--texts", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-type", type=int, default=50, help="replacements sampled per type")
    args = parser.parse_args()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    ours = PiiScrubber()
    engine = presidio_analyzer(PATTERN_ENTITIES, PRESIDIO_PHONE_REGIONS)  # presidio as it ships

    def presidio(text: str):
        return engine.analyze(text, language="en", score_threshold=ours.score_threshold)

    rows = synthetic(args.texts, args.seed)
    ours_recall, presidio_recall = recall(rows, ours.find), recall(rows, presidio)
    print(f"1. Recall on {len(rows)} synthetic texts (Faker, {', '.join(LOCALES)}):")
    print(f"   {'type':<15}{'webcorpus':>18}{'presidio':>18}")
    for entity in TEMPLATES:
        (a, n), (b, _) = ours_recall[entity], presidio_recall[entity]
        print(f"   {entity:<15}{a:>8}/{n:<4} {a / n:.3f}{b:>8}/{n:<4} {b / n:.3f}")
    a, b, n = (sum(v[0] for v in r.values()) for r in (ours_recall, presidio_recall, ours_recall))
    n = sum(v[1] for v in ours_recall.values())
    print(f"   {'all':<15}{a:>8}/{n:<4} {a / n:.3f}{b:>8}/{n:<4} {b / n:.3f}")

    cjk_rows = cjk_synthetic(args.texts // 3, args.seed)
    ours_recall, presidio_recall = recall(cjk_rows, ours.find), recall(cjk_rows, presidio)
    print(f"\n1b. Recall on {len(cjk_rows)} CJK synthetic texts ({', '.join(CJK_LOCALES)}):")
    print(f"   {'type':<15}{'webcorpus':>18}{'presidio':>18}")
    for entity in CJK_TEMPLATES:
        (a, n), (b, _) = ours_recall[entity], presidio_recall[entity]
        print(f"   {entity:<15}{a:>8}/{n:<4} {a / n:.3f}{b:>8}/{n:<4} {b / n:.3f}")
    a, b = (sum(v[0] for v in r.values()) for r in (ours_recall, presidio_recall))
    n = sum(v[1] for v in ours_recall.values())
    print(f"   {'all':<15}{a:>8}/{n:<4} {a / n:.3f}{b:>8}/{n:<4} {b / n:.3f}")
    missed = [(text, entity) for text, entity, s, e in cjk_rows if not covered(ours.find(text), entity, s, e)]
    for text, entity in missed[:8]:
        print(f"     webcorpus misses {entity} in {text!r}")

    negatives = cjk_without_pii(args.texts // 3, args.seed)
    ours_hits = [(t, [(r.entity_type, t[r.start : r.end]) for r in ours.find(t)]) for t in negatives]
    ours_hits = [(t, found) for t, found in ours_hits if found]
    presidio_hits = sum(1 for t in negatives if presidio(t))
    print(f"\n1c. {len(negatives)} CJK texts without PII (dates, prices, postal codes, order numbers...) with a "
          f"replacement: webcorpus {len(ours_hits)}, presidio {presidio_hits}")  # fmt: skip
    for text, found in ours_hits[:8]:
        print(f"     webcorpus replaces {found} in {text!r}")

    print("\n2. presidio's own test cases (agreeing with the test's expectation):")
    for entity, cases in PRESIDIO_CASES.items():
        agree_ours = sum(any(r.entity_type == entity for r in ours.find(t)) == want for t, want in cases)
        agree_presidio = sum(any(r.entity_type == entity for r in presidio(t)) == want for t, want in cases)
        print(f"   {entity:<15} webcorpus {agree_ours}/{len(cases)}, presidio {agree_presidio}/{len(cases)}")
        for text, want in cases:
            if any(r.entity_type == entity for r in ours.find(text)) != want:
                expected = "a match" if want else "none"
                print(f"     webcorpus differs from the test on {text!r} (test expects {expected})")

    if not args.warcs:
        sys.exit("\n3. skipped: no WARC files given and none under ../shared/data/warc")
    texts = extracted_texts(args.warcs)
    ours_found = [(i, r) for i, text in enumerate(texts) for r in ours.find(text)]
    presidio_counts = Counter(r.entity_type for text in texts for r in presidio(text))
    ours_counts = Counter(r.entity_type for _, r in ours_found)
    print(f"\n3. Replacements on {len(texts)} extracted dev pages: webcorpus {dict(sorted(ours_counts.items()))}, "
          f"presidio {dict(sorted(presidio_counts.items()))}")  # fmt: skip
    labelled = {}
    if SAMPLE_FILE.exists():
        with SAMPLE_FILE.open() as f:
            rows_read = csv.DictReader(f, delimiter="\t")
            labelled = {(int(r["document"]), int(r["start"]), int(r["end"])): r for r in rows_read}
    rng = random.Random(args.seed)
    sample = []
    for entity in sorted(ours_counts):
        of_type = [k for k, (_, r) in enumerate(ours_found) if r.entity_type == entity]
        sample += rng.sample(of_type, min(args.per_type, len(of_type)))
    sample.sort()
    out = []
    for k in sample:
        i, r = ours_found[k]
        key = (i, r.start, r.end)
        context = texts[i][max(0, r.start - 50) : r.end + 30].replace("\n", " ").replace("\t", " ")
        label = labelled.get(key, {}).get("label", "")
        out.append({"document": i, "start": r.start, "end": r.end, "type": r.entity_type,
                    "value": texts[i][r.start : r.end], "context": context, "label": label})  # fmt: skip
    with SAMPLE_FILE.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(out[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(out)
    print(f"   sample of {len(out)} of our replacements: {SAMPLE_FILE}")
    by_type: dict[str, list[bool]] = {}
    for row in out:
        if row["label"]:
            by_type.setdefault(row["type"], []).append(row["label"] == LABELS[row["type"]])
    for entity, verdicts in sorted(by_type.items()):
        print(f"   precision {entity:<15} {sum(verdicts)}/{len(verdicts)} = {sum(verdicts) / len(verdicts):.3f}")
    unlabelled = sum(1 for row in out if not row["label"])
    if unlabelled:
        print(f"   {unlabelled} rows have no label yet: fill in the label column by hand and rerun")


if __name__ == "__main__":
    main()
