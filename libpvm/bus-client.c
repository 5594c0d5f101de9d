/* The D-Bus client API of pvm: thin, typed wrappers around org.pvm1 calls that turn D-Bus errors
 * into a pvm_error with pvmd's own message and an errno from the shared error map. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "vm-props.h"

const sd_bus_error_map pvm_bus_error_map[] = {
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_POLICY_DENIED, EACCES),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_INVALID_CONFIG, EINVAL),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_INVALID_ARGUMENT, EINVAL),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_NO_SUCH_VM, ENOENT),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_BUSY, EBUSY),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_LIMIT_EXCEEDED, EDQUOT),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_ALREADY_EXISTS, EEXIST),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_NOT_RUNNING, ESRCH),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_START_FAILED, EIO),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_NO_CONSOLE, ENOTTY),
	SD_BUS_ERROR_MAP(PVM_BUS_ERROR_SHUTTING_DOWN, ESHUTDOWN),
	SD_BUS_ERROR_MAP_END,
};

int pvm_bus_error_map_register(void)
{
	static bool done;
	int r;

	if (done)
		return 0;
	r = sd_bus_error_add_map(pvm_bus_error_map);
	if (r < 0)
		return r;
	done = true;
	return 0;
}

int pvm_bus_error_to_pvm(const sd_bus_error *e, int r, const char *what, pvm_error *err)
{
	int code = r < 0 ? -r : EIO;

	if (e && sd_bus_error_is_set(e)) {
		code = sd_bus_error_get_errno(e);
		if (code <= 0)
			code = EIO;
		/* pvmd's errors are sentences for people; the standard D-Bus ones get the call
		 * named */
		if (strncmp(e->name, "org.pvm1.Error.", 15) == 0)
			return pvm_error_set(err, code, "%s", e->message ?: e->name);
		return pvm_error_set(err, code, "%s: %s (%s)", what, e->message ?: "failed",
				     e->name);
	}
	return pvm_error_set(err, code, "%s: %s", what, strerror(code));
}

void pvm_bus_vm_info_done(pvm_bus_vm_info *info)
{
	char **strs[] = {
		&info->path,
		&info->name,
		&info->state,
		&info->death_reason,
		&info->message,
		&info->memory_backing,
		&info->unswappable,
		&info->unswappable_how,
		&info->unmigratable,
		&info->unmigratable_how,
		&info->host_mapped,
		&info->host_mapped_how,
		&info->vsock_socket,
		&info->firmware,
		&info->firmware_identity,
		&info->firmware_result,
		&info->net_interface,
	};
	for (size_t i = 0; i < ELEMENTSOF(strs); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

void pvm_bus_vm_info_array_free(pvm_bus_vm_info *infos, size_t n)
{
	for (size_t i = 0; i < n && infos; i++)
		pvm_bus_vm_info_done(&infos[i]);
	free(infos);
}

int pvm_bus_open(sd_bus **ret, pvm_error *err)
{
	sd_bus *bus = NULL;
	int r;

	pvm_bus_error_map_register();
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		const char *addr = getenv("DBUS_SYSTEM_BUS_ADDRESS");
		return pvm_error_set(err, -r, "Cannot connect to the system bus%s%s%s: %s",
				     addr ? " at '" : "", addr ?: "", addr ? "'" : "",
				     strerror(-r));
	}
	*ret = bus;
	return 0;
}

/* Property table: D-Bus name, type, and where it lands in pvm_bus_vm_info. */
typedef struct vm_prop {
	const char *name;
	char type;
	size_t offset;
} vm_prop;

/* Every property of org.pvm1.VM (vm-props.h) and where it lands in pvm_bus_vm_info. */
#define VM_PROP_ROW(bus, sig, field, key, flags) { bus, sig[0], offsetof(pvm_bus_vm_info, field) },
static const vm_prop vm_props[] = { PVM_VM_PROPERTIES(VM_PROP_ROW) };
#undef VM_PROP_ROW

static int vm_prop_read(sd_bus_message *m, const vm_prop *p, pvm_bus_vm_info *info)
{
	void *field = (char *)info + p->offset;
	char sig[2] = { p->type, 0 };
	int r;

	r = sd_bus_message_enter_container(m, 'v', sig);
	if (r < 0)
		return r;
	switch (p->type) {
	case 's': {
		const char *s;
		char *copy;
		r = sd_bus_message_read_basic(m, 's', &s);
		if (r < 0)
			return r;
		copy = strdup(s);
		if (!copy)
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		break;
	}
	case 'b': {
		int b;
		r = sd_bus_message_read_basic(m, 'b', &b);
		if (r < 0)
			return r;
		*(bool *)field = b;
		break;
	}
	case 'u':
		r = sd_bus_message_read_basic(m, 'u', field);
		break;
	case 't':
		r = sd_bus_message_read_basic(m, 't', field);
		break;
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

int pvm_bus_vm_info_read(sd_bus_message *m, pvm_bus_vm_info *info)
{
	int r;

	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;
		const vm_prop *p = NULL;

		r = sd_bus_message_read_basic(m, 's', &key);
		if (r < 0)
			return r;
		for (size_t i = 0; i < ELEMENTSOF(vm_props); i++)
			if (strcmp(vm_props[i].name, key) == 0)
				p = &vm_props[i];
		/* unknown properties come from newer daemons: skip them */
		r = p ? vm_prop_read(m, p, info) : sd_bus_message_skip(m, "v");
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int append_options(sd_bus_message *m, const pvm_bus_create_options *opts)
{
	int r;

	r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	if (opts && opts->name) {
		r = sd_bus_message_append(m, "{sv}", "name", "s", opts->name);
		if (r < 0)
			return r;
	}
	if (opts) {
		r = sd_bus_message_append(m, "{sv}{sv}", "start", "b", (int)opts->start, "tie", "b",
					  (int)opts->tie);
		if (r >= 0 && opts->n_disk_fds > 0) {
			r = sd_bus_message_open_container(m, 'e', "sv");
			if (r >= 0)
				r = sd_bus_message_append(m, "s", "disk_fds");
			if (r >= 0)
				r = sd_bus_message_open_container(m, 'v', "ah");
			if (r >= 0)
				r = sd_bus_message_open_container(m, 'a', "h");
			for (size_t i = 0; r >= 0 && i < opts->n_disk_fds; i++)
				r = sd_bus_message_append_basic(m, 'h', &opts->disk_fds[i]);
			if (r >= 0)
				r = sd_bus_message_close_container(m);
			if (r >= 0)
				r = sd_bus_message_close_container(m);
			if (r >= 0)
				r = sd_bus_message_close_container(m);
		}
		if (r < 0)
			return r;
	}
	if (opts && opts->pass_kernel_fd) {
		r = sd_bus_message_append(m, "{sv}", "kernel_fd", "h", opts->kernel_fd);
		if (r < 0)
			return r;
	}
	if (opts && opts->pass_descriptor_fd) {
		r = sd_bus_message_append(m, "{sv}", "descriptor_fd", "h", opts->descriptor_fd);
		if (r < 0)
			return r;
	}
	if (opts && opts->pass_initrd_fd) {
		r = sd_bus_message_append(m, "{sv}", "initrd_fd", "h", opts->initrd_fd);
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(m);
}

static int create_common(sd_bus *bus, const char *member, char type, const void *arg,
			 const pvm_bus_create_options *opts, char **ret_name, char **ret_path,
			 pvm_error *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	const char *name, *path;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, PVM_BUS_NAME, PVM_BUS_PATH,
					   PVM_BUS_MANAGER_IFACE, member);
	if (r >= 0)
		r = sd_bus_message_append_basic(m, type, arg);
	if (r >= 0)
		r = append_options(m, opts);
	if (r < 0)
		return pvm_error_set(err, -r, "%s: cannot build the call: %s", member,
				     strerror(-r));
	r = sd_bus_call(bus, m, 0, &e, &reply);
	if (r < 0)
		return pvm_bus_error_to_pvm(&e, r, member, err);
	r = sd_bus_message_read(reply, "so", &name, &path);
	if (r < 0)
		return pvm_error_set(err, -r, "%s: unexpected reply: %s", member, strerror(-r));
	/* outputs are written only on success: copy both first */
	_cleanup_free_ char *name_copy = strdup(name), *path_copy = strdup(path);
	if (!name_copy || !path_copy)
		return pvm_error_set(err, ENOMEM, "out of memory");
	if (ret_name)
		*ret_name = TAKE_PTR(name_copy);
	if (ret_path)
		*ret_path = TAKE_PTR(path_copy);
	return 0;
}

int pvm_bus_create_vm(sd_bus *bus, const char *config_json, const pvm_bus_create_options *opts,
		      char **ret_name, char **ret_path, pvm_error *err)
{
	return create_common(bus, "CreateVM", 's', config_json, opts, ret_name, ret_path, err);
}

int pvm_bus_create_vm_from_fd(sd_bus *bus, int fd, const pvm_bus_create_options *opts,
			      char **ret_name, char **ret_path, pvm_error *err)
{
	return create_common(bus, "CreateVMFromFd", 'h', &fd, opts, ret_name, ret_path, err);
}

/* Calls that take a VM name (and maybe more) and return nothing. */
static int call_manager(sd_bus *bus, const char *member, sd_bus_message **ret_reply, pvm_error *err,
			const char *types, ...)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	va_list ap;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, PVM_BUS_NAME, PVM_BUS_PATH,
					   PVM_BUS_MANAGER_IFACE, member);
	if (r >= 0 && types) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	if (r < 0)
		return pvm_error_set(err, -r, "%s: cannot build the call: %s", member,
				     strerror(-r));
	r = sd_bus_call(bus, m, 0, &e, ret_reply);
	if (r < 0)
		return pvm_bus_error_to_pvm(&e, r, member, err);
	return 0;
}

int pvm_bus_subscribe(sd_bus *bus, pvm_error *err)
{
	return call_manager(bus, "Subscribe", NULL, err, NULL);
}

int pvm_bus_start_vm(sd_bus *bus, const char *name, pvm_error *err)
{
	return call_manager(bus, "StartVM", NULL, err, "s", name);
}

int pvm_bus_stop_vm(sd_bus *bus, const char *name, uint64_t timeout_usec, pvm_error *err)
{
	return call_manager(bus, "StopVM", NULL, err, "st", name, timeout_usec);
}

int pvm_bus_kill_vm(sd_bus *bus, const char *name, pvm_error *err)
{
	return call_manager(bus, "KillVM", NULL, err, "s", name);
}

int pvm_bus_remove_vm(sd_bus *bus, const char *name, pvm_error *err)
{
	return call_manager(bus, "RemoveVM", NULL, err, "s", name);
}

int pvm_bus_get_vm_path(sd_bus *bus, const char *name, char **ret_path, pvm_error *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *path;
	int r;

	r = call_manager(bus, "GetVM", &reply, err, "s", name);
	if (r < 0)
		return r;
	r = sd_bus_message_read(reply, "o", &path);
	if (r < 0)
		return pvm_error_set(err, -r, "GetVM: unexpected reply: %s", strerror(-r));
	if (!(*ret_path = strdup(path)))
		return pvm_error_set(err, ENOMEM, "out of memory");
	return 0;
}

static int get_all(sd_bus *bus, const char *path, pvm_bus_vm_info *info, pvm_error *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_call_method(bus, PVM_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll",
			       &e, &reply, "s", PVM_BUS_VM_IFACE);
	if (r < 0)
		return pvm_bus_error_to_pvm(&e, r, "GetAll", err);
	r = pvm_bus_vm_info_read(reply, info);
	if (r < 0)
		return pvm_error_set(err, -r, "GetAll: unexpected reply: %s", strerror(-r));
	if (!info->path && !(info->path = strdup(path)))
		return pvm_error_set(err, ENOMEM, "out of memory");
	return 0;
}

int pvm_bus_get_vm(sd_bus *bus, const char *name, pvm_bus_vm_info *ret, pvm_error *err)
{
	_cleanup_free_ char *path = NULL;
	pvm_bus_vm_info info = { 0 };
	int r;

	r = pvm_bus_get_vm_path(bus, name, &path, err);
	if (r < 0)
		return r;
	r = get_all(bus, path, &info, err);
	if (r < 0) {
		pvm_bus_vm_info_done(&info);
		return r;
	}
	*ret = info;
	return 0;
}

static int info_cmp(const void *a, const void *b)
{
	const pvm_bus_vm_info *x = a, *y = b;
	return strcmp(x->name ?: "", y->name ?: "");
}

int pvm_bus_list_vms(sd_bus *bus, pvm_bus_vm_info **ret, size_t *ret_n, pvm_error *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	pvm_bus_vm_info *infos = NULL;
	size_t n = 0;
	int r;

	/* ListVMs gives names and paths; GetAll per VM gives the rest in one schema */
	r = call_manager(bus, "ListVMs", &reply, err, NULL);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
	if (r < 0)
		goto bad_reply;
	for (;;) {
		const char *name, *state, *reason, *path;
		pvm_bus_vm_info *grown;

		r = sd_bus_message_read(reply, "(ssso)", &name, &state, &reason, &path);
		if (r < 0)
			goto bad_reply;
		if (r == 0)
			break;
		grown = realloc(infos, (n + 1) * sizeof(*infos));
		if (!grown) {
			pvm_bus_vm_info_array_free(infos, n);
			return pvm_error_set(err, ENOMEM, "out of memory");
		}
		infos = grown;
		memset(&infos[n], 0, sizeof(infos[n]));
		r = get_all(bus, path, &infos[n++], err);
		if (r == -ENOENT || r == -EACCES) {
			/* removed, or hidden from us, between the two calls */
			pvm_bus_vm_info_done(&infos[--n]);
			pvm_error_clear(err);
			continue;
		}
		if (r < 0) {
			pvm_bus_vm_info_array_free(infos, n);
			return r;
		}
	}
	if (n > 1)
		qsort(infos, n, sizeof(*infos), info_cmp);
	*ret = infos;
	*ret_n = n;
	return 0;

bad_reply:
	pvm_bus_vm_info_array_free(infos, n);
	return pvm_error_set(err, -r, "ListVMs: unexpected reply: %s", strerror(-r));
}

/* The one fd of a reply, kept (the message owns the fd it carries). */
static int reply_fd(sd_bus_message *reply, const char *method, int *ret_fd, pvm_error *err)
{
	int fd, r;

	r = sd_bus_message_read(reply, "h", &fd);
	if (r < 0)
		return pvm_error_set(err, -r, "%s: unexpected reply: %s", method, strerror(-r));
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return pvm_error_set(err, errno, "%s: cannot keep the descriptor: %m", method);
	*ret_fd = fd;
	return 0;
}

int pvm_bus_open_console(sd_bus *bus, const char *name, int *ret_fd, pvm_error *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = call_manager(bus, "OpenConsole", &reply, err, "s", name);
	if (r < 0)
		return r;
	return reply_fd(reply, "OpenConsole", ret_fd, err);
}

int pvm_bus_listen_vsock(sd_bus *bus, const char *name, uint32_t port, int *ret_fd, pvm_error *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = call_manager(bus, "ListenVsock", &reply, err, "su", name, port);
	if (r < 0)
		return r;
	return reply_fd(reply, "ListenVsock", ret_fd, err);
}

int pvm_bus_get_console_log(sd_bus *bus, const char *name, void **ret, size_t *ret_len,
			    pvm_error *err)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const void *data;
	size_t len;
	void *copy;
	int r;

	r = call_manager(bus, "GetConsoleLog", &reply, err, "s", name);
	if (r < 0)
		return r;
	r = sd_bus_message_read_array(reply, 'y', &data, &len);
	if (r < 0)
		return pvm_error_set(err, -r, "GetConsoleLog: unexpected reply: %s", strerror(-r));
	copy = malloc(len + 1);
	if (!copy)
		return pvm_error_set(err, ENOMEM, "out of memory");
	memcpy(copy, data, len);
	((char *)copy)[len] = '\0';
	*ret = copy;
	*ret_len = len;
	return 0;
}
