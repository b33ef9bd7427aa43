#!/usr/bin/env python3
"""Tests for tools/heapmap.py on known dumps.

fixtures/heapmap-lm3s6965evb.log is the serial log of `make heapmap
BOARD=lm3s6965evb` as QEMU wrote it (CRLF line ends, a QEMU warning line
before the banner): four dumps with region lines.  The SVGs are checked by
counting their elements (a rect per page cell, a rect per block) against
what the log says, and the caption's figures against sums done here.

Prints `ok N - name` / `not ok N - name: why` per test and then
`N passed, M failed`; TEST_FIRST numbers the first test (default 1).
Standard library only.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tools'))
import heapmap  # noqa: E402

FIXTURE = os.path.join(HERE, 'fixtures', 'heapmap-lm3s6965evb.log')
SVG_NS = '{http://www.w3.org/2000/svg}'

# The README's example: one kheap_alloc(h, 100) on a fresh 32-bit instance.
README_DUMP = """\
kheap-dump begin instance=0x5671f020 page_size=4096
heap addr=0x5671f000 pages=4 bytes=16384 kind=home
block offset=1072 size=108 state=used
block offset=1184 size=15196 state=free
stats in_use=112 free=15200 largest_free=15196 peak_in_use=112 pages=4 heaps=1 allocs=1 frees=0 failed=0
kheap-dump end
"""


# A traced dump (KHEAP_TRACE=1, 32-bit: a 12-byte header): three blocks in
# use from two call sites, one free block.
TRACED_DUMP = """\
kheap-dump begin instance=0x20001020 page_size=1024
heap addr=0x20001000 pages=2 bytes=2048 kind=home
block offset=1072 size=100 state=used site=0x1101
block offset=1184 size=36 state=used site=0x2203
block offset=1232 size=60 state=free
block offset=1304 size=20 state=used site=0x1101
block offset=1336 size=700 state=free
stats in_use=192 free=784 largest_free=700 peak_in_use=192 pages=2 heaps=1 allocs=3 frees=0 failed=0
kheap-dump end
"""

# A stand-in for addr2line: at 0x1100 an inlined call (two frames, the
# outer one last), at 0x2202 one frame, anything else unknown.
FAKE_ADDR2LINE = """#!/bin/sh
case "$5" in
0x1100) printf 'keep\\n/src/inline.h:7\\nparse_config\\n/src/app.c:85 (discriminator 2)\\n' ;;
0x2202) printf 'open_session\\n/src/app.c:91\\n' ;;
*) printf '??\\n??:0\\n' ;;
esac
"""


def fake_addr2line(tmp):
    path = os.path.join(tmp, 'addr2line')
    with open(path, 'w') as fh:
        fh.write(FAKE_ADDR2LINE)
    os.chmod(path, 0o755)
    return path


def read_fixture():
    with open(FIXTURE, encoding='utf-8', newline='') as fh:
        return fh.read()


def fixture_dumps_by_hand():
    """Per dump, what a plain reading of the log says: (pages, used, free,
    free bytes, largest free), for the counts the SVG must show."""
    out = []
    cur = None
    for line in read_fixture().replace('\r', '').split('\n'):
        if line.startswith('kheap-dump begin'):
            cur = dict(pages=0, used=0, free=0, free_bytes=0, largest=0, heaps=0)
        elif cur is None:
            continue
        elif line.startswith('kheap-dump end'):
            out.append(cur)
            cur = None
        elif line.startswith('pages '):
            cur['pages'] += int(re.search(r'count=(\d+)', line).group(1))
        elif line.startswith('heap '):
            cur['heaps'] += 1
        elif line.startswith('block '):
            size = int(re.search(r'size=(\d+)', line).group(1))
            if 'state=free' in line:
                cur['free'] += 1
                cur['free_bytes'] += size
                cur['largest'] = max(cur['largest'], size)
            else:
                cur['used'] += 1
    return out


def rects(svg_text, cls_prefix):
    root = ET.fromstring(svg_text)
    return [r for r in root.iter(SVG_NS + 'rect')
            if r.get('class', '').split(' ')[0] == cls_prefix]


def caption(svg_text):
    root = ET.fromstring(svg_text)
    for g in root.iter(SVG_NS + 'g'):
        if g.get('class') == 'caption':
            return g, [t.text for t in g.iter(SVG_NS + 'text')]
    raise AssertionError('no caption group in the SVG')


class FixtureLog(unittest.TestCase):
    def setUp(self):
        self.dumps = heapmap.parse_log(read_fixture().splitlines())
        self.expect = fixture_dumps_by_hand()

    def test_finds_every_dump(self):
        self.assertEqual(len(self.expect), 4)
        self.assertEqual(len(self.dumps), 4)
        self.assertEqual([d.label.get('name') for d in self.dumps],
                         ['fresh', 'fragmented', 'partly-freed', 'all-freed'])

    def test_page_cells_match_the_region(self):
        for d, e in zip(self.dumps, self.expect):
            svg = heapmap.render_svg(d, 1)
            cells = rects(svg, 'page')
            self.assertEqual(len(cells), e['pages'])
            self.assertEqual(len(cells), d.region['pages'])
            kinds = ''.join(c.get('class').split(' ')[1] for c in cells)
            self.assertEqual(kinds, d.pages())

    def test_fragmented_page_kinds(self):
        d = self.dumps[1]
        kinds = d.pages()
        self.assertEqual(len(kinds), 59)
        self.assertEqual((kinds.count('R'), kinds.count('B'), kinds.count('M'), kinds.count('F')),
                         (1, 2, 21, 35))
        self.assertEqual(kinds[38:], 'M' * 21)

    def test_block_rects_match_the_dump(self):
        for d, e in zip(self.dumps, self.expect):
            svg = heapmap.render_svg(d, 1)
            blocks = rects(svg, 'block')
            used = [b for b in blocks if b.get('class') == 'block used']
            free = [b for b in blocks if b.get('class') == 'block free']
            self.assertEqual((len(used), len(free)), (e['used'], e['free']))
            self.assertEqual(len(blocks), e['used'] + e['free'])
            self.assertEqual(len(rects(svg, 'band')), e['heaps'])

    def test_fragmented_counts(self):
        svg = heapmap.render_svg(self.dumps[1], 2)
        self.assertEqual(len(rects(svg, 'block')), 87)
        self.assertEqual(len([b for b in rects(svg, 'block') if b.get('class') == 'block free']), 43)
        self.assertEqual(len(rects(svg, 'page')), 59)
        self.assertEqual(len(rects(svg, 'band')), 5)

    def test_blocks_scaled_within_band(self):
        d = self.dumps[1]
        svg = heapmap.render_svg(d, 2)
        root = ET.fromstring(svg)
        for g in root.iter(SVG_NS + 'g'):
            if g.get('class') != 'heap':
                continue
            band = [r for r in g.iter(SVG_NS + 'rect') if r.get('class') == 'band'][0]
            x0, width = float(band.get('x')), float(band.get('width'))
            blocks = [r for r in g.iter(SVG_NS + 'rect') if r.get('class', '').startswith('block')]
            prev_end = x0
            for b in blocks:
                x, w = float(b.get('x')), float(b.get('width'))
                self.assertGreaterEqual(x + 0.02, prev_end)
                self.assertLessEqual(x + w, x0 + width + 0.02)
                prev_end = x + w
        # A block of n bytes in a heap of B bytes takes n/B of the band.
        hp = d.heaps[0]
        self.assertEqual(hp['kind'], 'large')
        b = hp['blocks'][0]
        large = [r for r in rects(svg, 'block')][0]
        self.assertAlmostEqual(float(large.get('width')),
                               (b['size'] + 4) * heapmap.INNER / hp['bytes'], places=1)

    def test_caption_figures(self):
        for n, (d, e) in enumerate(zip(self.dumps, self.expect), 1):
            svg = heapmap.render_svg(d, n)
            g, lines = caption(svg)
            ratio = e['largest'] / e['free_bytes'] if e['free_bytes'] else 1.0
            self.assertEqual(int(g.get('data-free-bytes')), e['free_bytes'])
            self.assertEqual(int(g.get('data-largest-free-block')), e['largest'])
            self.assertEqual(g.get('data-ratio'), '%.3f' % ratio)
            self.assertEqual(g.get('data-fragmentation'), '%.3f' % (1 - ratio))
            self.assertIn('free %d B in %d blocks; largest free block %d B'
                          % (e['free_bytes'], e['free'], e['largest']), lines[0])
            self.assertIn('largest/free %.3f; fragmentation (1 - largest/free) %.3f'
                          % (ratio, 1 - ratio), lines[1])

    def test_fragmented_caption_text(self):
        _, lines = caption(heapmap.render_svg(self.dumps[1], 2))
        self.assertEqual(lines[0], 'free 9148 B in 43 blocks; largest free block 3164 B')
        self.assertEqual(lines[1], 'largest/free 0.346; fragmentation (1 - largest/free) 0.654')
        self.assertEqual(lines[2], 'in use 10680 B in 44 blocks; 5 heaps, 21 pages')

    def test_word_size_from_block_gaps(self):
        self.assertEqual(self.dumps[1].word(), 4)


class Parsing(unittest.TestCase):
    def test_readme_dump_without_region(self):
        dumps = heapmap.parse_log(README_DUMP.splitlines())
        self.assertEqual(len(dumps), 1)
        d = dumps[0]
        f = d.figures()
        self.assertEqual((f['free_bytes'], f['largest_free_block'], f['fragmentation']),
                         (15196, 15196, 0.0))
        svg = heapmap.render_svg(d, 1)
        self.assertEqual(len(rects(svg, 'page')), 0)
        self.assertEqual(len(rects(svg, 'block')), 2)
        self.assertIn('no region lines', svg)

    def test_noise_prefixes_and_truncated_dumps(self):
        warnings = []
        text = ('boot noise\n'
                + README_DUMP.replace('kheap-dump end\n', '')       # cut short
                + '| ' + README_DUMP.replace('\n', '\r\n| ')         # prefixed, CRLF
                + 'kheap-dump begin instance=0x10 page_size=64\n')  # never ends
        dumps = heapmap.parse_log(text.splitlines(), warnings.append)
        self.assertEqual(len(dumps), 1)
        self.assertEqual(len(dumps[0].blocks()), 2)
        self.assertEqual(len(warnings), 2)

    def test_many_pages_draw_runs(self):
        runs = ''.join('pages first=%d count=%d kind=%s\n' % r
                       for r in ((0, 2, 'R'), (2, 3, 'B'), (5, 32000, 'F'), (32005, 11, 'M')))
        text = README_DUMP.replace(
            'page_size=4096\n',
            'page_size=4096\nregion start=0x40000000 end=0x47d10000 page_size=4096 pages=32016\n'
            + runs)
        d = heapmap.parse_log(text.splitlines())[0]
        svg = heapmap.render_svg(d, 1)
        self.assertEqual(len(rects(svg, 'page')), 0)
        cells = rects(svg, 'pagerun')
        self.assertEqual(len(cells), 4)
        total = sum(float(c.get('width')) for c in cells)
        self.assertAlmostEqual(total, heapmap.INNER, places=1)
        self.assertTrue(all(float(c.get('width')) >= heapmap.RUN_MIN_WIDTH - 0.01 for c in cells))

    def test_gap_in_page_runs_is_an_error(self):
        text = README_DUMP.replace('page_size=4096\n', 'page_size=4096\n'
                                   'pages first=0 count=1 kind=R\npages first=2 count=1 kind=F\n')
        d = heapmap.parse_log(text.splitlines())[0]
        with self.assertRaises(heapmap.DumpError):
            heapmap.render_svg(d, 1)


class Traced(unittest.TestCase):
    def setUp(self):
        self.d = heapmap.parse_log(TRACED_DUMP.splitlines())[0]

    def test_sites_in_order_and_header_from_gaps(self):
        self.assertEqual(self.d.sites(), [0x1101, 0x2203])
        self.assertEqual(self.d.word(), 12)

    def test_used_blocks_coloured_by_site(self):
        svg = heapmap.render_svg(self.d, 1)
        used = [b for b in rects(svg, 'block') if b.get('class') == 'block used']
        self.assertEqual([b.get('fill') for b in used],
                         [heapmap.SITE_COLOURS[0], heapmap.SITE_COLOURS[1], heapmap.SITE_COLOURS[0]])
        free = [b for b in rects(svg, 'block') if b.get('class') == 'block free']
        self.assertEqual([b.get('fill') for b in free], [None, None])

    def test_legend_names_each_site_with_blocks_and_bytes(self):
        svg = heapmap.render_svg(self.d, 1, {0x1101: 'parse_config (app.c:85)'})
        root = ET.fromstring(svg)
        legend = [(g.get('data-site'), [t.text for t in g.iter(SVG_NS + 'text')][0])
                  for g in root.iter(SVG_NS + 'g') if g.get('class') == 'site']
        self.assertEqual(legend, [('0x1101', 'parse_config (app.c:85): 2 blocks, 120 B'),
                                  ('0x2203', '0x2203: 1 blocks, 36 B')])

    def test_untraced_dump_has_no_site_legend(self):
        d = heapmap.parse_log(README_DUMP.splitlines())[0]
        self.assertEqual(d.sites(), [])
        self.assertNotIn('class="site"', heapmap.render_svg(d, 1))

    def test_resolve_sites_takes_the_outer_frame_of_the_call(self):
        with tempfile.TemporaryDirectory() as tmp:
            names = heapmap.resolve_sites([0x1101, 0x2203, 0x3000], 'image.elf', fake_addr2line(tmp))
        self.assertEqual(names, {0x1101: 'parse_config (app.c:85)',
                                 0x2203: 'open_session (app.c:91)'})

    def test_command_line_elf_names_the_legend(self):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, 'traced.log')
            with open(log, 'w') as fh:
                fh.write(TRACED_DUMP)
            r = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'heapmap.py'),
                                '--out-dir', tmp, '--elf', 'image.elf',
                                '--addr2line', fake_addr2line(tmp), log],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(tmp, 'heapmap-1.svg'), encoding='utf-8') as fh:
                svg = fh.read()
        self.assertIn('>parse_config (app.c:85): 2 blocks, 120 B<', svg)
        self.assertIn('>open_session (app.c:91): 1 blocks, 36 B<', svg)


class CommandLine(unittest.TestCase):
    def run_tool(self, out_dir, *extra):
        return subprocess.run(
            [sys.executable, os.path.join(ROOT, 'tools', 'heapmap.py'), '--out-dir', out_dir]
            + list(extra) + [FIXTURE], capture_output=True, text=True)

    def test_one_svg_per_dump_deterministic(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            r1 = self.run_tool(a, '--prefix', 'x-')
            r2 = self.run_tool(b, '--prefix', 'x-')
            self.assertEqual(r1.returncode, 0, r1.stderr)
            self.assertEqual(sorted(os.listdir(a)), ['x-%d.svg' % n for n in (1, 2, 3, 4)])
            for name in os.listdir(a):
                with open(os.path.join(a, name), 'rb') as fa, open(os.path.join(b, name), 'rb') as fb:
                    content = fa.read()
                    self.assertEqual(content, fb.read())
                ET.fromstring(content)  # well-formed
            self.assertEqual(r1.stdout, r2.stdout.replace(b, a))
            self.assertEqual(len(r1.stdout.splitlines()), 4)

    def test_no_dump_fails(self):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'heapmap.py'),
                                '--out-dir', d, '-'], input='nothing here\n',
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(os.listdir(d), [])


class TapResult(unittest.TextTestResult):
    """`ok N - name` lines as the rest of the project prints them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.number = int(os.environ.get('TEST_FIRST', '1')) - 1
        self.passed = 0

    def line(self, test, ok, why=''):
        self.number += 1
        name = 'heapmap: %s.%s' % (type(test).__name__, test._testMethodName)
        self.stream.write('%s %d - %s%s\n' % ('ok' if ok else 'not ok', self.number, name,
                                             ': ' + why if why else ''))
        self.stream.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self.passed += 1
        self.line(test, True)

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self.line(test, False, str(err[1]).splitlines()[0] if str(err[1]) else err[0].__name__)

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self.line(test, False, 'error: %s: %s' % (err[0].__name__, err[1]))

    def printErrors(self):
        for test, tb in self.failures + self.errors:
            self.stream.write('# %s\n' % test.id())
            for l in tb.splitlines():
                self.stream.write('#   %s\n' % l)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = TapResult(unittest.runner._WritelnDecorator(sys.stdout), True, 0)
    suite.run(result)
    result.printErrors()
    failed = len(result.failures) + len(result.errors)
    print('%d passed, %d failed' % (result.passed, failed))
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
