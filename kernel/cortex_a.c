/*
 * A-profile fault reporting (ARMv7-A short-descriptor fault status; the
 * ARMv7-A ARM, B4.1.52 DFSR and B3.13.3 fault status encodings).
 * cortex_a_entry.S saves the registers and calls fault_report_a.
 */
#include "board.h"
#include "console.h"

enum fault_kind { KIND_UNDEF, KIND_SVC, KIND_PABT, KIND_DABT, KIND_IRQ, KIND_FIQ };

struct fault_frame {
    uint32_t r[13];
    uint32_t sp_svc, lr_svc;
    uint32_t lr_exc;
};

#define CPSR_T (1u << 5)

/* Nothing to switch on: the vectors and mode stacks are set in cortex_a_entry.S
 * and alignment faults are what the MMU-off Device memory gives anyway. */
void arch_init(void)
{
}

static uint32_t read_dfsr(void) { uint32_t v; __asm__ volatile("mrc p15, 0, %0, c5, c0, 0" : "=r"(v)); return v; }
static uint32_t read_ifsr(void) { uint32_t v; __asm__ volatile("mrc p15, 0, %0, c5, c0, 1" : "=r"(v)); return v; }
static uint32_t read_dfar(void) { uint32_t v; __asm__ volatile("mrc p15, 0, %0, c6, c0, 0" : "=r"(v)); return v; }
static uint32_t read_ifar(void) { uint32_t v; __asm__ volatile("mrc p15, 0, %0, c6, c0, 2" : "=r"(v)); return v; }

static const char *const kind_names[] = {
    [KIND_UNDEF] = "undefined instruction", [KIND_SVC] = "unexpected SVC",
    [KIND_PABT] = "prefetch abort", [KIND_DABT] = "data abort",
    [KIND_IRQ] = "unexpected IRQ", [KIND_FIQ] = "unexpected FIQ",
};

/* The preferred return address minus the offset each exception adds. */
static uint32_t faulting_pc(enum fault_kind kind, uint32_t lr, uint32_t spsr)
{
    switch (kind) {
    case KIND_UNDEF:
    case KIND_SVC:
        return lr - ((spsr & CPSR_T) ? 2u : 4u);
    case KIND_DABT:
        return lr - 8u;
    default:
        return lr - 4u;
    }
}

/* FS is bits [10] and [3:0] of the short-descriptor format. */
static const char *fault_status_name(uint32_t fsr)
{
    switch (((fsr >> 6) & 0x10u) | (fsr & 0xfu)) {
    case 0x01: return "alignment fault";
    case 0x02: return "debug event";
    case 0x03: return "access flag fault (section)";
    case 0x04: return "instruction cache maintenance fault";
    case 0x05: return "translation fault (section)";
    case 0x06: return "access flag fault (page)";
    case 0x07: return "translation fault (page)";
    case 0x08: return "synchronous external abort";
    case 0x09: return "domain fault (section)";
    case 0x0b: return "domain fault (page)";
    case 0x0d: return "permission fault (section)";
    case 0x0f: return "permission fault (page)";
    case 0x16: return "asynchronous external abort";
    default:   return "other";
    }
}

static void print_registers(const struct fault_frame *f, uint32_t pc, uint32_t spsr)
{
    kprintf("  pc   0x%08x  lr   0x%08x  sp   0x%08x  cpsr 0x%08x\n",
            (unsigned)pc, (unsigned)f->lr_svc, (unsigned)f->sp_svc, (unsigned)spsr);
    for (int i = 0; i < 13; i += 4) {
        for (int j = i; j < i + 4 && j < 13; j++)
            kprintf("  r%-3d0x%08x", j, (unsigned)f->r[j]);
        kputs("\n");
    }
}

static void print_abort_status(enum fault_kind kind)
{
    if (kind == KIND_DABT) {
        uint32_t dfsr = read_dfsr();
        kprintf("  DFSR 0x%08x %s, %s\n", (unsigned)dfsr, fault_status_name(dfsr),
                (dfsr & (1u << 11)) ? "write" : "read");
        kprintf("  DFAR 0x%08x\n", (unsigned)read_dfar());
    } else if (kind == KIND_PABT) {
        uint32_t ifsr = read_ifsr();
        kprintf("  IFSR 0x%08x %s\n", (unsigned)ifsr, fault_status_name(ifsr));
        kprintf("  IFAR 0x%08x\n", (unsigned)read_ifar());
    }
}

_Noreturn void fault_report_a(enum fault_kind kind, const struct fault_frame *frame, uint32_t spsr);

_Noreturn void fault_report_a(enum fault_kind kind, const struct fault_frame *frame, uint32_t spsr)
{
    fault_begin();
    uint32_t pc = faulting_pc(kind, frame->lr_exc, spsr);
    kprintf("\n*** FAULT: %s ***\n", kind_names[kind]);
    print_registers(frame, pc, spsr);
    print_abort_status(kind);
    fault_exit();
}
