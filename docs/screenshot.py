"""Screenshots of an HTML mail at a given width, in headless Chromium (a frame of that
width; headless windows are at least 500 px wide, so the shot is cropped to the frame).

    reporter preview --html disk-usage > /tmp/disk.html
    python3 docs/screenshot.py /tmp/disk.html 375 docs/disk-usage-375.png

No dependencies beyond Python 3 and chromium (the PNG is cropped by hand)."""
import html, json, re, struct, subprocess, sys, tempfile, zlib, os

def chromium(args, page, profile):
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--hide-scrollbars", f"--user-data-dir={profile}"] + args + [f"file://{page}"],
        capture_output=True, text=False).stdout

def crop_png(data, width, height):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos+4]); kind = data[pos+4:pos+8]
        chunks.append((kind, data[pos+8:pos+8+n])); pos += 12 + n
    ihdr = dict(chunks)[b"IHDR"]
    w, h, depth, ctype = struct.unpack(">IIBB", ihdr[:10])
    assert depth == 8 and ctype in (2, 6)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(c for k, c in chunks if k == b"IDAT"))
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y*(stride+1)]; line = bytearray(raw[y*(stride+1)+1:(y+1)*(stride+1)])
        for i in range(stride):
            a = line[i-bpp] if i >= bpp else 0; b = prev[i]; c = prev[i-bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p-a), abs(p-b), abs(p-c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); prev = line
    height = min(height, h)
    out = b"".join(b"\x00" + r[:width*bpp] for r in rows[:height])
    def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, ctype, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(out, 9)) + chunk(b"IEND", b""))

def shoot(html_file, width, out):
    src = open(html_file).read()
    measure = "<script>parent.document.body.setAttribute('data-height', Math.ceil(document.body.getBoundingClientRect().height));</script>"
    with tempfile.TemporaryDirectory() as d:
        page = os.path.join(d, "frame.html")
        def write(h):
            open(page, "w").write(f'<!DOCTYPE html><html><body style="margin:0"><iframe style="width:{width}px;height:{h}px;border:0;display:block" srcdoc="{html.escape(src + measure, quote=True)}"></iframe></body></html>')
        write(4000)
        dom = chromium(["--window-size=1000,4000", "--dump-dom"], page, d + "/p").decode()
        height = int(re.search(r'data-height="(\d+)"', dom).group(1))
        write(height)
        shot = os.path.join(d, "shot.png")
        chromium([f"--window-size={max(width, 500)},{height}", f"--screenshot={shot}"], page, d + "/p")
        open(out, "wb").write(crop_png(open(shot, "rb").read(), width, height))

if __name__ == "__main__":
    shoot(sys.argv[1], int(sys.argv[2]), sys.argv[3])
