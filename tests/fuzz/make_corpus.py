#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_kheap.c into tests/fuzz/corpus/.

Each seed is a small program in the harness's input language (see the top
of fuzz_kheap.c): 9 header bytes (3 per instance: geometry, heap knobs,
start offset), then one byte per operation, (instance << 6) | slot, followed
by the operation's argument bytes.  The slot ranges below must follow the
weights of the `ops` table in fuzz_kheap.c.

Usage: python3 tests/fuzz/make_corpus.py [OUTDIR]
"""
import os
import struct
import sys

# First slot of each operation (weights: alloc 15, calloc 4, realloc 9,
# aligned_alloc 6, free 13, usable_size 2, stats 2, walk 2, dump 1,
# faults 2, recreate 1, free_all 1, sbrk 1, verify_all 1, and the misuse
# ops double_free 1, interior 1, foreign 1, overflow 1).
SLOT = {}
_first = 0
for _name, _weight in [("alloc", 15), ("calloc", 4), ("realloc", 9), ("aligned", 6),
                       ("free", 13), ("usable", 2), ("stats", 2), ("walk", 2), ("dump", 1),
                       ("faults", 2), ("recreate", 1), ("free_all", 1), ("sbrk", 1),
                       ("verify_all", 1), ("double_free", 1), ("interior", 1),
                       ("foreign", 1), ("overflow", 1)]:
    SLOT[_name] = _first
    _first += _weight
assert _first == 64


def geometry(page_log2=12, grow_hidden=False, lock=False, region=0):
    """Header byte A: page 2^(6 + (A & 7) % 7), bit 3 grow hidden, bit 4 lock
    hooks, bits 5-7 region size index (1M 2M 3M 4M 1M 4M 256K 64K)."""
    return (page_log2 - 6) | (8 if grow_hidden else 0) | (16 if lock else 0) | (region << 5)


def knobs(heap_pages=0, threshold=0, fail_create=False):
    """Header byte B: heap_pages index (0 1 2 3 4 8 32 128 pages), large
    threshold index (default 64 200 1K 4K 16K 64K 1M), bit 6 fails the first
    map."""
    return heap_pages | (threshold << 3) | (64 if fail_create else 0)


def header(*insts):
    out = b""
    for a, b, c in insts:
        out += bytes([a, b, c])
    return out


DEFAULT = (geometry(), knobs(), 0)


def op(inst, name, args=b""):
    return bytes([(inst << 6) | SLOT[name]]) + args


def small(n):
    assert n <= 512
    return bytes([0]) + struct.pack("<H", n)


def medium(n):
    assert n <= 65536
    return bytes([200]) + struct.pack("<H", n)


def large(n):
    return bytes([230]) + struct.pack("<I", n)


def near_region(below):
    return bytes([241]) + struct.pack("<H", below)


def huge(k):
    return bytes([250, k])


def pick(i):
    return struct.pack("<H", i)


def alloc(inst, size):
    return op(inst, "alloc", size)


def free(inst, i):
    return op(inst, "free", pick(i))


def realloc(inst, mode, i, extra=b""):
    # mode byte: >= 16 picks a live block; & 3: 0 to zero, 1 shrink, 2 grow a
    # little, 3 any size (extra is a size).
    return op(inst, "realloc", bytes([mode]) + pick(i) + extra)


def aligned(inst, log2, size):
    return op(inst, "aligned", bytes([log2]) + size)


# Misuse calls: 0 free, 1 realloc, 2 usable_size.
CALLS = (0, 1, 2)


def double_free(inst, call, rsize=64):
    """The block freed last, again (skipped when something could have reused it)."""
    return op(inst, "double_free", bytes([call]) + struct.pack("<H", rsize))


def interior(inst, call, i, off, forge=0, misaligned=False, rsize=64):
    """Live block i + an offset: misaligned, or aligned with the word below it
    forged (0 the data as it is, 1 zero, 2 free flag, 3 sentinel flag, 4 huge,
    5 not a multiple of the alignment, 6 below any block, 7 past the region)."""
    return op(inst, "interior", bytes([call | (4 if misaligned else 0), forge]) +
              pick(i) + struct.pack("<HH", off, rsize))


def foreign_k(where, misaligned, call):
    """The foreign op's first byte: k % 5 where (0 static buffer, 1 stack,
    2 below the lowest page held, 3 at/above the highest, 4 another
    instance's block), bit 3 misaligned, (k >> 4) % 3 the call."""
    for k in range(256):
        if k % 5 == where and bool(k & 8) == misaligned and (k >> 4) % 3 == call:
            return k
    raise ValueError((where, misaligned, call))


def foreign(inst, where, call, misaligned=False, j=0, rsize=64):
    return op(inst, "foreign", bytes([foreign_k(where, misaligned, call), j]) +
              struct.pack("<H", rsize))


def overflow(inst, i, pattern, extra=0, neighbour=False):
    """Live block i overflows into the next header, then one free of it or
    (neighbour) of the next block when that is live; ends the input.
    pattern: 0-3 fill (0x00, 0xff, 0x41, the data running on) through
    1 + extra % (header bytes) bytes of the header; 4-7 a forged size word
    (doubled, free flag, one alignment more, bit 3 + extra flipped)."""
    assert 0 <= extra < 32
    return op(inst, "overflow", bytes([0, pattern | (extra << 3),
                                       1 if neighbour else 0]) + pick(i))


def seeds():
    s = {}
    # Plain use of one instance: allocs, frees, reallocs, walk, dump.
    body = b"".join(alloc(0, small(n)) for n in (0, 1, 8, 24, 100, 200, 512))
    body += free(0, 2) + free(0, 0)
    body += realloc(0, 16 | 2, 1, struct.pack("<H", 300))
    body += realloc(0, 16 | 1, 2, struct.pack("<H", 5))
    body += realloc(0, 16 | 3, 3, medium(9000))
    body += op(0, "usable", pick(0)) + op(0, "walk", b"\0") + op(0, "dump") + op(0, "stats")
    body += realloc(0, 16 | 0, 0) + op(0, "free_all", b"\1")
    s["basic"] = header(DEFAULT, DEFAULT, DEFAULT) + body

    # The provider refuses: map always, grow always, then every other call.
    body = op(0, "faults", bytes([2 | (2 << 2)]))
    body += b"".join(alloc(0, medium(n)) for n in (20000, 40000, 60000))
    body += alloc(0, large(300000)) + realloc(0, 16 | 3, 0, large(200000))
    body += op(0, "faults", bytes([3 | (3 << 2)]))
    body += b"".join(alloc(0, medium(n)) for n in (10000, 20000, 30000, 40000))
    body += op(0, "faults", b"\0") + op(0, "walk", b"\0") + op(0, "free_all", b"\0")
    s["faults"] = header((geometry(10), knobs(2), 0), DEFAULT, DEFAULT) + body

    # Aligned allocations: every power of two up to 64 KiB, some bad ones.
    body = b"".join(aligned(0, k, small(64 + 8 * k)) for k in range(17))
    body += b"".join(aligned(0, k, small(0)) for k in (232, 233, 236, 244, 252))
    body += op(0, "walk", b"\0") + op(0, "free_all", b"\3")
    s["aligned"] = header((geometry(8), knobs(0, 3), 5), DEFAULT, DEFAULT) + body

    # Small pages, grow hidden, lock hooks, a low large threshold.
    body = b"".join(alloc(1, small(n)) for n in (50, 70, 300, 500))
    body += alloc(1, medium(5000)) + alloc(1, large(700000)) + free(1, 5) + free(1, 4)
    body += op(1, "walk", b"\0") + op(1, "dump") + op(1, "free_all", b"\0")
    s["small_pages"] = header(DEFAULT, (geometry(6, True, True, 0), knobs(1, 2), 77), DEFAULT) + body

    # The break and mapped pages meet in a small region.
    body = op(2, "sbrk", bytes([0]) + struct.pack("<H", 20000))
    body += b"".join(alloc(2, medium(n)) for n in (15000, 15000, 15000))
    body += op(2, "sbrk", bytes([0]) + struct.pack("<H", 60000))
    body += op(2, "sbrk", bytes([100]) + struct.pack("<I", 30000))
    body += op(2, "sbrk", bytes([200])) + op(2, "sbrk", bytes([231]))
    body += op(2, "verify_all") + op(2, "free_all", b"\0")
    s["sbrk"] = header(DEFAULT, DEFAULT, (geometry(12, False, False, 7), knobs(), 3)) + body

    # Requests that cannot be met: huge sizes, overflowing calloc, the
    # region's size, realloc to huge.
    body = b"".join(alloc(0, huge(k)) for k in (0, 1, 2, 3, 4, 5, 6, 7, 9))
    body += op(0, "calloc", bytes([240, 1, 1])) + op(0, "calloc", bytes([0, 3]) + small(10))
    body += alloc(0, near_region(100)) + alloc(0, small(40))
    body += realloc(0, 16 | 3, 0, huge(0)) + op(0, "verify_all")
    s["huge"] = header(DEFAULT, DEFAULT, DEFAULT) + body

    # Destroy and recreate, with a new region geometry the second time.
    body = alloc(0, small(10)) + alloc(0, medium(30000))
    body += op(0, "recreate", bytes([geometry(12), knobs(3), 0]))
    body += alloc(0, small(10)) + alloc(0, large(500000))
    body += op(0, "recreate", bytes([128 | geometry(7, True), knobs(4, 4), 9]))
    body += alloc(0, small(10)) + op(0, "walk", b"\0")
    s["recreate"] = header(DEFAULT, DEFAULT, DEFAULT) + body

    # Three instances interleaved, one whose create fails.
    body = b""
    for i in range(6):
        for inst in range(3):
            body += alloc(inst, small(16 * i + inst))
    body += op(2, "recreate", bytes([geometry(9), knobs(), 0]))
    for inst in range(3):
        body += free(inst, 1) + op(inst, "walk", b"\xd0")
    s["three"] = header(DEFAULT, (geometry(9, False, True, 6), knobs(7, 5), 1),
                        (geometry(11), knobs(0, 0, True), 2)) + body

    # Double free, realloc and usable_size of the block freed last: after a
    # plain free, after walks and dumps in between, after a merge with its
    # free neighbours, after realloc to 0, and of a large block (its heap goes
    # back: skipped).  An alloc in between makes it skip too.
    body = b"".join(alloc(0, small(n)) for n in (40, 100, 24, 300, 64, 8))
    body += free(0, 1) + b"".join(double_free(0, c) for c in CALLS)
    body += free(0, 0) + op(0, "walk", b"\0") + op(0, "dump") + double_free(0, 0)
    body += free(0, 0) + double_free(0, 0) + double_free(0, 1, 0)
    body += realloc(0, 16 | 0, 0) + double_free(0, 0)
    body += alloc(0, small(10)) + double_free(0, 0)
    body += alloc(0, large(300000)) + free(0, 2) + double_free(0, 0)
    body += op(0, "free_all", b"\0") + double_free(0, 2)
    body += op(1, "walk", b"\0")
    s["misuse_double_free"] = header(DEFAULT, (geometry(8, False, True), knobs(1, 3), 3),
                                     DEFAULT) + body

    # Interior pointers: misaligned, and aligned with each forged header word.
    body = alloc(0, small(200)) + alloc(0, small(1)) + alloc(0, medium(5000))
    for c in CALLS:
        body += interior(0, c, 0, 7, misaligned=True) + interior(0, c, 1, 300, misaligned=True)
    for forge in range(8):
        body += interior(0, forge % 3, 0, forge, forge=forge)
        body += interior(0, 0, 2, 100 + forge, forge=forge)
    body += op(0, "verify_all")
    s["misuse_interior"] = header(DEFAULT, DEFAULT, DEFAULT) + body

    # Foreign pointers: the harness's static buffer and stack, just outside
    # the pages held, another instance's block; aligned and misaligned.
    body = alloc(1, small(50)) + alloc(0, medium(20000)) + alloc(0, small(3))
    for where in range(5):
        for c in CALLS:
            body += foreign(0, where, c, misaligned=False, j=where + c)
            body += foreign(0, where, c, misaligned=True, j=4 * c + where)
    body += foreign(2, 4, 0, j=1)
    s["misuse_foreign"] = header(DEFAULT, DEFAULT, (geometry(7), knobs(), 4)) + body

    # Overflows into the next header, each ending its input: into a live
    # neighbour (then free the block, or the neighbour), into a free block,
    # into the heap's sentinel; fills and a forged size word.  Each of these
    # is reported (or left valid) today in both tiers; their mutations find
    # the basic tier's forged-header crashes (issue 11).
    three = alloc(0, small(100)) + alloc(0, small(100)) + alloc(0, small(100))
    pre = header(DEFAULT, DEFAULT, DEFAULT) + alloc(1, small(30))
    s["misuse_overflow_live"] = pre + three + overflow(0, 0, 0)
    s["misuse_overflow_neighbour"] = pre + three + overflow(0, 0, 1, 7, neighbour=True)
    s["misuse_overflow_forged"] = pre + three + overflow(0, 0, 4, neighbour=True)
    s["misuse_overflow_free"] = pre + three + alloc(0, small(40)) + free(0, 1) + overflow(0, 0, 1, 15)
    s["misuse_overflow_sentinel"] = pre + alloc(0, large(5000)) + overflow(0, 0, 1)
    return s



def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds()), out))


if __name__ == "__main__":
    main()
