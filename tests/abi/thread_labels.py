#!/usr/bin/env python3
"""Every function of the C ABI carries one thread label from context.h's closed vocabulary.

For each function pointer (a struct member `(*name)(` or a typedef `(*name_fn)(`) in the public C headers, the doc
comment right above it must end with `[thread: control]`, `[thread: render]`, `[thread: any]` or
`[thread: caller]`; and no `[thread: ...]` anywhere in the headers may be outside that vocabulary (a label such as
`[thread: control; may be slow]` had gone unnoticed).

  thread_labels.py HEADER_DIR
"""
import glob
import os
import re
import sys

VOCABULARY = ("control", "render", "any", "caller")
LABEL = re.compile(r"\[thread:[^\]]*\]")
VALID = re.compile(r"\[thread: (%s)\]" % "|".join(VOCABULARY))
FUNCTION = re.compile(r"\(\*\s*(\w+)\s*\)\s*\(")


def preceding_comment(text, position):
    """The /** ... */ comment that ends right before `position` (only whitespace between), or None."""
    before = text[:position].rstrip()
    if not before.endswith("*/"):
        return None
    start = before.rfind("/*")
    return before[start:] if start >= 0 else None


def check(path):
    text = open(path, encoding="utf-8").read()
    problems = []
    line_of = lambda pos: text.count("\n", 0, pos) + 1
    for m in LABEL.finditer(text):
        if not VALID.fullmatch(m.group(0)):
            problems.append(f"{path}:{line_of(m.start())}: '{m.group(0)}' is not in the vocabulary {VOCABULARY}")
    for m in FUNCTION.finditer(text):
        # The declaration starts at the beginning of its line (its return type), which the comment precedes.
        start = text.rfind("\n", 0, m.start()) + 1
        comment = preceding_comment(text, start)
        where = f"{path}:{line_of(m.start())}: {m.group(1)}"
        if comment is None:
            problems.append(f"{where}: no doc comment right above it")
            continue
        labels = list(LABEL.finditer(comment))
        if not labels:
            problems.append(f"{where}: its comment has no thread label")
        elif comment[labels[-1].end():].strip() != "*/":
            problems.append(f"{where}: its comment does not end with its thread label")
    return problems, len(FUNCTION.findall(text))


def main():
    headers = sorted(glob.glob(os.path.join(sys.argv[1], "*.h")))
    if not headers:
        sys.exit(f"thread_labels: no headers in {sys.argv[1]}")
    problems, functions = [], 0
    for h in headers:
        p, n = check(h)
        problems += p
        functions += n
    for p in problems:
        print(p)
    if problems or functions == 0:
        sys.exit(f"thread_labels: {len(problems)} problem(s) in {functions} functions of {len(headers)} headers")
    print(f"thread_labels: {functions} functions in {len(headers)} headers, each labelled from {VOCABULARY}")


if __name__ == "__main__":
    main()
