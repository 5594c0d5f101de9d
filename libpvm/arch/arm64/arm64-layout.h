/* The guest-visible machine pvm gives arm64 VMs: guest physical addresses of RAM and devices,
 * and the control protocol the test guests speak. Included by C and by guest assembly, so
 * only #defines here. The device tree pvm builds describes the same layout to Linux. */
#pragma once

/* GICv3 (in-kernel vGIC): distributor 64 KiB, one 128 KiB redistributor frame pair per vCPU. */
#define PVM_ARM64_GICD_BASE 0x08000000
#define PVM_ARM64_GICD_SIZE 0x00010000
#define PVM_ARM64_GICR_BASE 0x080a0000
#define PVM_ARM64_GICR_STRIDE 0x00020000

/* Console: a 16550-compatible UART (transmit register at offset 0; always ready). */
#define PVM_ARM64_UART_BASE 0x09000000
#define PVM_ARM64_UART_SIZE 0x1000
#define PVM_ARM64_UART_CLOCK 1843200

/* Control page: a 32-bit write of PVM_ARM64_READY_MAGIC to offset 0 signals READY; a 32-bit
 * read of offset 4 has bit 0 set once the host asks the guest to power off; pvm-fw reports its
 * verdict with one 32-bit write of PVM_ARM64_FW_VERDICT_MAGIC | verdict to offset 8 (0: the
 * payload verified, it boots next; 1-7: refused, docs/pvm-fw.md). Only the first verdict of a
 * run counts: the kernel the firmware boots cannot rewrite it. */
#define PVM_ARM64_CONTROL_BASE 0x09010000
#define PVM_ARM64_CONTROL_SIZE 0x1000
#define PVM_ARM64_CONTROL_READY 0
#define PVM_ARM64_CONTROL_STATUS 4
#define PVM_ARM64_CONTROL_FW_VERDICT 8
#define PVM_ARM64_READY_MAGIC 0x59444552 /* "REDY" little-endian: PVM_X86_READY_MAGIC (arch.h) */
#define PVM_ARM64_STOP_REQUESTED 0x1	 /* PVM_CONTROL_STOP_REQUESTED (arch.h) */
#define PVM_ARM64_FW_VERDICT_MAGIC 0x46570000 /* "FW" in the high half, the verdict below */
#define PVM_ARM64_FW_VERDICT_MASK 0xffff

/* RAM starts at 2 GiB; the Image goes to its first 2 MiB-aligned address + text_offset. */
#define PVM_ARM64_RAM_BASE 0x80000000ULL

/* Booting through pvm-fw (docs/pvm-fw.md): the firmware image runs at the start of RAM, the
 * signed descriptor follows at +2 MiB (one page), the kernel at +4 MiB and the initrd after the
 * kernel's image, 2 MiB-aligned. The image carries the public key it verifies with at a fixed
 * offset, after its Image header: an 8-byte magic, then the uncompressed P-256 point. */
#define PVM_ARM64_FW_IMAGE_MAX 0x200000ULL
#define PVM_ARM64_FW_DESCRIPTOR_OFFSET 0x200000ULL
#define PVM_ARM64_FW_DESCRIPTOR_SIZE 4096
#define PVM_ARM64_FW_KERNEL_OFFSET 0x400000ULL
#define PVM_ARM64_FW_PAYLOAD_ALIGN 0x200000ULL
#define PVM_ARM64_FW_KEY_RECORD_OFFSET 64
#define PVM_ARM64_FW_KEY_RECORD_MAGIC "PVMFWKEY"
#define PVM_ARM64_FW_KEY_POINT_SIZE 65

/* The test guest writes PVM_ARM64_GUEST_SECRET twice (16 bytes) at its load address + this. */
#define PVM_ARM64_GUEST_SECRET_OFFSET 0x1000
#define PVM_ARM64_GUEST_SECRET 0x54524345534d5650 /* "PVMSECRT" little-endian */
