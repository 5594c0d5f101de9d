/* A guard around the runner's accesses to the shared window. A protected guest can take a
 * window page back from the host (pKVM gives a page to the guest alone when the guest touches
 * it before sharing it), and the host's next access to that page faults. Device work done under
 * the guard ends at such a fault with the guest address it hit, so the VM can end as a
 * protection violation instead of the fault killing the runner. */
#pragma once

#include <stdint.h>

#include "error.h"
#include "virtio/window.h"

/* Catch SIGSEGV and SIGBUS in this process (before lock-down). A fault outside a guarded call,
 * or outside its window, keeps its default action: a crash, reported as one. */
int runner_window_guard_install(pvm_error *err);

/* Run fn(arg) on this thread under the guard for window w: 0 when it ran to its end; -EFAULT
 * when it faulted on the window, with the guest physical address of the fault in *ret_gpa. fn
 * is cut short there: what it was changing is left half done, so the caller must end the VM. */
int runner_window_guarded(const pvm_window *w, void (*fn)(void *arg), void *arg, uint64_t *ret_gpa);
