#!/usr/bin/env python3
"""Writes tests/text/data/python_unicode.txt: the Unicode facts of the CLIP reference path as Python 3.11
(unicodedata 14.0) states them, for the test that pins our ICU-based functions (unicode_text.cpp) to them.

Lines: "<property> <first>-<last> ..." (hex ranges) for assigned (category not Cn), letter (L*), number (N*),
space (str.isspace), word (re \\w), decimal (re \\d); "lower <cp> <cp>..." where str.lower() changes a character;
"nfc <cp> <cp>..." where NFC changes a character; "nfd <cp> <nfd cps> / <nfc cps>" for each character with a
canonical decomposition (Hangul syllables excepted: ICU computes them), so composition is checked too;
"ignorecase_skipped <ranges>": the non-space characters that SimpleTokenizer's pattern, compiled with IGNORECASE by
the `regex` module, matches with none of [\\p{L}], [\\p{N}], [^\\s\\p{L}\\p{N}] (so findall skips them).

Run: python3 plugins/flux/text/tools/gen_pinned_unicode.py > tests/text/data/python_unicode.txt
"""
import re
import sys
import unicodedata

import regex

CHARS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def ranges(name, pred):
    out, start, prev = [], None, None
    for c in CHARS:
        if pred(chr(c)):
            if start is None or c != prev + 1:
                if start is not None:
                    out.append((start, prev))
                start = c
            prev = c
    if start is not None:
        out.append((start, prev))
    print(name + " " + " ".join(f"{a:X}-{b:X}" for a, b in out))


def hexes(s):
    return " ".join(f"{ord(ch):X}" for ch in s)


word, digit = re.compile(r"\w"), re.compile(r"\d")
print(f"# Python {sys.version.split()[0]}, unicodedata {unicodedata.unidata_version}, regex {regex.__version__}; "
      "written by plugins/flux/text/tools/gen_pinned_unicode.py")
ranges("assigned", lambda ch: unicodedata.category(ch) != "Cn")
ranges("letter", lambda ch: unicodedata.category(ch).startswith("L"))
ranges("number", lambda ch: unicodedata.category(ch).startswith("N"))
ranges("space", str.isspace)
ranges("word", lambda ch: word.match(ch) is not None)
ranges("decimal", lambda ch: digit.match(ch) is not None)
classes = [regex.compile(p, regex.IGNORECASE) for p in (r"[\p{L}]", r"[\p{N}]", r"[^\s\p{L}\p{N}]")]
ranges("ignorecase_skipped", lambda ch: not ch.isspace() and not any(c.match(ch) for c in classes))
for c in CHARS:
    ch = chr(c)
    if ch.lower() != ch:
        print(f"lower {c:X} {hexes(ch.lower())}")
for c in CHARS:
    ch = chr(c)
    if unicodedata.normalize("NFC", ch) != ch:
        print(f"nfc {c:X} {hexes(unicodedata.normalize('NFC', ch))}")
for c in CHARS:
    ch = chr(c)
    d = unicodedata.normalize("NFD", ch)
    if d != ch and not 0xAC00 <= c <= 0xD7A3:
        print(f"nfd {c:X} {hexes(d)} / {hexes(unicodedata.normalize('NFC', d))}")
