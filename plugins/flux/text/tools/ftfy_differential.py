#!/usr/bin/env python3
"""Differential test of our ftfy.fix_text against the real ftfy 6.3.1 (development tool, not run by CTest).

Generates a corpus of hostile and mixed strings (mojibake of many languages through latin-1, windows-125x,
iso-8859-2, MacRoman and cp437, once or twice, whole or in part, with no-break spaces turned into spaces or lossy
bytes; mixed good and bad text; HTML entities and tags; curly quotes, ligatures, full-/half-width forms; C1 and C0
controls, terminal escapes, line breaks; decomposed accents; emoji sequences), runs ftfy on it and a driver that
prints our result for each string, and reports agreement.

  PYTHONPATH=<ftfy 6.3.1 source> python3 ftfy_differential.py --driver build/bin/genplug_ftfy_driver
      [--count N] [--seed S] [--write-cases tests/golden/tokenizers/ftfy_cases.json --keep 300]
      [--clip-tokenizer DIR --vocabulary bpe_simple_vocab_16e6.txt.gz]

The driver (tools/ftfy_driver.cpp, target genplug_ftfy_driver) takes a JSON file holding an array of strings and
prints a JSON array of fixed strings. With --clip-tokenizer (a folder holding OpenAI CLIP's simple_tokenizer.py)
the whole CLIP path is compared instead: SimpleTokenizer.encode against the driver's ids.
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
import unicodedata

import ftfy

BASES = [
    "The café on the corner serves crème brûlée and piña colada",
    "naïve résumé — déjà vu at the fiancée's soirée",
    "Größe, Übermut und Straße in München",
    "¿Dónde está el niño? ¡Qué año más extraño!",
    "Ação, coração e informação em São Paulo",
    "Zażółć gęślą jaźń, Łódź i Kraków",
    "Příliš žluťoučký kůň úpěl ďábelské ódy",
    "İstanbul'da ağaçlar, şehir ve güzel çiçekler",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον σκύλο",
    "Съешь же ещё этих мягких французских булок",
    "Ґанок, їжак і євшан-зілля в Україні",
    "مرحبا بالعالم، هذا نص عربي للاختبار",
    "שלום עולם, זהו טקסט בעברית",
    "नमस्ते दुनिया, यह हिंदी में एक परीक्षण है",
    "一只敏捷的棕色狐狸跳过了懒狗",
    "素早い茶色の狐がのろまな犬を飛び越える、カタカナ",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다",
    "สวัสดีชาวโลก ภาษาไทย",
    "Tiếng Việt có dấu: người, đường, phở",
    "Ørsted, Æsir and Ålesund in Norway",
    "Mañana — “quoted” ‘text’ … €5 £3 ¥7 ©2024 ™ ®",
    "family 👨‍👩‍👧‍👦, thumbs 👍🏽, flag 🇯🇵, 🏴󠁧󠁢󠁳󠁣󠁴󠁿, heart ❤️",
    "temperature 25°C ± 0.5, ½ cup, x² + y³, µm, ×÷",
    "a lighthouse at dusk, oil painting, 4k",
    "Bjørk’s “Vespertine” — 2001",
    "à la carte, voilà, à bientôt",
    "Ñandú, Ñoño, AÑO",
    "Œuvre, cœur, sœur, bœuf",
    "Ĳssel, ŉ, ǅ, ﬁne ﬂowers ﬀ ﬃ ﬄ ﬅ ﬆ",
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ ｱｲｳｴｵ ﾊﾟ ￥１２３",
]
ENCODINGS = ["latin-1", "cp1252", "cp1251", "cp1250", "cp1253", "cp1254", "cp1257", "iso-8859-2", "mac-roman",
             "cp437"]
DECOR = ["&amp;", "&lt;", "&gt;", "&quot;", "&eacute;", "&EACUTE;", "&Ntilde;", "&NTILDE;", "&nTILDE;", "&#233;",
         "&#x1F600;", "&#128512;", "&#0;", "&#x80;", "&#150;", "&#xD800;", "&not", "&notit;", "&amp;amp;", "<b>",
         "</i>", "\u201c", "\u201d", "\u2018", "\u2019", "\u02bc", "\u201e", "\ufb01", "\ufb02", "\u0133",
         "\uff21", "\uff41", "\u3000", "\uff71", "\uff9e", "\x80", "\x81", "\x85", "\x8d", "\x93", "\x94", "\x9d",
         "\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\r\n", "\r",
         "\n", "\u2028", "\u2029", "\ufeff", "\u200b", "\u200d", "\u206a", "\ufff9", "\ufffc", "\ufffd", "\U000e0041",
         "\xa0", "\xad", "e\u0301", "A\u030a", "\u1100\u1161", "\u0928\u093c", "\u00c3", "\u00c2", " ", "\t",
         "\U0001d173", "\u0130", "\u03a3", "<", "&"]


def mojibake(s, rng):
    enc = rng.choice(ENCODINGS)
    b = s.encode("utf-8")
    mode = rng.random()
    if mode < 0.6:
        out = b.decode(enc, errors="replace")
    elif mode < 0.8:  # sloppy: undefined bytes as latin-1
        out = "".join(bytes([x]).decode(enc, errors="replace") if bytes([x]).decode(enc, errors="replace") != "\ufffd"
                      else chr(x) for x in b)
    else:  # lossy: undefined bytes dropped to '?'
        out = b.decode(enc, errors="replace").replace("\ufffd", rng.choice(["?", "\ufffd", "\x1a"]))
    if rng.random() < 0.2:
        out = out.replace("\xa0", " ")
    return out


def alphabet():
    """Every character of ftfy's mojibake and UTF-8-clue classes and of the code pages, plus ASCII and a few others."""
    chars = set()
    for enc in ENCODINGS:
        chars.update(bytes(range(128, 256)).decode(enc, errors="ignore"))
    chars.update(chr(c) for c in range(0x20, 0x7F))
    chars.update("\n\t\xa0\u2028\ufffd\x1a\x80\x9f\u0300\u0301")
    return sorted(chars)


ALPHABET = alphabet()


def noise(rng):
    """Random bytes in a UTF-8-like structure read through a code page, or random characters of the alphabet."""
    if rng.random() < 0.5:
        b = bytearray()
        for _ in range(rng.randint(1, 12)):
            lead = rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xC2, 0xDF), rng.randint(0xE0, 0xEF),
                               rng.randint(0xF0, 0xF4), rng.randint(0x80, 0xFF), 0xC0, 0xED, 0xC3, 0xC2, 0xE2])
            b.append(lead)
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                b.append(rng.choice([rng.randint(0x80, 0xBF), 0xA0, 0x20, 0x1A, 0x3F, 0x80]))
        return mojibake_bytes(bytes(b), rng)
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 10)))


def mojibake_bytes(b, rng):
    enc = rng.choice(ENCODINGS)
    return "".join(bytes([x]).decode(enc, errors="replace") if bytes([x]).decode(enc, errors="replace") != "\ufffd"
                   else chr(x) for x in b)


def sample(rng):
    if rng.random() < 0.3:
        return "".join(noise(rng) if rng.random() < 0.6 else rng.choice(BASES)[:rng.randint(0, 12)]
                       for _ in range(rng.randint(1, 4)))
    parts = []
    for _ in range(rng.randint(1, 4)):
        base = rng.choice(BASES)
        if rng.random() < 0.5:
            a = rng.randrange(len(base))
            base = base[a:a + rng.randint(1, 40)]
        r = rng.random()
        if r < 0.45:
            base = mojibake(base, rng)
            if rng.random() < 0.15:
                base = mojibake(base, rng)
        elif r < 0.55:
            base = unicodedata.normalize("NFD", base)
        parts.append(base)
        for _ in range(rng.randint(0, 3)):
            parts.append(rng.choice(DECOR))
    rng.shuffle(parts) if rng.random() < 0.3 else None
    return (rng.choice(["", " ", ""])).join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write-cases")
    ap.add_argument("--keep", type=int, default=300)
    ap.add_argument("--clip-tokenizer")
    ap.add_argument("--vocabulary")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    corpus = [sample(rng) for _ in range(args.count)]
    if args.clip_tokenizer:
        sys.path.insert(0, args.clip_tokenizer)
        from simple_tokenizer import SimpleTokenizer  # noqa: E402
        tok = SimpleTokenizer(args.vocabulary)
        expected = [tok.encode(s) for s in corpus]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(corpus, f)
        got = json.loads(subprocess.run([args.driver, f.name, args.vocabulary], check=True,
                                        capture_output=True).stdout)
        bad = [(s, e, g) for s, e, g in zip(corpus, expected, got) if e != g]
        print(f"CLIP ids: strings {len(corpus)}, equal {len(corpus) - len(bad)}, differ {len(bad)}")
        for s, e, g in bad[:15]:
            print("IN ", ascii(s)), print("REF", e), print("US ", g), print()
        return 1 if bad else 0
    expected = [ftfy.fix_text(s) for s in corpus]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(corpus, f)
    got = json.loads(subprocess.run([args.driver, f.name], check=True, capture_output=True).stdout)
    bad = [(s, e, g) for s, e, g in zip(corpus, expected, got) if e != g]
    changed = sum(1 for s, e in zip(corpus, expected) if s != e)
    print(f"strings {len(corpus)}, equal {len(corpus) - len(bad)}, differ {len(bad)}; ftfy changed {changed}")
    for s, e, g in bad[:15]:
        print("IN ", ascii(s)), print("FT ", ascii(e)), print("US ", ascii(g)), print()
    if args.write_cases:
        # The interesting cases: two thirds whose mojibake ftfy repairs (fix_encoding changes them), one third
        # that other fixers change beyond NFC; short ones first, so the file stays readable.
        pairs = sorted(set(zip(corpus, expected)), key=lambda p: (len(p[0]), p[0]))
        mojibake = [p for p in pairs if ftfy.fix_encoding(p[0]) != p[0]]
        other = [p for p in pairs if ftfy.fix_encoding(p[0]) == p[0] and p[1] != unicodedata.normalize("NFC", p[0])]
        n_moji = args.keep * 2 // 3
        cases = rng.sample(mojibake, min(n_moji, len(mojibake))) + rng.sample(other, min(args.keep - n_moji, len(other)))
        with open(args.write_cases, "w", encoding="utf-8") as out:
            json.dump({"meta": {"generator": "plugins/flux/text/tools/ftfy_differential.py",
                                "seed": args.seed, "count": args.count, "ftfy": "6.3.1 @74dd0452",
                                "python": sys.version.split()[0]},
                       "cases": [{"input": s, "ftfy": e} for s, e in cases]}, out, ensure_ascii=True, indent=0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
