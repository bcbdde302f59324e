#!/usr/bin/env python3
"""status_page_check.py: checks the status page (GET / on a replica's status
port) as headless Chromium rendered it, for test_status_page.sh.

    status_page_check.py dom DOM_FILE NREPLICAS MASTER_ID SELF_ID MIN_POINTS MIN_REFRESHES
    status_page_check.py png PNG_FILE WIDTH HEIGHT

dom: the DOM Chromium dumped after the page's scripts ran: one row per
replica in table#replicas, exactly one of them the master (the one the cell
names), this replica's row marked, sessions and locks shown, the commit
latency chart (svg#commit-chart) with at least MIN_POINTS data points,
nothing loaded from elsewhere (no external scripts, styles or images), and
the page's own script refreshed it at least MIN_REFRESHES times (<body
data-refreshed>: the inline script ran and fetched from its origin under
the page's Content-Security-Policy).
png: Chromium's screenshot is a PNG of WIDTH x HEIGHT that is not blank
(decoded here with zlib: the filters undone, the colours counted).
"""
import html.parser
import struct
import sys
import zlib


class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack = []
        self.rows = []          # attrs of tr in table#replicas tbody
        self.points = []        # attrs of circle.pt in svg#commit-chart
        self.ids = {}           # id -> text inside
        self.external = []
        self.chart = False
        self._text_for = []
        self.refreshed = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.refreshed = a.get("data-refreshed")
        ctx = [t for t, _ in self.stack]
        ids = [x.get("id") for _, x in self.stack]
        if tag == "tr" and "replicas" in ids and "tbody" in ctx:
            self.rows.append(a)
        if tag == "svg" and a.get("id") == "commit-chart":
            self.chart = True
        if tag == "circle" and "commit-chart" in ids and "pt" in (a.get("class") or "").split():
            self.points.append(a)
        for attr in ("src", "href"):
            v = a.get(attr) or ""
            if tag in ("script", "img", "link", "iframe", "embed", "object", "source") and v and not v.startswith("data:"):
                self.external.append((tag, attr, v))
        if "id" in a:
            self.ids[a["id"]] = ""
            self._text_for.append((a["id"], len(self.stack)))
        if tag not in ("br", "img", "meta", "link", "input", "circle", "polyline", "line", "path", "rect"):
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        self._text_for = [(k, d) for k, d in self._text_for if d < len(self.stack)]

    def handle_data(self, data):
        for k, _ in self._text_for:
            self.ids[k] += data


def check_dom(path, n, master, self_id, min_points, min_refreshes):
    d = Dom()
    d.feed(open(path, encoding="utf-8").read())
    res = []
    res.append((len(d.rows) == n, f"{len(d.rows)} replica rows, want {n}: {d.rows}"))
    masters = [r for r in d.rows if r.get("data-role") == "master"]
    res.append((len(masters) == 1, f"exactly one master row: {[r.get('data-id') for r in masters]}"))
    res.append((len(masters) == 1 and masters[0].get("data-id") == str(master),
                f"the master row is replica {master}"))
    selfs = [r for r in d.rows if "self" in (r.get("class") or "").split()]
    res.append((len(selfs) == 1 and selfs[0].get("data-id") == str(self_id),
                f"this replica's row ({self_id}) is marked: {selfs}"))
    res.append((sorted(r.get("data-id") for r in d.rows) == [str(i) for i in range(1, n + 1)],
                "rows for replicas 1..n"))
    for k in ("sessions", "locks", "applied", "epoch"):
        v = d.ids.get(k, "").strip()
        res.append((v.isdigit(), f"#{k} shows a number: {v!r}"))
    res.append((d.chart, "the commit latency chart (svg#commit-chart) is there"))
    res.append((len(d.points) >= min_points,
                f"the chart has {len(d.points)} data points, want >= {min_points}"))
    ok = all(p.get("data-ms", "").replace(".", "", 1).isdigit() for p in d.points)
    res.append((ok, "every point carries its latency (data-ms)"))
    res.append((not d.external, f"nothing loaded from elsewhere: {d.external}"))
    r = d.refreshed or ""
    res.append((r.isdigit() and int(r) >= min_refreshes,
                f"the page's script ran and refreshed it {r!r} times, want >= {min_refreshes}"))
    return res


def png_pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        ln, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + ln]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + ln
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unexpected PNG format {hdr}")
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    prev, rows = bytearray(stride), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def check_png(path, want_w, want_h):
    w, h, bpp, rows = png_pixels(path)
    res = [((w, h) == (want_w, want_h), f"the screenshot is {w}x{h}, want {want_w}x{want_h}")]
    colours, background, total = {}, None, 0
    for row in rows[::4]:
        for x in range(0, len(row), bpp * 4):
            px = row[x:x + 3]
            colours[px] = colours.get(px, 0) + 1
            total += 1
    background, nb = max(colours.items(), key=lambda kv: kv[1])
    res.append((len(colours) >= 8, f"{len(colours)} colours in the screenshot (blank pages have 1)"))
    res.append((total - nb >= total // 100,
                f"{total - nb} of {total} sampled pixels differ from the background {background.hex()}"))
    return res


def main():
    if sys.argv[1] == "dom":
        res = check_dom(sys.argv[2], *(int(a) for a in sys.argv[3:8]))
    else:
        res = check_png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    for ok, what in res:
        print(("ok - " if ok else "FAIL - ") + what)
    bad = sum(1 for ok, _ in res if not ok)
    print(f"status_page_check: passed={len(res) - bad} failed={bad}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
