#!/usr/bin/env python3
"""heapmap: pictures of kheap dumps.

Reads serial logs (files, or standard input), finds every dump between
`kheap-dump begin` and `kheap-dump end` (format: tools/DUMP-FORMAT.md) and
writes one SVG per dump, numbered from 1 in the order found:
<out-dir>/<prefix><n>.svg.

Each picture shows the region's page map (a cell per page coloured by what
it holds: R region bookkeeping, B under the sbrk break, M mapped, F free),
each heap as a band with its blocks coloured by state and scaled by size
within the band, and a caption with the fragmentation figures.  When the
dump comes from a traced build (KHEAP_TRACE=1: `site=` on the block lines
in use), blocks in use are coloured by call site instead, with a legend
naming each site: `function (file:line)` when --elf gives the image (and
--addr2line the tool that reads it), else its address.

Python 3 standard library only; the same log gives byte-identical output.
"""
import argparse
import os
import re
import subprocess
import sys
from xml.sax.saxutils import escape

# ----------------------------------------------------------------- parsing

BEGIN_RE = re.compile(r'kheap-dump begin((?: [A-Za-z_]+=\S*)*)\s*$')
END_RE = re.compile(r'kheap-dump end\s*$')
LINE_RE = re.compile(r'(?:^|\s)(heap|block|stats|region|pages|label)((?: [A-Za-z_]+=\S*)+)\s*$')
FIELD_RE = re.compile(r' ([A-Za-z_]+)=(\S*)')
# Fields that stay text; every other value is a number (decimal or 0x hex).
TEXT_FIELDS = {'kind', 'state', 'name'}


class DumpError(Exception):
    pass


def parse_fields(text):
    fields = {}
    for key, value in FIELD_RE.findall(text):
        if key in TEXT_FIELDS:
            fields[key] = value
        else:
            try:
                fields[key] = int(value, 0)
            except ValueError:
                fields[key] = value
    return fields


class Dump:
    """One dump: the begin line's fields, the label, region and page runs,
    heaps (each with its blocks, in dump order) and the stats."""

    def __init__(self, begin, line_no):
        self.begin = begin
        self.line_no = line_no
        self.label = {}
        self.region = None
        self.page_runs = []   # (first, count, kind)
        self.heaps = []       # dicts with 'blocks': [dict, ...]
        self.stats = {}

    # -- derived figures

    @property
    def page_size(self):
        return self.begin.get('page_size', 0)

    def word(self):
        """Bytes of a block's header: the smallest gap between a block's
        end and its successor's payload (one word; three when tracing),
        else one word guessed from the address width."""
        gaps = [y['offset'] - x['offset'] - x['size']
                for hp in self.heaps for x, y in zip(hp['blocks'], hp['blocks'][1:])]
        gaps = [g for g in gaps if 0 < g <= 64 and g % 4 == 0]
        if gaps:
            return min(gaps)
        return 8 if self.begin.get('instance', 0) > 0xffffffff else 4

    def sites(self):
        """The call sites of the blocks in use, in the order first met
        (empty for an untraced dump)."""
        out = []
        for b in self.blocks():
            site = b.get('site')
            if b.get('state') == 'used' and site is not None and site not in out:
                out.append(site)
        return out

    def pages(self):
        """One kind letter per page, from the page runs."""
        kinds = []
        for first, count, kind in self.page_runs:
            if first != len(kinds):
                raise DumpError('page runs are not contiguous at page %d' % first)
            kinds.extend(kind * count)
        return ''.join(kinds)

    def blocks(self):
        return [b for hp in self.heaps for b in hp['blocks']]

    def figures(self):
        """Fragmentation figures over the free blocks' usable sizes:
        free bytes, largest free block, largest/free, 1 - largest/free."""
        free = [b['size'] for b in self.blocks() if b.get('state') == 'free']
        used = [b['size'] for b in self.blocks() if b.get('state') != 'free']
        free_bytes = sum(free)
        largest = max(free) if free else 0
        ratio = largest / free_bytes if free_bytes else 1.0
        return {
            'free_bytes': free_bytes,
            'free_blocks': len(free),
            'largest_free_block': largest,
            'ratio': ratio,
            'fragmentation': 1.0 - ratio,
            'used_bytes': sum(used),
            'used_blocks': len(used),
            'heaps': len(self.heaps),
            'heap_pages': sum(hp.get('pages', 0) for hp in self.heaps),
        }


def parse_log(lines, warn=None):
    """Returns the complete dumps found in `lines` (an iterable of str).
    A dump cut short (a new begin, or the log ends) is reported through
    warn(message) and skipped."""
    dumps = []
    cur = None
    for no, raw in enumerate(lines, 1):
        line = raw.rstrip('\r\n').replace('\r', '')
        m = BEGIN_RE.search(line)
        if m:
            if cur is not None and warn:
                warn('line %d: dump begun at line %d has no end; skipped' % (no, cur.line_no))
            cur = Dump(parse_fields(m.group(1)), no)
            continue
        if cur is None:
            continue
        if END_RE.search(line):
            dumps.append(cur)
            cur = None
            continue
        m = LINE_RE.search(line)
        if not m:
            continue
        kind, fields = m.group(1), parse_fields(m.group(2))
        if kind == 'heap':
            fields['blocks'] = []
            cur.heaps.append(fields)
        elif kind == 'block':
            if not cur.heaps:
                if warn:
                    warn('line %d: block before any heap; ignored' % no)
                continue
            cur.heaps[-1]['blocks'].append(fields)
        elif kind == 'stats':
            cur.stats = fields
        elif kind == 'region':
            cur.region = fields
        elif kind == 'pages':
            cur.page_runs.append((fields.get('first', 0), fields.get('count', 0),
                                  str(fields.get('kind', '?'))[:1]))
        elif kind == 'label':
            cur.label = fields
    if cur is not None and warn:
        warn('dump begun at line %d has no end (log cut short?); skipped' % cur.line_no)
    return dumps


# ----------------------------------------------------------------- drawing

WIDTH = 800
MARGIN = 20
INNER = WIDTH - 2 * MARGIN
PAGE_COLUMNS = 64
# Up to this many pages the map draws a cell per page; beyond, one cell per
# run of pages of one kind, scaled by its length.
PAGE_CELL_LIMIT = 4096
BAND_HEIGHT = 28
RUN_MIN_WIDTH = 4.0

PAGE_KINDS = [
    ('R', 'region bookkeeping', '#6c757d'),
    ('B', 'sbrk (under the break)', '#f0ad4e'),
    ('M', 'mapped (heaps)', '#337ab7'),
    ('F', 'free', '#e9ecef'),
]
PAGE_COLOUR = {k: c for k, _, c in PAGE_KINDS}
BLOCK_COLOUR = {'used': '#d9534f', 'free': '#5cb85c'}
HEADER_COLOUR = '#9e9e9e'
# Blocks in use by call site, in the order sites are first met; none is
# the free blocks' green or the header's grey.  More sites than colours
# reuse them in turn (the legend still names each).
SITE_COLOURS = ['#d9534f', '#337ab7', '#f0ad4e', '#8e44ad', '#16a085', '#c0392b',
                '#2c3e50', '#e67e22', '#7f8c8d', '#d35400', '#2980b9', '#a0522d']

STYLE = """
text { font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; font-size: 12px; fill: #222; }
text.title { font-size: 15px; font-weight: bold; }
text.caption { font-size: 12px; }
rect.page, rect.pagerun, rect.block { stroke: #ffffff; stroke-width: 0.5; }
rect.R { fill: #6c757d; } rect.B { fill: #f0ad4e; } rect.M { fill: #337ab7; } rect.F { fill: #e9ecef; }
rect.used { fill: #d9534f; } rect.free { fill: #5cb85c; }
rect.band { fill: none; stroke: #444; stroke-width: 1; }
"""


def num(x):
    """A coordinate with at most two decimals, no trailing zeros."""
    s = '%.2f' % x
    s = s.rstrip('0').rstrip('.')
    return '0' if s in ('-0', '') else s


def rect(x, y, w, h, cls, fill=None, title=None):
    """fill None: the colour comes from the style sheet (page and block
    classes), which keeps pictures of many pages small."""
    attrs = 'class="%s" x="%s" y="%s" width="%s" height="%s"' % (cls, num(x), num(y), num(w), num(h))
    if fill is not None:
        attrs += ' fill="%s"' % fill
    if title is None:
        return '<rect %s/>' % attrs
    return '<rect %s><title>%s</title></rect>' % (attrs, escape(title))


def text(x, y, s, cls=None, anchor=None):
    attrs = 'x="%s" y="%s"' % (num(x), num(y))
    if cls:
        attrs += ' class="%s"' % cls
    if anchor:
        attrs += ' text-anchor="%s"' % anchor
    return '<text %s>%s</text>' % (attrs, escape(s))


def caption_lines(d):
    f = d.figures()
    lines = [
        'free %d B in %d blocks; largest free block %d B' % (
            f['free_bytes'], f['free_blocks'], f['largest_free_block']),
        'largest/free %.3f; fragmentation (1 - largest/free) %.3f' % (
            f['ratio'], f['fragmentation']),
        'in use %d B in %d blocks; %d heaps, %d pages' % (
            f['used_bytes'], f['used_blocks'], f['heaps'], f['heap_pages']),
    ]
    if d.stats:
        lines.append('stats: in_use=%s free=%s largest_free=%s peak_in_use=%s allocs=%s frees=%s' % tuple(
            d.stats.get(k, '?') for k in ('in_use', 'free', 'largest_free', 'peak_in_use',
                                          'allocs', 'frees')))
    return lines


def draw_pages(d, y, out):
    """The region's page map from y; returns the y below it."""
    kinds = d.pages()
    reg = d.region or {}
    counts = {k: kinds.count(k) for k, _, _ in PAGE_KINDS}
    head = 'region %s-%s: %d pages of %d B' % (
        '0x%x' % reg['start'] if 'start' in reg else '?',
        '0x%x' % reg['end'] if 'end' in reg else '?',
        len(kinds), reg.get('page_size', d.page_size))
    head += ' (' + ', '.join('%s %d' % (k, counts[k]) for k, _, _ in PAGE_KINDS) + ')'
    out.append(text(MARGIN, y + 12, head))
    y += 20
    if not kinds:
        out.append(text(MARGIN, y + 12, '(no region lines in this dump)'))
        return y + 20
    out.append('<g class="pages">')
    if len(kinds) <= PAGE_CELL_LIMIT:
        cell = INNER / PAGE_COLUMNS
        for i, k in enumerate(kinds):
            row, col = divmod(i, PAGE_COLUMNS)
            out.append(rect(MARGIN + col * cell, y + row * cell, cell, cell,
                            'page %s' % k, None if k in PAGE_COLOUR else '#ff00ff'))
        rows = (len(kinds) + PAGE_COLUMNS - 1) // PAGE_COLUMNS
        y += rows * cell
    else:
        # One cell per run, scaled by its length, but never under
        # RUN_MIN_WIDTH: the long runs give up what the short ones need.
        want = [count * INNER / len(kinds) for _, count, _ in d.page_runs]
        small = sum(RUN_MIN_WIDTH for x in want if x < RUN_MIN_WIDTH)
        big = sum(x for x in want if x >= RUN_MIN_WIDTH)
        factor = (INNER - small) / big if big else 1.0
        x = MARGIN
        for (first, count, k), wanted in zip(d.page_runs, want):
            width = RUN_MIN_WIDTH if wanted < RUN_MIN_WIDTH else wanted * factor
            out.append(rect(x, y, width, 24, 'pagerun %s' % k,
                            None if k in PAGE_COLOUR else '#ff00ff',
                            'pages %d-%d: %s' % (first, first + count - 1, k)))
            x += width
        y += 24
    out.append('</g>')
    y += 8
    # Legend.
    x = MARGIN
    for k, name, colour in PAGE_KINDS:
        out.append(rect(x, y, 10, 10, 'legend', colour))
        out.append(text(x + 14, y + 9, '%s %s' % (k, name)))
        x += 40 + 7.2 * len(name)
    return y + 22


def site_name(site, names):
    return names.get(site) or '0x%x' % site


def draw_heaps(d, y, out, names=None):
    """names: call site -> text for the legend (resolve_sites)."""
    names = names or {}
    w = d.word()
    reg = d.region or {}
    sites = d.sites()
    colour_of = {s: SITE_COLOURS[i % len(SITE_COLOURS)] for i, s in enumerate(sites)}
    x = MARGIN
    for k, colour, name in (('used', BLOCK_COLOUR['used'],
                             'block in use' + (' (by call site, below)' if sites else '')),
                            ('free', BLOCK_COLOUR['free'], 'free block'),
                            ('hdr', HEADER_COLOUR, 'heap header / instance / sentinel')):
        out.append(rect(x, y, 10, 10, 'legend', colour))
        out.append(text(x + 14, y + 9, name))
        x += 40 + 7.2 * len(name)
    y += 22
    # One legend line per call site: its colour, name, blocks and bytes.
    for s in sites:
        used = [b for b in d.blocks() if b.get('state') == 'used' and b.get('site') == s]
        out.append('<g class="site" data-site="0x%x">' % s)
        out.append(rect(MARGIN, y, 10, 10, 'legend', colour_of[s]))
        out.append(text(MARGIN + 14, y + 9, '%s: %d blocks, %d B' % (
            site_name(s, names), len(used), sum(b['size'] for b in used))))
        out.append('</g>')
        y += 16
    if sites:
        y += 6
    for n, hp in enumerate(d.heaps, 1):
        size = hp.get('bytes') or hp.get('pages', 0) * d.page_size or 1
        label = 'heap %d: 0x%x, %s, %d pages (%d B), %d blocks' % (
            n, hp.get('addr', 0), hp.get('kind', '?'), hp.get('pages', 0), size,
            len(hp['blocks']))
        if 'start' in reg and d.page_size:
            first = (hp.get('addr', 0) - reg['start']) // d.page_size
            label += ', region pages %d-%d' % (first, first + hp.get('pages', 1) - 1)
        out.append(text(MARGIN, y + 12, label))
        y += 16
        scale = INNER / size
        out.append('<g class="heap" data-addr="0x%x">' % hp.get('addr', 0))
        # What no block covers (the heap header, the instance in the home
        # heap, the sentinel) shows as header grey under the blocks.
        out.append(rect(MARGIN, y, INNER, BAND_HEIGHT, 'heapbg', HEADER_COLOUR))
        for b in hp['blocks']:
            start = b['offset'] - w
            length = b['size'] + w
            state = b.get('state', 'used')
            fill = None if state in BLOCK_COLOUR else '#ff00ff'
            title = 'offset=%d size=%d %s' % (b['offset'], b['size'], state)
            if state == 'used' and b.get('site') in colour_of:
                fill = colour_of[b['site']]
                title += ' site=%s' % site_name(b['site'], names)
            out.append(rect(MARGIN + start * scale, y, max(length * scale, 0.5), BAND_HEIGHT,
                            'block %s' % state, fill, title))
        out.append(rect(MARGIN, y, INNER, BAND_HEIGHT, 'band', 'none'))
        out.append('</g>')
        y += BAND_HEIGHT + 10
    if not d.heaps:
        out.append(text(MARGIN, y + 12, '(no heaps)'))
        y += 20
    return y


def resolve_sites(sites, elf, addr2line='addr2line'):
    """{site: 'function (file:line)'} through addr2line on the image, at
    the return address less one (the call instruction); an inlined call is
    named by the function it was compiled into (-i, the last frame).  A
    site addr2line cannot place keeps no name (its address is shown)."""
    names = {}
    for s in sites:
        try:
            r = subprocess.run([addr2line, '-f', '-i', '-e', elf, '0x%x' % (s - 1)],
                               capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            continue
        lines = r.stdout.splitlines()
        if len(lines) >= 2 and lines[-2] != '??':
            loc = lines[-1].split(' (')[0]
            names[s] = '%s (%s)' % (lines[-2], os.path.basename(loc))
    return names


def render_svg(d, number=None, names=None):
    """The SVG text for one dump; names: call site -> legend text."""
    body = []
    y = MARGIN
    name = d.label.get('name')
    title = 'kheap dump %s' % (number if number is not None else '')
    if 'point' in d.label or name:
        title += ': point %s%s' % (d.label.get('point', '?'), ' (%s)' % name if name else '')
    title += ' - instance 0x%x, page size %d' % (d.begin.get('instance', 0), d.page_size)
    body.append(text(MARGIN, y + 14, title.replace('dump  ', 'dump '), 'title'))
    y += 28
    y = draw_pages(d, y, body)
    y += 6
    y = draw_heaps(d, y, body, names)
    f = d.figures()
    body.append('<g class="caption" data-free-bytes="%d" data-largest-free-block="%d" '
                'data-ratio="%.3f" data-fragmentation="%.3f">' % (
                    f['free_bytes'], f['largest_free_block'], f['ratio'], f['fragmentation']))
    for line in caption_lines(d):
        y += 16
        body.append(text(MARGIN, y, line, 'caption'))
    body.append('</g>')
    height = int(y + MARGIN)
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'viewBox="0 0 %d %d">\n<style>%s</style>\n' % (WIDTH, height, WIDTH, height, STYLE))
    return head + rect(0, 0, WIDTH, height, 'background', '#ffffff') + '\n' + \
        '\n'.join(body) + '\n</svg>\n'


# ----------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(
        description='Draw one SVG per kheap dump found in serial logs.')
    ap.add_argument('logs', nargs='*', metavar='LOG',
                    help='serial log files ("-" or none: standard input)')
    ap.add_argument('--out-dir', default='.', help='where the SVGs go (default .)')
    ap.add_argument('--prefix', default='heapmap-',
                    help='file name prefix: PREFIX1.svg, PREFIX2.svg, ... (default heapmap-)')
    ap.add_argument('--elf', help='the image the log came from: names call sites in the legend')
    ap.add_argument('--addr2line', default='addr2line',
                    help="the image's addr2line (default addr2line; arm-none-eabi-addr2line "
                         'for a Cortex-M image)')
    args = ap.parse_args(argv)

    def warn(msg):
        print('heapmap: warning: %s' % msg, file=sys.stderr)

    lines = []
    for path in args.logs or ['-']:
        if path == '-':
            lines.extend(sys.stdin.read().splitlines())
        else:
            with open(path, encoding='utf-8', errors='replace', newline='') as fh:
                lines.extend(fh.read().splitlines())
    dumps = parse_log(lines, warn)
    if not dumps:
        print('heapmap: no complete kheap dump found', file=sys.stderr)
        return 1
    os.makedirs(args.out_dir, exist_ok=True)
    names = {}
    if args.elf:
        names = resolve_sites(sorted({s for d in dumps for s in d.sites()}), args.elf, args.addr2line)
    for n, d in enumerate(dumps, 1):
        try:
            svg = render_svg(d, n, names)
        except DumpError as e:
            print('heapmap: dump %d (line %d): %s' % (n, d.line_no, e), file=sys.stderr)
            return 1
        path = os.path.join(args.out_dir, '%s%d.svg' % (args.prefix, n))
        with open(path, 'w', encoding='utf-8', newline='\n') as fh:
            fh.write(svg)
        f = d.figures()
        print('heapmap: %s: %s%d heaps, %d blocks, free %d B, largest %d B, fragmentation %.3f' % (
            path, '%s: ' % d.label['name'] if 'name' in d.label else '',
            f['heaps'], f['used_blocks'] + f['free_blocks'], f['free_bytes'],
            f['largest_free_block'], f['fragmentation']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
