// mount(2) and umount2(2) for pxebootd's overlay roots, run on libuv's thread pool; and
// mountOverlay, which mounts through directory descriptors (fsopen/fsconfig/fsmount/move_mount) so
// that a symlink swapped in after pxebootd opened the directories cannot redirect the mount; and
// mountNode, which also makes and opens those directories first (the rules of
// provisioners/layer-dirs.ts), so a node's whole mount is one call off the main thread.
//
// Why: forking mount(8) from the daemon costs a fork of the whole Node process per node (40% of the
// daemon's CPU in a 1,000-node storm, docs/performance.md finding 2), and mount(8) then re-reads
// /proc/self/mountinfo. The kernel call itself takes well under a millisecond.
//
// The JavaScript side (provisioners/sysmount.ts) validates paths and options before calling here;
// this file still refuses strings with NUL bytes or over a page, so no call can be truncated.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>

enum { OP_MOUNT, OP_UMOUNT, OP_OVERLAY, OP_NODE };
enum { MAX_ARG = 4096 };

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int op;
  char *source, *target, *fstype, *data;
  unsigned long flags;
  int err;
  // OP_OVERLAY: target/upper/work descriptors (owned by the caller), and where it failed
  int tfd, ufd, wfd;
  char *upper_path, *work_path;
  const char *stage;
  char why[512];
  // OP_NODE: the two configured roots, the node's name, the modes of the directories it creates
  // (mount point, layer dir, upper, work); and where opening them failed: errno, the step (which
  // directory), the call, and the directory the failing name is in (left open for the caller)
  char *node_root, *layer_root, *node;
  unsigned modes[4];
  int dir_err, dir_parent;
  const char *dir_step, *dir_call, *dir_name;
} request;

static void free_request(request *r) {
  free(r->source);
  free(r->target);
  free(r->fstype);
  free(r->data);
  free(r->upper_path);
  free(r->work_path);
  free(r->node_root);
  free(r->layer_root);
  free(r->node);
  free(r);
}

// A copy of a JS string argument: NULL (with a TypeError thrown) if it is not a string, is longer
// than MAX_ARG bytes, or holds a NUL byte.
static char *copy_string(napi_env env, napi_value v, const char *name) {
  char why[128];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    snprintf(why, sizeof why, "%s: expected a string", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", why);
    return NULL;
  }
  if (len >= MAX_ARG) {
    snprintf(why, sizeof why, "%s: expected under %d bytes, found %zu", name, MAX_ARG, len);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", why);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  size_t got = 0;
  napi_get_value_string_utf8(env, v, s, len + 1, &got);
  if (got != len || strlen(s) != len) {
    snprintf(why, sizeof why, "%s: expected no NUL byte, found one at byte %zu", name, strlen(s));
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", why);
    return NULL;
  }
  return s;
}

// The fs context's error messages ("e overlayfs: ...") after a failed fsconfig, for the error text.
static void read_fs_log(int fs, request *r) {
  size_t used = strlen(r->why);
  char line[256];
  ssize_t n;
  while (used + 3 < sizeof r->why && (n = read(fs, line, sizeof line - 1)) > 0) {
    line[n] = 0;
    used += (size_t)snprintf(r->why + used, sizeof r->why - used, "%s%s", used ? "; " : "", line);
  }
}

static int set_string(int fs, request *r, const char *key, const char *value) {
  if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, value, 0) == 0) return 0;
  r->stage = key;
  return -1;
}

// A layer by descriptor; kernels whose overlayfs takes no descriptors (EINVAL) get the path the
// caller checked just before (see README: a residual race on those kernels only).
static int set_layer(int fs, request *r, const char *key, int fd, const char *path) {
  if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, key, NULL, fd) == 0) return 0;
  if (errno != EINVAL) {
    r->stage = key;
    return -1;
  }
  char drop[256];
  while (read(fs, drop, sizeof drop) > 0) {
  } // the "bad value" message of the descriptor attempt
  return set_string(fs, r, key, path);
}

// fsopen("overlay") + layers + fsmount + move_mount onto the target descriptor. With no fsopen
// (ENOSYS: before Linux 5.2) it falls back to mount(2) on /proc/self/fd/N with the layer paths.
static int mount_overlay(request *r) {
  int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fs < 0) {
    if (errno != ENOSYS) {
      r->stage = "fsopen";
      return -1;
    }
    char target[64], *opts = NULL;
    snprintf(target, sizeof target, "/proc/self/fd/%d", r->tfd);
    if (asprintf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s,index=on,nfs_export=on", r->data, r->upper_path, r->work_path) < 0) {
      r->stage = "mount";
      return -1;
    }
    int rc = mount("overlay", target, "overlay", 0, opts);
    int e = errno;
    free(opts);
    errno = e;
    r->stage = "mount";
    return rc;
  }
  int rc = -1, mnt = -1;
  if (set_string(fs, r, "source", "overlay") || set_string(fs, r, "lowerdir", r->data) || set_layer(fs, r, "upperdir", r->ufd, r->upper_path) ||
      set_layer(fs, r, "workdir", r->wfd, r->work_path) || set_string(fs, r, "index", "on") || set_string(fs, r, "nfs_export", "on")) {
    goto out;
  }
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
    r->stage = "fsconfig create";
    goto out;
  }
  mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
  if (mnt < 0) {
    r->stage = "fsmount";
    goto out;
  }
  if (syscall(SYS_move_mount, mnt, "", r->tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
    r->stage = "move_mount";
    goto out;
  }
  rc = 0;
out:;
  int e = errno;
  if (rc != 0) read_fs_log(fs, r);
  if (mnt >= 0) close(mnt); // a detached mount that was never moved is freed with its last descriptor
  close(fs);
  errno = e;
  return rc;
}

// mkdir -p `dir` (trusted: a configured root), each directory it creates with `mode`.
static int mkdir_p(const char *dir, unsigned mode) {
  char buf[MAX_ARG];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *s = buf + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
    *s = '/';
  }
  return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

// A configured root, created when missing (it may be reached through links: the admin's config).
static int open_root(request *r, const char *dir, unsigned mode, const char *step) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (mkdir_p(dir, mode) != 0) {
      r->dir_err = errno, r->dir_step = step, r->dir_call = "mkdir", r->dir_name = dir;
      return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd < 0) r->dir_err = errno, r->dir_step = step, r->dir_call = "open", r->dir_name = dir;
  return fd;
}

// `name` under the open directory `parent`, created when missing, opened as a directory without
// following a link and without waiting on anything (O_NONBLOCK). On failure `parent` is kept open
// for the caller, who describes what is there.
static int open_child(request *r, int parent, const char *name, unsigned mode, const char *step) {
  const char *call = "mkdir";
  int fd = -1;
  if (mkdirat(parent, name, mode) == 0 || errno == EEXIST) {
    call = "open";
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  }
  if (fd < 0) r->dir_err = errno, r->dir_step = step, r->dir_call = call, r->dir_name = name, r->dir_parent = parent;
  return fd;
}

// OP_NODE: open (creating) node_dir/<NODE>, overlay_dir/<NODE>, its upper and work, one name per
// step relative to the directory opened before it, then mount the overlay through the descriptors.
// A failure before the mount sets dir_err and returns 0 (the caller raises its own error).
static int mount_node(request *r) {
  int fds[6] = {-1, -1, -1, -1, -1, -1}; // node root, target, layer root, layer, upper, work
  int rc = 0;
  if ((fds[0] = open_root(r, r->node_root, r->modes[0], "node_dir")) < 0 ||
      (fds[1] = open_child(r, fds[0], r->node, r->modes[0], "node_dir/<NODE>")) < 0 ||
      (fds[2] = open_root(r, r->layer_root, r->modes[1], "overlay_dir")) < 0 ||
      (fds[3] = open_child(r, fds[2], r->node, r->modes[1], "overlay_dir/<NODE>")) < 0 ||
      (fds[4] = open_child(r, fds[3], "upper", r->modes[2], "upper")) < 0 ||
      (fds[5] = open_child(r, fds[3], "work", r->modes[3], "work")) < 0) {
    errno = 0;
  } else {
    r->tfd = fds[1], r->ufd = fds[4], r->wfd = fds[5];
    rc = mount_overlay(r);
  }
  int e = errno;
  for (int i = 0; i < 6; i++) {
    if (fds[i] >= 0 && fds[i] != r->dir_parent) close(fds[i]);
  }
  errno = e;
  return rc;
}

static void execute(napi_env env, void *data) {
  (void)env;
  request *r = data;
  int rc = r->op == OP_MOUNT    ? mount(r->source, r->target, r->fstype, r->flags, r->data)
           : r->op == OP_UMOUNT ? umount2(r->target, (int)r->flags)
           : r->op == OP_NODE   ? mount_node(r)
                                : mount_overlay(r);
  r->err = rc == 0 ? 0 : errno;
}

// Settles the promise: undefined, or an Error like fs errors: code "EBUSY", errno 16, syscall, path.
static void complete(napi_env env, napi_status status, void *data) {
  request *r = data;
  int err = status == napi_ok ? r->err : ECANCELED;
  if (err == 0 && r->dir_err != 0) {
    // mountNode: a directory could not be made or opened; nothing was mounted
    napi_value o, v;
    napi_create_object(env, &o);
    const char *name = strerrorname_np(r->dir_err);
    napi_create_int32(env, r->dir_err, &v);
    napi_set_named_property(env, o, "errno", v);
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "code", v);
    napi_create_string_utf8(env, strerror(r->dir_err), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "message", v);
    napi_create_string_utf8(env, r->dir_step, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "step", v);
    napi_create_string_utf8(env, r->dir_call, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "syscall", v);
    napi_create_string_utf8(env, r->dir_name, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "name", v);
    napi_create_int32(env, r->dir_parent, &v);
    napi_set_named_property(env, o, "parentFd", v);
    napi_resolve_deferred(env, r->deferred, o);
  } else if (err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, r->deferred, undef);
  } else {
    const char *syscall = r->op == OP_UMOUNT ? "umount2" : "mount";
    const char *name = strerrorname_np(err);
    // mountOverlay names the step that failed: "mount /x/node/N: upperdir: Invalid argument (overlayfs: ...)"
    const char *stage = (r->op == OP_OVERLAY || r->op == OP_NODE) && r->stage && strcmp(r->stage, "mount") != 0 ? r->stage : NULL;
    char msg[MAX_ARG + 1024];
    int n = snprintf(msg, sizeof msg, "%s %s: %s%s%s", syscall, r->target, stage ? stage : "", stage ? ": " : "", strerror(err));
    if (r->why[0] && n > 0 && (size_t)n < sizeof msg) snprintf(msg + n, sizeof msg - (size_t)n, " (%s)", r->why);
    napi_value code, text, error, num, sys, path;
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &error);
    napi_create_int32(env, err, &num);
    napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
    napi_create_string_utf8(env, r->target, NAPI_AUTO_LENGTH, &path);
    napi_set_named_property(env, error, "errno", num);
    napi_set_named_property(env, error, "syscall", sys);
    napi_set_named_property(env, error, "path", path);
    napi_reject_deferred(env, r->deferred, error);
  }
  napi_delete_async_work(env, r->work);
  free_request(r);
}

static napi_value queue(napi_env env, request *r) {
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, r->op == OP_UMOUNT ? "pxebootd:umount2" : "pxebootd:mount", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, r, &r->work);
  napi_queue_async_work(env, r->work);
  return promise;
}

static int get_flags(napi_env env, napi_value v, unsigned long *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 4294967295.0 || d != (double)(unsigned long)d) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "flags must be an unsigned 32-bit integer");
    return 0;
  }
  *out = (unsigned long)d;
  return 1;
}

// A new request for `op` with exactly `want` arguments in argv, or NULL with a TypeError thrown.
static request *new_request(napi_env env, napi_callback_info info, int op, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", usage);
    return NULL;
  }
  request *r = calloc(1, sizeof *r);
  if (r == NULL) napi_throw_error(env, "ENOMEM", "out of memory");
  else r->op = op, r->dir_parent = -1;
  return r;
}

// mount(source, target, fstype, flags, data): Promise<void>
static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  request *r = new_request(env, info, OP_MOUNT, 5, argv, "mount(source, target, fstype, flags, data)");
  if (r == NULL) return NULL;
  if (!(r->source = copy_string(env, argv[0], "source")) || !(r->target = copy_string(env, argv[1], "target")) ||
      !(r->fstype = copy_string(env, argv[2], "fstype")) || !get_flags(env, argv[3], &r->flags) ||
      !(r->data = copy_string(env, argv[4], "data"))) {
    free_request(r);
    return NULL;
  }
  return queue(env, r);
}

// umount(target, flags): Promise<void>
static napi_value js_umount(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  request *r = new_request(env, info, OP_UMOUNT, 2, argv, "umount(target, flags)");
  if (r == NULL) return NULL;
  if (!(r->target = copy_string(env, argv[0], "target")) || !get_flags(env, argv[1], &r->flags)) {
    free_request(r);
    return NULL;
  }
  return queue(env, r);
}

static int get_fd(napi_env env, napi_value v, const char *name, int *out) {
  int32_t fd;
  if (napi_get_value_int32(env, v, &fd) != napi_ok || fd < 0) {
    char why[128];
    snprintf(why, sizeof why, "%s: expected an open file descriptor (a non-negative integer)", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", why);
    return 0;
  }
  *out = fd;
  return 1;
}

// mountOverlay(targetFd, lowerdir, upperFd, workFd, upperPath, workPath, label): Promise<void>.
// The descriptors are directories the caller opened with O_NOFOLLOW and keeps open until this
// settles; the paths are used only on kernels that take no layer descriptors; label (the mount
// point) only names the mount in errors.
static napi_value js_mount_overlay(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  request *r = new_request(env, info, OP_OVERLAY, 7, argv, "mountOverlay(targetFd, lowerdir, upperFd, workFd, upperPath, workPath, label)");
  if (r == NULL) return NULL;
  if (!get_fd(env, argv[0], "targetFd", &r->tfd) || !(r->data = copy_string(env, argv[1], "lowerdir")) || !get_fd(env, argv[2], "upperFd", &r->ufd) ||
      !get_fd(env, argv[3], "workFd", &r->wfd) || !(r->upper_path = copy_string(env, argv[4], "upperPath")) || !(r->work_path = copy_string(env, argv[5], "workPath")) ||
      !(r->target = copy_string(env, argv[6], "label"))) {
    free_request(r);
    return NULL;
  }
  return queue(env, r);
}

static int get_mode(napi_env env, napi_value v, const char *name, unsigned *out) {
  uint32_t m;
  if (napi_get_value_uint32(env, v, &m) != napi_ok || m > 07777) {
    char why[128];
    snprintf(why, sizeof why, "%s: expected a file mode (0 to 0o7777)", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", why);
    return 0;
  }
  *out = m;
  return 1;
}

// mountNode(nodeRoot, layerRoot, node, modes[4], lowerdir, upperPath, workPath, label):
// Promise<undefined | {errno, code, message, step, syscall, name, parentFd}>. One work item on the
// thread pool: makes and opens node_dir/<NODE>, overlay_dir/<NODE>, upper and work (never following
// a link below the roots; modes: mount point, layer dir, upper, work), then mounts the overlay
// through their descriptors and closes them. A directory it cannot make or open resolves with what
// failed (parentFd, when not -1, is the open directory `name` is in: the caller closes it); a
// failed mount rejects as mountOverlay does.
static napi_value js_mount_node(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  request *r = new_request(env, info, OP_NODE, 8, argv, "mountNode(nodeRoot, layerRoot, node, modes, lowerdir, upperPath, workPath, label)");
  if (r == NULL) return NULL;
  int ok = (r->node_root = copy_string(env, argv[0], "nodeRoot")) && (r->layer_root = copy_string(env, argv[1], "layerRoot")) &&
           (r->node = copy_string(env, argv[2], "node"));
  if (ok && (r->node[0] == 0 || strchr(r->node, '/') || strcmp(r->node, ".") == 0 || strcmp(r->node, "..") == 0)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "node: expected one path component (no '/', not '.' or '..')");
    ok = 0;
  }
  for (uint32_t i = 0; ok && i < 4; i++) {
    napi_value m;
    ok = napi_get_element(env, argv[3], i, &m) == napi_ok && get_mode(env, m, "modes[i]", &r->modes[i]);
  }
  if (!ok || !(r->data = copy_string(env, argv[4], "lowerdir")) || !(r->upper_path = copy_string(env, argv[5], "upperPath")) ||
      !(r->work_path = copy_string(env, argv[6], "workPath")) || !(r->target = copy_string(env, argv[7], "label"))) {
    free_request(r);
    return NULL;
  }
  return queue(env, r);
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &f);
  napi_set_named_property(env, exports, "mount", f);
  napi_create_function(env, "umount", NAPI_AUTO_LENGTH, js_umount, NULL, &f);
  napi_set_named_property(env, exports, "umount", f);
  napi_create_function(env, "mountOverlay", NAPI_AUTO_LENGTH, js_mount_overlay, NULL, &f);
  napi_set_named_property(env, exports, "mountOverlay", f);
  napi_create_function(env, "mountNode", NAPI_AUTO_LENGTH, js_mount_node, NULL, &f);
  napi_set_named_property(env, exports, "mountNode", f);
  return exports;
}
