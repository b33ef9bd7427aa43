"""Allocation churn for the drop-in test: builds and drops many objects of
many sizes (dicts, lists, tuples, strings, bytearrays that grow through
realloc, a few large buffers) and prints checksums that depend on every
value.  Deterministic: a fixed seed, and nothing printed depends on
addresses or hash order."""
import random
import sys
import zlib

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
rng = random.Random(5)
crc = 0
live = []
for r in range(rounds):
    # Many small objects, most of them dropped soon after.
    d = {}
    for i in range(5000):
        k = "k%d-%d" % (r, rng.randrange(100000))
        d[k] = (i, k * rng.randrange(1, 4), [rng.random() for _ in range(rng.randrange(5))])
    keys = sorted(d)
    crc = zlib.crc32(repr([d[k][:2] for k in keys[:200]]).encode(), crc)
    for k in keys[::2]:
        del d[k]
    live.append(d)
    if len(live) > 6:
        live.pop(rng.randrange(len(live)))
    # Lists that grow by appends, strings built by join.
    acc = []
    for i in range(3000):
        acc.append(str(i * r) * (1 + i % 7))
    s = "|".join(acc)
    crc = zlib.crc32(s.encode(), crc)
    # bytearrays growing piecewise (realloc), then a few large buffers.
    b = bytearray()
    for i in range(2000):
        b += bytes([i & 255]) * (1 + i % 50)
    crc = zlib.crc32(bytes(b), crc)
    big = [bytes([r & 255]) * rng.randrange(100000, 1000000) for _ in range(3)]
    crc = zlib.crc32(big[rng.randrange(3)][:4096], crc)
    del big, acc, s, b
    # Sets and nested containers, summarised in a hash-order-free way.
    st = {rng.randrange(1 << 30) for _ in range(4000)}
    crc = zlib.crc32(repr(sorted(st)[:100]).encode(), crc)
    print("round %d: live=%d crc=%08x" % (r, sum(len(x) for x in live), crc))
print("done: crc=%08x" % crc)
