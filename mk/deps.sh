#!/bin/sh
# The build's dependency step: installs the Debian packages that `make test`
# and `make run` need when a tool is missing, with one line saying so.
# Usage: mk/deps.sh [MODE...]   MODE: host|target|tools|fuzz|dropin|bench|all
# (default all; several modes install the union in one go).  bench is what
# only the benchmarks need (picolibc for `make bench`, valgrind for `make
# bench-host`); all, and so `make test` and CI, leave it out.
set -u
want=" ${*:-all} "
missing=""

wants() { # wants MODE: was MODE asked for?
    case "$want" in *" $1 "*) return 0 ;; esac
    return 1
}
for m in $want; do
    case $m in host|target|tools|fuzz|dropin|bench|all) ;;
    *) echo "mk/deps.sh: unknown mode '$m' (host, target, tools, fuzz, dropin, bench, all)" >&2; exit 2 ;;
    esac
done

need() { # need PACKAGE TEST-COMMAND...
    pkg=$1; shift
    if ! "$@" >/dev/null 2>&1; then
        case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    fi
}

# m32_check links: does cc -m32 link?  m32_check runs: does the result run,
# natively or (on a kernel without 32-bit support) under qemu-i386?
m32_check() {
    printf 'int main(void){return 0;}\n' > /tmp/kheap-m32-$$.c &&
    cc -m32 /tmp/kheap-m32-$$.c -o /tmp/kheap-m32-$$ &&
    { [ "$1" = links ] || /tmp/kheap-m32-$$ || qemu-i386 /tmp/kheap-m32-$$; }
    rc=$?; rm -f /tmp/kheap-m32-$$ /tmp/kheap-m32-$$.c; return $rc
}

# libFuzzer's runtime ships apart from clang (libclang-rt-<major>-dev).
fuzzer_links() {
    printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        > /tmp/kheap-fuzz-$$.c &&
    clang -fsanitize=fuzzer,address,undefined /tmp/kheap-fuzz-$$.c -o /tmp/kheap-fuzz-$$
    rc=$?; rm -f /tmp/kheap-fuzz-$$ /tmp/kheap-fuzz-$$.c; return $rc
}

need make command -v make
need gcc command -v cc
if wants all || wants host || wants tools || wants fuzz; then
    need gcc-multilib m32_check links
    # Some kernels (VMs among them) cannot execute 32-bit x86 programs: the
    # -m32 suites then run under qemu-i386 (tests/run32.sh).
    m32_check links 2>/dev/null && need qemu-user m32_check runs
fi
if wants all || wants tools || wants dropin; then
    need python3 command -v python3
fi
if wants all || wants tools; then
    need gdb-multiarch command -v gdb-multiarch
fi
# The programs test-dropin runs under the preload: a missing one fails its
# case (a skip would be a case that can never fail).  sort and awk come
# with every Debian system.
if wants all || wants dropin; then
    need sqlite3 command -v sqlite3
fi
if wants all || wants fuzz; then
    need clang command -v clang
    command -v clang >/dev/null 2>&1 &&
        need "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev" fuzzer_links
fi
if wants all || wants target; then
    need gcc-arm-none-eabi command -v arm-none-eabi-gcc
    need binutils-arm-none-eabi command -v arm-none-eabi-nm
    need libnewlib-arm-none-eabi test -e /usr/lib/arm-none-eabi/newlib/libc.a
    need qemu-system-arm command -v qemu-system-arm
    # The AArch64 board (virt-a53): Debian's Linux cross compiler, used
    # freestanding; qemu-system-aarch64 comes with qemu-system-arm.
    need gcc-aarch64-linux-gnu command -v aarch64-linux-gnu-gcc
    need qemu-system-arm command -v qemu-system-aarch64
fi
if wants bench; then
    need picolibc-arm-none-eabi test -e /usr/lib/picolibc/arm-none-eabi/picolibc.specs
    need valgrind command -v valgrind
fi

[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "kheap: missing tools; install these packages:$missing" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
        echo "kheap: missing tools and not root; as root run: apt-get install$missing" >&2
        exit 1
    fi
fi
echo "kheap: installing missing packages with apt-get:$missing"
log=${TMPDIR:-/tmp}/kheap-deps.log
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    tail -20 "$log" >&2
    echo "kheap: apt-get failed (log: $log); install these packages:$missing" >&2
    exit 1
fi
