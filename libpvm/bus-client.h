/* The client side of pvmd's D-Bus interface (org.pvm1(5)): names, error names and their errno
 * mapping (shared with pvmd so both ends agree), and calls for programs that drive VMs.
 * pvmctl uses it; so can any other program that links libpvm. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "error.h"

#define PVM_BUS_NAME "org.pvm1"
#define PVM_BUS_PATH "/org/pvm1"
#define PVM_BUS_VM_PREFIX "/org/pvm1/vm"
#define PVM_BUS_MANAGER_IFACE "org.pvm1.Manager"
#define PVM_BUS_VM_IFACE "org.pvm1.VM"

/* Named errors. Each maps to one errno (below) so callers that only see an int still act. */
#define PVM_BUS_ERROR_POLICY_DENIED "org.pvm1.Error.PolicyDenied"
#define PVM_BUS_ERROR_INVALID_CONFIG "org.pvm1.Error.InvalidConfig"
#define PVM_BUS_ERROR_INVALID_ARGUMENT "org.pvm1.Error.InvalidArgument"
#define PVM_BUS_ERROR_NO_SUCH_VM "org.pvm1.Error.NoSuchVM"
#define PVM_BUS_ERROR_BUSY "org.pvm1.Error.Busy"
#define PVM_BUS_ERROR_LIMIT_EXCEEDED "org.pvm1.Error.LimitExceeded"
#define PVM_BUS_ERROR_ALREADY_EXISTS "org.pvm1.Error.AlreadyExists"
#define PVM_BUS_ERROR_NOT_RUNNING "org.pvm1.Error.NotRunning"
#define PVM_BUS_ERROR_START_FAILED "org.pvm1.Error.StartFailed"
#define PVM_BUS_ERROR_NO_CONSOLE "org.pvm1.Error.NoConsole"
#define PVM_BUS_ERROR_SHUTTING_DOWN "org.pvm1.Error.ShuttingDown"

/* The table both ends register with sd_bus_error_add_map(). */
extern const sd_bus_error_map pvm_bus_error_map[];

/* Register the map once per process (idempotent). */
int pvm_bus_error_map_register(void);

/* Options of CreateVM / CreateVMFromFd (the a{sv} argument). */
typedef struct pvm_bus_create_options {
	const char *name; /* replaces the config's name, or NULL */
	bool start;	  /* start right after creating */
	bool tie;	  /* stop the VM when the calling connection goes away */
	/* The payload files, opened by the caller (pvmd opens the config's payload paths for
	 * root only): passed as options kernel_fd and initrd_fd when the flag is set. */
	bool pass_kernel_fd, pass_initrd_fd, pass_descriptor_fd;
	int kernel_fd, initrd_fd, descriptor_fd; /* descriptor_fd: pvm-fw's signed descriptor */
	const int *disk_fds; /* one open descriptor per disk of the config, in order */
	size_t n_disk_fds;
} pvm_bus_create_options;

/* One VM as GetAll of org.pvm1.VM reports it. Strings are owned by the struct. */
typedef struct pvm_bus_vm_info {
	char *path;
	char *name;
	char *state;
	char *death_reason;
	char *message;
	bool protected_vm;
	uint32_t memory_mib;
	char *memory_backing;
	char *unswappable;
	char *unswappable_how;
	char *unmigratable;
	char *unmigratable_how;
	char *host_mapped;
	char *host_mapped_how;
	uint32_t vcpus;
	uint32_t runner_pid;
	uint64_t start_time_usec;
	uint32_t owner_uid;
	bool tied;
	uint32_t vsock_cid;	 /* 0: no vsock */
	char *vsock_socket;	 /* "" without vsock */
	char *firmware;		 /* "" without pvm-fw */
	char *firmware_identity; /* hex SHA-256 of its public key, "" when not known */
	char *firmware_result;	 /* "none", "pending", "verified", "kernel-mismatch", ... */
	char *net_interface;	 /* the tap while the VM runs with a network, else "" */
} pvm_bus_vm_info;

void pvm_bus_vm_info_done(pvm_bus_vm_info *info);
void pvm_bus_vm_info_array_free(pvm_bus_vm_info *infos, size_t n);

/* Connect to the system bus (honours DBUS_SYSTEM_BUS_ADDRESS). */
int pvm_bus_open(sd_bus **ret, pvm_error *err);

/* Every call below fills err from the D-Bus error (its message, prefixed with nothing: pvmd's
 * messages are written for people) and returns the errno the error name maps to. */
int pvm_bus_create_vm(sd_bus *bus, const char *config_json, const pvm_bus_create_options *opts,
		      char **ret_name, char **ret_path, pvm_error *err);
int pvm_bus_create_vm_from_fd(sd_bus *bus, int fd, const pvm_bus_create_options *opts,
			      char **ret_name, char **ret_path, pvm_error *err);
/* Ask pvmd for its VM signals on this connection (VMAdded, VMRemoved, VMStateChanged,
 * PropertiesChanged, InterfacesAdded/Removed): they come as unicasts, only about VMs the caller
 * may inspect, until the connection closes. Add the matches first, then subscribe. */
int pvm_bus_subscribe(sd_bus *bus, pvm_error *err);
int pvm_bus_start_vm(sd_bus *bus, const char *name, pvm_error *err);
int pvm_bus_stop_vm(sd_bus *bus, const char *name, uint64_t timeout_usec, pvm_error *err);
int pvm_bus_kill_vm(sd_bus *bus, const char *name, pvm_error *err);
int pvm_bus_remove_vm(sd_bus *bus, const char *name, pvm_error *err);
int pvm_bus_get_vm_path(sd_bus *bus, const char *name, char **ret_path, pvm_error *err);
int pvm_bus_get_vm(sd_bus *bus, const char *name, pvm_bus_vm_info *ret, pvm_error *err);
/* All VMs the caller may inspect, sorted by name. */
int pvm_bus_list_vms(sd_bus *bus, pvm_bus_vm_info **ret, size_t *ret_n, pvm_error *err);
int pvm_bus_open_console(sd_bus *bus, const char *name, int *ret_fd, pvm_error *err);
/* ListenVsock: a listening unix socket the VM's guest reaches by connecting to host port. */
int pvm_bus_listen_vsock(sd_bus *bus, const char *name, uint32_t port, int *ret_fd, pvm_error *err);
int pvm_bus_get_console_log(sd_bus *bus, const char *name, void **ret, size_t *ret_len,
			    pvm_error *err);

/* Read the VM properties out of an a{sv} (GetAll reply or a PropertiesChanged body); fields not
 * in the dictionary are left as they are. */
int pvm_bus_vm_info_read(sd_bus_message *m, pvm_bus_vm_info *info);

/* Fill err from a failed call; returns the negative errno. */
int pvm_bus_error_to_pvm(const sd_bus_error *e, int r, const char *what, pvm_error *err);
