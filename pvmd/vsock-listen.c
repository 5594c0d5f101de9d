/* Host listeners for guest-initiated vsock connections (pvm-config(5), vsock; org.pvm1(5),
 * ListenVsock). A guest that connects to host port P reaches the unix socket
 * <runtime_dir>/<name>.vsock_<P>, which its runner connects to under the runner's own uid. The
 * runtime directory is pvmd's, so a VM owner who is not root cannot make that socket: pvmd
 * makes it on the owner's request and hands the owner the listening descriptor, never a path.
 * The socket file is mode 0600 and owned by the current runner's ids (root's while the VM does
 * not run; pvmd hands it to each new runner before the guest runs), so only that VM's runner
 * can connect to it: no other local process can pose as the guest. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus-client.h"
#include "macro.h"
#include "pvmd.h"

static int listener_path(const pvmd_vm *vm, uint32_t port, struct sockaddr_un *sa)
{
	int n;

	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s.vsock_%" PRIu32,
		     vm->manager->runtime_dir, vm->name, port);
	return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -ENAMETOOLONG : 0;
}

static ssize_t listener_index(const pvmd_vm *vm, uint32_t port)
{
	for (size_t i = 0; i < vm->n_vsock_ports; i++)
		if (vm->vsock_ports[i] == port)
			return (ssize_t)i;
	return -1;
}

/* Whose a listener is: root's while no runner runs; the runner's when one does. */
static void listener_ids(const pvmd_vm *vm, uid_t *uid, gid_t *gid)
{
	*uid = 0;
	*gid = 0;
	if (vm->inst && !vm->recovered)
		(void)vm_instance_runner_ids(vm->inst, uid, gid);
}

int pvmd_vm_listen_vsock(pvmd_vm *vm, sd_bus_message *msg, uint32_t port, sd_bus_error *error)
{
	_cleanup_close_ int fd = -1;
	pvm_error err = { 0 };
	struct sockaddr_un sa;
	ssize_t known;
	struct stat st;
	uid_t uid;
	gid_t gid;
	int r;

	r = auth_check_action(vm->manager, msg, PVM_ACTION_ATTACH, vm, error);
	if (r < 0)
		return r;
	if (!vm->cfg->vsock)
		return sd_bus_error_setf(
		    error, PVM_BUS_ERROR_INVALID_ARGUMENT,
		    "VM '%s' has no vsock device (\"vsock\": true in its config)", vm->name);
	if (listener_path(vm, port, &sa) < 0)
		return sd_bus_error_setf(error, PVM_BUS_ERROR_INVALID_ARGUMENT,
					 "The listener path for port %" PRIu32
					 " of VM '%s' is too long for a unix socket",
					 port, vm->name);
	known = listener_index(vm, port);
	if (known < 0 && vm->n_vsock_ports >= PVMD_VSOCK_LISTENERS_MAX)
		return sd_bus_error_setf(
		    error, PVM_BUS_ERROR_LIMIT_EXCEEDED,
		    "VM '%s' has %d listeners already, the most pvmd makes for "
		    "one VM",
		    vm->name, PVMD_VSOCK_LISTENERS_MAX);
	if (lstat(sa.sun_path, &st) == 0) {
		/* one pvmd made before is replaced (its holder may be gone); anything else is
		 * someone else's, and stays */
		if (known < 0)
			return sd_bus_error_setf(
			    error, PVM_BUS_ERROR_BUSY,
			    "%s exists and pvmd did not make it: a host program of root's listens "
			    "for port %" PRIu32 " of VM '%s' there; choose another port",
			    sa.sun_path, port, vm->name);
		if (unlink(sa.sun_path) < 0 && errno != ENOENT)
			return sd_bus_error_set_errnof(error, errno, "Cannot replace %s: %m",
						       sa.sun_path);
	} else if (errno != ENOENT)
		return sd_bus_error_set_errnof(error, errno, "Cannot look at %s: %m", sa.sun_path);

	/* blocking: the caller accepts on the descriptor it gets */
	listener_ids(vm, &uid, &gid);
	fd = pvmd_unix_listener(&sa, 0, uid, gid, &err);
	if (fd < 0)
		return sd_bus_error_set_errnof(error, err.code, "Cannot make the listener: %s",
					       err.message);
	if (known < 0) {
		vm->vsock_ports[vm->n_vsock_ports++] = port;
		pvmd_vm_save(vm); /* the next pvmd hands it to the next runner too */
	}
	log_vm_info(vm->name,
		    "VM '%s': %s listens for the guest's connections to host port %" PRIu32,
		    vm->name, sa.sun_path, port);
	return sd_bus_reply_method_return(msg, "h", fd);
}

void pvmd_vm_vsock_listeners_grant(pvmd_vm *vm)
{
	pid_t pid = vm->inst && !vm->recovered ? vm_instance_runner_pid(vm->inst) : 0;
	struct sockaddr_un sa;
	uid_t uid;
	gid_t gid;

	if (!pid || pid == vm->vsock_granted_pid)
		return;
	vm->vsock_granted_pid = pid;
	listener_ids(vm, &uid, &gid);
	for (size_t i = 0; i < vm->n_vsock_ports; i++) {
		if (listener_path(vm, vm->vsock_ports[i], &sa) < 0)
			continue;
		/* never follows a link, as pvmd_unix_listener's lchown; a listener someone
		 * removed is simply gone */
		if (lchown(sa.sun_path, uid, gid) < 0 && errno != ENOENT)
			log_vm_warning(vm->name,
				       "VM '%s': cannot hand %s to its runner: %s; the guest's "
				       "connections to port %" PRIu32 " will be refused",
				       vm->name, sa.sun_path, strerror(errno), vm->vsock_ports[i]);
	}
}

void pvmd_vm_vsock_listeners_unlink(pvmd_vm *vm)
{
	struct sockaddr_un sa;

	for (size_t i = 0; i < vm->n_vsock_ports; i++)
		if (listener_path(vm, vm->vsock_ports[i], &sa) == 0)
			(void)unlink(sa.sun_path);
	vm->n_vsock_ports = 0;
}
