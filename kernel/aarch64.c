/*
 * AArch64 fault reporting (Armv8-A ARM D13.2.37 ESR_EL1, D13.2.40 FAR_EL1;
 * the exception classes of D13.2.37 table D13-8 and data/instruction
 * fault status codes of D13-9).  kernel/aarch64_entry.S saves the
 * registers and calls fault_report_a64.
 */
#include "board.h"
#include "console.h"

#include <stdbool.h>

enum fault_kind { KIND_SYNC, KIND_IRQ, KIND_FIQ, KIND_SERROR, KIND_LOWER };

struct fault_frame {
    uint64_t x[31];
    uint64_t sp, elr, spsr;
};

_Static_assert(sizeof(struct fault_frame) == 272, "aarch64_entry.S FRAME_SIZE");

/* The vectors are set in aarch64_entry.S; with the MMU off every access is
 * Device memory, where an unaligned access faults (alignment faults are
 * what -mstrict-align keeps GCC from causing). */
void arch_init(void)
{
}

static uint64_t read_esr(void) { uint64_t v; __asm__ volatile("mrs %0, esr_el1" : "=r"(v)); return v; }
static uint64_t read_far(void) { uint64_t v; __asm__ volatile("mrs %0, far_el1" : "=r"(v)); return v; }

static const char *const kind_names[] = {
    [KIND_SYNC] = "synchronous exception", [KIND_IRQ] = "unexpected IRQ",
    [KIND_FIQ] = "unexpected FIQ", [KIND_SERROR] = "SError",
    [KIND_LOWER] = "exception from a lower EL",
};

static const char *exception_class_name(unsigned ec)
{
    switch (ec) {
    case 0x00: return "unknown reason (undefined instruction)";
    case 0x01: return "WFI/WFE trapped";
    case 0x07: return "SIMD/FP access trapped";
    case 0x0e: return "illegal execution state";
    case 0x15: return "SVC";
    case 0x18: return "system register access trapped";
    case 0x20: return "instruction abort from a lower EL";
    case 0x21: return "instruction abort";
    case 0x22: return "PC alignment fault";
    case 0x24: return "data abort from a lower EL";
    case 0x25: return "data abort";
    case 0x26: return "SP alignment fault";
    case 0x2f: return "SError";
    case 0x30: case 0x31: return "breakpoint";
    case 0x32: case 0x33: return "software step";
    case 0x34: case 0x35: return "watchpoint";
    case 0x3c: return "BRK instruction";
    default:   return "other";
    }
}

/* The fault status code of a data or instruction abort (ISS[5:0]). */
static const char *fault_status_name(unsigned dfsc)
{
    switch (dfsc) {
    case 0x00: case 0x01: case 0x02: case 0x03: return "address size fault";
    case 0x04: case 0x05: case 0x06: case 0x07: return "translation fault";
    case 0x09: case 0x0a: case 0x0b: return "access flag fault";
    case 0x0d: case 0x0e: case 0x0f: return "permission fault";
    case 0x10: return "synchronous external abort";
    case 0x21: return "alignment fault";
    default:   return "other";
    }
}

static void print_registers(const struct fault_frame *f)
{
    kprintf("  pc   0x%016lx  sp   0x%016lx  spsr 0x%08lx\n", (unsigned long)f->elr,
            (unsigned long)f->sp, (unsigned long)f->spsr);
    for (int i = 0; i < 31; i += 3) {
        for (int j = i; j < i + 3 && j < 31; j++)
            kprintf("  x%-3d0x%016lx", j, (unsigned long)f->x[j]);
        kputs("\n");
    }
}

_Noreturn void fault_report_a64(enum fault_kind kind, const struct fault_frame *frame);

_Noreturn void fault_report_a64(enum fault_kind kind, const struct fault_frame *frame)
{
    fault_begin();
    uint64_t esr = read_esr();
    unsigned ec = (unsigned)(esr >> 26) & 0x3fu;
    bool abort = ec == 0x20 || ec == 0x21 || ec == 0x24 || ec == 0x25;
    const char *what = kind == KIND_SYNC ? exception_class_name(ec) : kind_names[kind];
    kprintf("\n*** FAULT: %s ***\n", what);
    kprintf("  ESR  0x%08lx (EC 0x%02x%s%s%s)\n", (unsigned long)esr, ec,
            abort ? ", " : "", abort ? fault_status_name((unsigned)esr & 0x3fu) : "",
            abort && ec >= 0x24 ? ((esr & (1u << 6)) ? ", write" : ", read") : "");
    kprintf("  ELR  0x%016lx\n", (unsigned long)frame->elr);
    kprintf("  FAR  0x%016lx\n", (unsigned long)read_far());
    print_registers(frame);
    fault_exit();
}
