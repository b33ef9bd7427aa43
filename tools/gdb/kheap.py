"""gdb commands for kheap: walk an instance in the target's memory.

    (gdb) source tools/gdb/kheap.py
    (gdb) kheap [EXPR]          the map kheap_dump would print, read from memory
    (gdb) kheap check [EXPR]    a few invariants; says which one broke
    (gdb) kheap leaks [EXPR]    (KHEAP_TRACE=1 images) what kheap_leaks would
                                report: blocks in use since the last kheap_mark,
                                grouped by call site, each named function (file:line)
    (gdb) kheap owner ADDR [EXPR]  the block in use that holds ADDR, and its site

EXPR is a `kheap *` expression; without one, `kheap_debug_instance` (the
heap-picture scenario, tools/scenario/heapmap_main.c, sets it).

Field offsets, sizes and array bounds come from the program's DWARF
(struct kheap, struct heap, block), so the commands follow layout changes.
What DWARF cannot say -- the flag bits, the heap magic and kinds, which are
macros -- mirrors alloc/heap_internal.h below; keep the two in step.
"""
import os
import re

import gdb

# alloc/heap_internal.h
FLAG_FREE = 1
FLAG_PREV_FREE = 2
FLAG_SENTINEL = 4
FLAG_MASK = 7
HEAP_MAGIC = 0x6b686561
HEAP_HOME = 1
HEAP_LARGE = 2

DEFAULT_EXPR = 'kheap_debug_instance'


class KheapError(Exception):
    pass


class Layout:
    """Types and sizes from DWARF, looked up each time (the program may have
    been reloaded)."""

    def __init__(self):
        try:
            self.kheap = gdb.lookup_type('struct kheap')
            self.heap = gdb.lookup_type('struct heap')
            self.block = gdb.lookup_type('struct block')
            self.size_t = gdb.lookup_type('size_t')
        except gdb.error as e:
            raise KheapError('no kheap types in the program (%s): load an image built with -g' % e)
        self.heap_ptr = self.heap.pointer()
        self.block_ptr = self.block.pointer()
        self.w = self.size_t.sizeof
        self.ptr_size = gdb.lookup_type('void').pointer().sizeof
        # The header: the size word last, before the payload; a traced
        # build (KHEAP_TRACE=1) has the site and seq words before it.
        self.size_off = self.field_offset(self.block, 'size')
        self.payload = self.size_off + self.w
        self.hdr = self.payload - self.w
        names = [f.name for f in self.block.fields()]
        self.traced = 'site' in names and 'seq' in names
        if self.traced:
            self.site_off = self.field_offset(self.block, 'site')
            self.seq_off = self.field_offset(self.block, 'seq')

    @staticmethod
    def field_offset(t, name):
        for f in t.fields():
            if f.name == name:
                return f.bitpos // 8
        raise KheapError('%s has no field %s' % (t, name))


def to_int(v):
    return int(v.cast(gdb.lookup_type('unsigned long long'))) if v.type.code == gdb.TYPE_CODE_PTR \
        else int(v)


class Instance:
    """A snapshot of one instance: its heaps and their blocks."""

    def __init__(self, expr):
        self.lay = Layout()
        try:
            v = gdb.parse_and_eval(expr)
        except gdb.error as e:
            raise KheapError('cannot evaluate %s: %s' % (expr, e))
        if v.type.strip_typedefs().code != gdb.TYPE_CODE_PTR:
            v = v.address
        self.ptr = v.cast(self.lay.kheap.pointer())
        self.addr = to_int(self.ptr)
        if self.addr == 0:
            raise KheapError('%s is NULL (no instance yet, or already destroyed)' % expr)
        self.k = self.ptr.dereference()
        self.page_size = int(self.k['page_size'])
        if self.page_size == 0 or self.page_size & (self.page_size - 1):
            raise KheapError('%s -> page_size %d is not a power of two: not an instance?' % (
                expr, self.page_size))

    # -- memory

    def word(self, addr):
        v = gdb.Value(addr).cast(self.lay.size_t.pointer()).dereference()
        return int(v)

    def heaps(self, limit=4096):
        hp = self.k['heaps']
        out = []
        while to_int(hp) != 0:
            if len(out) >= limit:
                raise KheapError('heap list longer than %d: a cycle?' % limit)
            out.append(hp)
            hp = hp.dereference()['next']
        return out

    def blocks(self, hp, limit=1 << 20):
        """(address, size word) for each block of heap hp, sentinel excluded."""
        h = hp.dereference()
        start = to_int(hp)
        end = start + int(h['pages']) * self.page_size
        sentinel = end - self.lay.payload
        b = to_int(h['first'])
        out = []
        while b != sentinel:
            if b < start or b > sentinel:
                raise KheapError('heap 0x%x: block 0x%x lies outside it' % (start, b))
            size_word = self.word(b + self.lay.size_off)
            size = size_word & ~FLAG_MASK
            if size == 0 or len(out) >= limit:
                raise KheapError('heap 0x%x: block 0x%x has size 0: corrupt header' % (start, b))
            out.append((b, size_word))
            b += size
        return out

    def room(self, b):
        return (self.word(b + self.lay.size_off) & ~FLAG_MASK) - self.lay.hdr

    def site(self, b):
        """The call site a block in use recorded (traced images)."""
        return self.word(b + self.lay.site_off)

    def used_blocks(self):
        """(block, payload, usable size, site, seq) of every block in use,
        heaps newest first as kheap_walk goes; site and seq None untraced."""
        for hp in self.heaps():
            for b, size_word in self.blocks(hp):
                if size_word & FLAG_FREE:
                    continue
                traced = self.lay.traced
                yield (b, b + self.lay.payload, (size_word & ~FLAG_MASK) - self.lay.hdr,
                       self.site(b) if traced else None,
                       self.word(b + self.lay.seq_off) if traced else None)

    def largest_free(self):
        # As diag.c: the designated victim, or the head of the highest
        # non-empty class, whichever is larger.
        dv = to_int(self.k['dv'])
        best = self.room(dv) if dv != 0 else 0
        summary = int(self.k['map_summary'])
        if summary == 0:
            return best
        w = summary.bit_length() - 1
        i = (w << 5) + int(self.k['map'][w]).bit_length() - 1
        return max(best, self.room(to_int(self.k['lists'][i])))

    # -- the dump

    def dump_lines(self):
        lines = ['kheap-dump begin instance=0x%x page_size=%d' % (self.addr, self.page_size)]
        for hp in self.heaps():
            h = hp.dereference()
            flags = int(h['flags'])
            kind = 'home' if flags & HEAP_HOME else 'large' if flags & HEAP_LARGE else 'normal'
            pages = int(h['pages'])
            lines.append('heap addr=0x%x pages=%d bytes=%d kind=%s' % (
                to_int(hp), pages, pages * self.page_size, kind))
            for b, size_word in self.blocks(hp):
                free = size_word & FLAG_FREE
                line = 'block offset=%d size=%d state=%s' % (
                    b + self.lay.payload - to_int(hp), (size_word & ~FLAG_MASK) - self.lay.hdr,
                    'free' if free else 'used')
                if self.lay.traced and not free:
                    line += ' site=0x%x' % self.site(b)
                lines.append(line)
        st = self.k['stats']
        use = self.k['use']
        # The hot paths keep no free-byte count: like diag.c, derive it from
        # the instance's block total.
        free_bytes = int(self.k['block_bytes']) - int(use['in_use_bytes'])
        lines.append('stats in_use=%d free=%d largest_free=%d peak_in_use=%d pages=%d heaps=%d '
                     'allocs=%d frees=%d failed=%d' % (
                         int(use['in_use_bytes']), free_bytes, self.largest_free(),
                         int(use['peak_in_use_bytes']), int(st['pages']), int(st['heaps']),
                         int(use['allocs']), int(use['frees']), int(st['failed'])))
        lines.append('kheap-dump end')
        return lines

    # -- the checks

    def check(self):
        """Returns (problems, summary)."""
        problems = []
        w = self.lay.w
        free_in_heaps = set()
        totals = dict(in_use=0, free=0, used_blocks=0, free_blocks=0, pages=0, heaps=0)
        prev = 0
        for hp in self.heaps():
            h = hp.dereference()
            a = to_int(hp)
            where = 'heap 0x%x' % a
            if int(h['magic']) != HEAP_MAGIC:
                problems.append('%s: magic 0x%x, expected 0x%x' % (where, int(h['magic']), HEAP_MAGIC))
                continue
            if to_int(h['owner']) != self.addr:
                problems.append('%s: owner 0x%x is not this instance' % (where, to_int(h['owner'])))
            if to_int(h['prev']) != prev:
                problems.append('%s: back link 0x%x, expected 0x%x' % (where, to_int(h['prev']), prev))
            prev = a
            if a & (self.page_size - 1):
                problems.append('%s: not page aligned' % where)
            pages = int(h['pages'])
            length = pages * self.page_size
            sentinel = a + length - self.lay.payload
            s_word = self.word(sentinel + self.lay.size_off)
            if not s_word & FLAG_SENTINEL or s_word & ~FLAG_MASK != length:
                problems.append('%s: sentinel word 0x%x, expected length %d with SENTINEL' % (
                    where, s_word, length))
                continue
            try:
                blocks = self.blocks(hp)
            except KheapError as e:
                problems.append(str(e))
                continue
            prev_free = False
            for b, size_word in blocks:
                size = size_word & ~FLAG_MASK
                free = bool(size_word & FLAG_FREE)
                if bool(size_word & FLAG_PREV_FREE) != prev_free:
                    problems.append('block 0x%x: PREV_FREE %d but the previous block is %s' % (
                        b, bool(size_word & FLAG_PREV_FREE), 'free' if prev_free else 'in use'))
                if size_word & FLAG_SENTINEL:
                    problems.append('block 0x%x: SENTINEL flag inside the heap' % b)
                if (b + self.lay.payload) % (8 if w == 4 else 16):
                    problems.append('block 0x%x: payload misaligned' % b)
                if free:
                    if prev_free:
                        problems.append('block 0x%x: free after a free block (missed coalesce)' % b)
                    footer = self.word(b + size)
                    if footer != size:
                        problems.append('block 0x%x: footer %d, size %d' % (b, footer, size))
                    free_in_heaps.add(b)
                    totals['free'] += size
                    totals['free_blocks'] += 1
                else:
                    totals['in_use'] += size
                    totals['used_blocks'] += 1
                prev_free = free
            if bool(s_word & FLAG_PREV_FREE) != prev_free:
                problems.append('%s: sentinel PREV_FREE disagrees with the last block' % where)
            totals['pages'] += pages
            totals['heaps'] += 1
        # Free lists: every listed block is free and in a heap, each free
        # block listed once (the designated victim in none), bitmaps agree
        # with the lists.
        listed = 0
        seen = set()
        dv = to_int(self.k['dv'])
        if dv != 0:
            if dv not in free_in_heaps:
                problems.append('designated victim 0x%x is not a free block of any heap' % dv)
            seen.add(dv)
            listed += 1
        back_off = Layout.field_offset(self.lay.block, 'next_free')
        lists = self.k['lists']
        list_count = lists.type.range()[1] + 1
        words = self.k['map']
        summary = int(self.k['map_summary'])
        for w in range(words.type.range()[1] + 1):
            if (int(words[w]) != 0) != bool(summary >> w & 1):
                problems.append('map_summary bit %d disagrees with its word' % w)
        for i in range(list_count):
            b = lists[i]
            nonempty = to_int(b) != 0
            if nonempty != bool(int(words[i >> 5]) >> (i & 31) & 1):
                problems.append('map bit %d disagrees with its list' % i)
            back = to_int(lists[i].address)
            while to_int(b) != 0:
                addr = to_int(b)
                if addr in seen or listed > totals['free_blocks']:
                    problems.append('list %d: block 0x%x listed twice (a cycle?)' % (i, addr))
                    break
                seen.add(addr)
                listed += 1
                if addr not in free_in_heaps:
                    problems.append('list %d: block 0x%x is not a free block of any heap' % (i, addr))
                if to_int(b.dereference()['back_link']) != back:
                    problems.append('list %d: block 0x%x back link broken' % (i, addr))
                back = addr + back_off
                b = b.dereference()['next_free']
        missing = free_in_heaps - seen
        if missing:
            problems.append('%d free block(s) in no free list, first 0x%x' % (
                len(missing), min(missing)))
        st = self.k['stats']
        use = self.k['use']
        # What the instance keeps, and what diag.c derives from it.
        kept = {
            'stats.in_use_bytes': (totals['in_use'], int(use['in_use_bytes'])),
            'block_bytes - in_use_bytes': (totals['free'],
                                           int(self.k['block_bytes']) - int(use['in_use_bytes'])),
            'allocs - frees': (totals['used_blocks'], int(use['allocs']) - int(use['frees'])),
            'listed free blocks': (totals['free_blocks'], listed),
            'stats.pages': (totals['pages'], int(st['pages'])),
            'stats.heaps': (totals['heaps'], int(st['heaps'])),
        }
        for name, (held, says) in kept.items():
            if held != says:
                problems.append('%s = %d, the heaps hold %d' % (name, says, held))
        summary = '%d heaps, %d blocks (%d used, %d free), %d listed free' % (
            totals['heaps'], totals['used_blocks'] + totals['free_blocks'], totals['used_blocks'],
            totals['free_blocks'], listed)
        return problems, summary


    # -- call sites (KHEAP_TRACE=1 images)

    def need_trace(self):
        if not self.lay.traced:
            raise KheapError('this image was built without KHEAP_TRACE=1: blocks record no site')

    def leaks(self):
        """As kheap_leaks: the blocks in use allocated since the last
        kheap_mark, grouped by site in the order first met: a list of
        (site, blocks, bytes).  No table limit here."""
        self.need_trace()
        mark = int(self.k['trace_mark'])
        now = int(self.k['trace_seq'])
        mask = (1 << (8 * self.lay.w)) - 1
        groups = {}
        order = []
        for _, _, size, site, seq in self.used_blocks():
            if (seq - mark - 1) & mask >= (now - mark) & mask:
                continue
            if site not in groups:
                groups[site] = [0, 0]
                order.append(site)
            groups[site][0] += 1
            groups[site][1] += size
        return [(s, groups[s][0], groups[s][1]) for s in order]

    def owner(self, addr):
        """The block in use whose payload holds addr: (block, payload, size,
        site, seq), or None."""
        self.need_trace()
        for blk in self.used_blocks():
            if blk[1] <= addr < blk[1] + blk[2]:
                return blk
        return None


def describe_site(site):
    """function (file:line) of the call before a return address.  The
    function comes from the ELF symbol table and the line from that
    function's own line table: a lookup by address through DWARF can land
    in the wrong file on an image linked at address 0, where functions
    --gc-sections dropped keep address-0 ranges in their unit's DWARF."""
    pc = site - 1
    try:
        found = gdb.execute('info symbol 0x%x' % pc, to_string=True)
    except gdb.error:
        found = ''
    m = re.match(r'(\S+)(?: \+ \d+)? in section ', found)
    if m is None:
        return '? (?)'
    fn = m.group(1)
    where = '?'
    sym = gdb.lookup_global_symbol(fn) or gdb.lookup_static_symbol(fn)
    if sym is not None and sym.symtab is not None:
        best = None
        for e in sym.symtab.linetable():
            if e.pc <= pc and (best is None or e.pc >= best.pc):
                best = e
        if best is not None:
            where = '%s:%d' % (os.path.basename(sym.symtab.filename), best.line)
    return '%s (%s)' % (fn, where)


class KheapCommand(gdb.Command):
    """Print a kheap instance's map from memory, as kheap_dump would.
Usage: kheap [EXPR]        EXPR: a kheap * (default kheap_debug_instance)
       kheap check [EXPR]  check invariants: sentinels, flags, footers, free lists, stats"""

    def __init__(self):
        super().__init__('kheap', gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION, True)

    def invoke(self, arg, from_tty):
        expr = arg.strip() or DEFAULT_EXPR
        try:
            for line in Instance(expr).dump_lines():
                gdb.write(line + '\n')
        except (KheapError, gdb.MemoryError) as e:
            raise gdb.GdbError('kheap: %s' % e)


class KheapCheckCommand(gdb.Command):
    """Check a kheap instance's invariants from memory.
Usage: kheap check [EXPR]   EXPR: a kheap * (default kheap_debug_instance)
Checks each heap's magic, owner, links and sentinel; each block's flags,
PREV_FREE and footer; that every free block is in exactly one free list and
every listed block is free; the bitmaps; the stats against the heaps."""

    def __init__(self):
        super().__init__('kheap check', gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        expr = arg.strip() or DEFAULT_EXPR
        try:
            problems, summary = Instance(expr).check()
        except (KheapError, gdb.MemoryError) as e:
            raise gdb.GdbError('kheap check: %s' % e)
        if problems:
            for p in problems:
                gdb.write('kheap check: FAIL: %s\n' % p)
            raise gdb.GdbError('kheap check: %d problem(s); %s' % (len(problems), summary))
        gdb.write('kheap check: ok: %s\n' % summary)


class KheapLeaksCommand(gdb.Command):
    """What kheap_leaks would report, read from memory (KHEAP_TRACE=1 images).
Usage: kheap leaks [EXPR]   EXPR: a kheap * (default kheap_debug_instance)
One line per call site that holds blocks allocated since the last
kheap_mark (since kheap_create without one), in the order first met:
  leak site=0xADDR blocks=N bytes=N FUNCTION (FILE:LINE)
then `leaks sites=N blocks=N bytes=N`."""

    def __init__(self):
        super().__init__('kheap leaks', gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        expr = arg.strip() or DEFAULT_EXPR
        try:
            groups = Instance(expr).leaks()
        except (KheapError, gdb.MemoryError) as e:
            raise gdb.GdbError('kheap leaks: %s' % e)
        for site, blocks, size in groups:
            gdb.write('leak site=0x%x blocks=%d bytes=%d %s\n' % (
                site, blocks, size, describe_site(site)))
        gdb.write('leaks sites=%d blocks=%d bytes=%d\n' % (
            len(groups), sum(g[1] for g in groups), sum(g[2] for g in groups)))


class KheapOwnerCommand(gdb.Command):
    """The block in use that holds an address, and who allocated it
(KHEAP_TRACE=1 images).
Usage: kheap owner ADDR [EXPR]   EXPR: a kheap * (default kheap_debug_instance)
  owner of 0xADDR: block 0xPAYLOAD size=N offset=N site=0xSITE seq=N FUNCTION (FILE:LINE)"""

    def __init__(self):
        super().__init__('kheap owner', gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if not args:
            raise gdb.GdbError('kheap owner: usage: kheap owner ADDR [EXPR]')
        try:
            addr = to_int(gdb.parse_and_eval(args[0]))
            inst = Instance(' '.join(args[1:]) or DEFAULT_EXPR)
            blk = inst.owner(addr)
        except (KheapError, gdb.MemoryError, gdb.error) as e:
            raise gdb.GdbError('kheap owner: %s' % e)
        if blk is None:
            raise gdb.GdbError('kheap owner: 0x%x is in no block in use' % addr)
        _, payload, size, site, seq = blk
        gdb.write('owner of 0x%x: block 0x%x size=%d offset=%d site=0x%x seq=%d %s\n' % (
            addr, payload, size, addr - payload, site, seq, describe_site(site)))


KheapCommand()
KheapCheckCommand()
KheapLeaksCommand()
KheapOwnerCommand()
