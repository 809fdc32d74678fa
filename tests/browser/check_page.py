#!/usr/bin/env python3
"""Renders report.html in headless Chromium, takes a screenshot, and fails on
a JavaScript error, a failed resource load, a reference to the network, or a
blank render (too few distinct colors in the screenshot).

    python3 tests/browser/check_page.py OUT/report.html --screenshot report.png
    python3 tests/browser/check_page.py --self-test   # the checker catches bad pages

Standard library only (the PNG is decoded here). Chromium: Debian package
`chromium` (or set CHROMIUM=/path/to/chrome).
"""

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# Logs every resource that fails to load (img, link, script, iframe, ...): the
# error event does not bubble, but window sees it in the capture phase.
PROBE = (
    "<script>window.addEventListener('error',function(e){var t=e.target;"
    "if(t&&t!==window&&(t.src||t.href)){console.error('CHLOE_RESOURCE_FAIL '+(t.src||t.href));}},true);"
    "</script>"
)
# Attributes and CSS that would make the page load something from elsewhere.
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|xlink:href|data|poster|action)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import)""",
    re.IGNORECASE,
)
MIN_COLORS = 16


def chromium() -> str:
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        sys.exit("check_page: no chromium found (apt-get install chromium, or set CHROMIUM)")
    return exe


def png_pixels(path: str, max_rows=None):
    """Width, height and the first `max_rows` rows (all by default) of an
    8-bit RGB/RGBA PNG, as bytearrays; a row's filter needs only the rows above."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace:
                raise ValueError(f"{path}: unsupported PNG (depth {depth}, color type {color})")
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height if max_rows is None else min(height, max_rows)):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    return width, height, rows, bpp


def distinct_colors(path: str, step: int = 3, max_rows: int = 3000) -> int:
    """Distinct colors on a grid of every `step`-th pixel of the top `max_rows` rows
    (a blank render is blank at the top too; decoding in pure Python is slow)."""
    width, _, rows, bpp = png_pixels(path, max_rows)
    seen = set()
    for y in range(0, len(rows), step):
        line = rows[y]
        for x in range(0, width, step):
            seen.add(bytes(line[x * bpp : x * bpp + 3]))
    return len(seen)


def check(page: str, screenshot: str, width: int, height: int) -> list:
    """Problems found; empty when the page passes."""
    problems = []
    with open(page, encoding="utf-8") as f:
        html = f.read()
    for m in EXTERNAL.finditer(html):
        problems.append(f"reference to the network: {html[max(0, m.start() - 20) : m.end() + 40]!r}")
    with tempfile.TemporaryDirectory() as tmp:
        probed = os.path.join(tmp, os.path.basename(page))
        # The page is checked beside its own folder's files, with the probe first in <head>.
        html_probed = re.sub(r"<head>", "<head>" + PROBE, html, count=1) if "<head>" in html else PROBE + html
        with open(probed, "w", encoding="utf-8") as f:
            f.write(html_probed)
        for name in os.listdir(os.path.dirname(os.path.abspath(page))):
            src = os.path.join(os.path.dirname(os.path.abspath(page)), name)
            if os.path.isfile(src) and name != os.path.basename(page) and not name.endswith(".parquet"):
                shutil.copy(src, os.path.join(tmp, name))
        cmd = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            # Any request to a host fails (and is reported), as it would offline.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=5000",
            f"--window-size={width},{height}",
            f"--screenshot={os.path.abspath(screenshot)}",
            "file://" + os.path.abspath(probed),
        ]
        env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", tmp))
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        except subprocess.TimeoutExpired:
            return problems + ["chromium did not finish within 120 s"]
    log = r.stdout + r.stderr
    for line in log.splitlines():
        if "CHLOE_RESOURCE_FAIL" in line:
            problems.append("failed resource load: " + line.split("CHLOE_RESOURCE_FAIL", 1)[1].split('"')[0].strip())
        elif ":CONSOLE" in line and ("Uncaught" in line or "Error" in line):
            problems.append("JavaScript error: " + line.split("]", 1)[-1].strip())
    if r.returncode != 0 or not os.path.isfile(screenshot):
        problems.append(f"chromium exited {r.returncode} without a screenshot:\n{log[-2000:]}")
        return problems
    n = distinct_colors(screenshot)
    if n < MIN_COLORS:
        problems.append(f"blank render: {n} distinct colors in the screenshot (at least {MIN_COLORS} expected)")
    return problems


def self_test() -> int:
    """The checker must fail a page with a JS error, a missing file, a network
    reference and a blank page, and pass a small page with colors."""
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "js_error": ("<html><head></head><body><h1 style='color:red'>x</h1><svg width='300' height='60'>"
                         + "".join(f"<rect x='{i*10}' width='10' height='60' fill='rgb({i*8},{100+i*4},{200-i*6})'/>" for i in range(30))
                         + "</svg><script>undefinedFn();</script></body></html>", "JavaScript error"),
            "missing_file": ("<html><head></head><body><img src='missing.png'>"
                             + "".join(f"<b style='color:rgb({i*8},0,{255-i*8})'>x</b>" for i in range(30))
                             + "</body></html>", "failed resource load"),
            "network": ("<html><head><link rel='stylesheet' href='https://cdn.example.com/x.css'></head><body>y</body></html>",
                        "reference to the network"),
            "blank": ("<html><head></head><body style='background:#fff'></body></html>", "blank render"),
        }
        failed = 0
        for name, (html, expect) in cases.items():
            page = os.path.join(tmp, name, "report.html")
            os.makedirs(os.path.dirname(page))
            with open(page, "w") as f:
                f.write(html)
            problems = check(page, os.path.join(tmp, name + ".png"), 400, 300)
            ok = any(p.startswith(expect) for p in problems)
            print(f"self-test {name}: {'caught' if ok else 'MISSED'} ({'; '.join(problems)[:200]})")
            failed += not ok
        good = os.path.join(tmp, "good", "report.html")
        os.makedirs(os.path.dirname(good))
        with open(good, "w") as f:
            f.write(cases["js_error"][0].replace("<script>undefinedFn();</script>", ""))
        problems = check(good, os.path.join(tmp, "good.png"), 400, 300)
        print(f"self-test good page: {'passed' if not problems else 'FAILED: ' + '; '.join(problems)}")
        failed += bool(problems)
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page", nargs="?", help="report.html to check")
    ap.add_argument("--screenshot", default="report.png", help="PNG to write (default report.png)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=10000, help="window height: the whole nightly page")
    ap.add_argument("--self-test", action="store_true", help="check that bad pages are caught")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.page:
        ap.error("give a report.html or --self-test")
    problems = check(a.page, a.screenshot, a.width, a.height)
    for p in problems:
        print("check_page:", p, file=sys.stderr)
    if problems:
        return 1
    print(f"check_page: {a.page} renders ({distinct_colors(a.screenshot)} colors), screenshot {a.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
