"""Saves the top-level X11 window titled TITLE as a PNG, as it is on screen (what a user
sees): the native window's screenshots, which no WebDriver takes.

    python3 screenshot.py TITLE PATH     exits 0 once saved, 1 if no such window is viewable

Needs python-xlib; DISPLAY says which X server. The PNG is written with zlib alone.
"""
import struct
import sys
import zlib

from Xlib import X, display


def find(d, title):
    for window in d.screen().root.query_tree().children:
        for w in [window] + list(window.query_tree().children):
            try:
                name = w.get_wm_name()
                viewable = w.get_attributes().map_state == X.IsViewable
            except Exception:
                continue
            if name == title and viewable:
                return w
    return None


def png(width, height, rgb_rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + row for row in rgb_rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main(title, path):
    d = display.Display()
    window = find(d, title)
    if window is None:
        return 1
    g = window.get_geometry()
    data = window.get_image(0, 0, g.width, g.height, X.ZPixmap, 0xFFFFFFFF).data
    stride = len(data) // g.height
    rows = []
    for y in range(g.height):
        line = data[y * stride:y * stride + 4 * g.width]
        # BGRX → RGB
        row = bytearray(3 * g.width)
        row[0::3] = line[2::4]
        row[1::3] = line[1::4]
        row[2::3] = line[0::4]
        rows.append(bytes(row))
    with open(path, "wb") as out:
        out.write(png(g.width, g.height, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
