// mount(2) and umount2(2) for pxebootd's overlay roots, run on libuv's thread pool; and
// mountOverlay, which mounts through directory descriptors (fsopen/fsconfig/fsmount/move_mount) so
// that a symlink swapped in after pxebootd opened the directories cannot redirect the mount.
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
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>

enum { OP_MOUNT, OP_UMOUNT, OP_OVERLAY };
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
} request;

static void free_request(request *r) {
  free(r->source);
  free(r->target);
  free(r->fstype);
  free(r->data);
  free(r->upper_path);
  free(r->work_path);
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

static void execute(napi_env env, void *data) {
  (void)env;
  request *r = data;
  int rc = r->op == OP_MOUNT    ? mount(r->source, r->target, r->fstype, r->flags, r->data)
           : r->op == OP_UMOUNT ? umount2(r->target, (int)r->flags)
                                : mount_overlay(r);
  r->err = rc == 0 ? 0 : errno;
}

// Settles the promise: undefined, or an Error like fs errors: code "EBUSY", errno 16, syscall, path.
static void complete(napi_env env, napi_status status, void *data) {
  request *r = data;
  int err = status == napi_ok ? r->err : ECANCELED;
  if (err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, r->deferred, undef);
  } else {
    const char *syscall = r->op == OP_UMOUNT ? "umount2" : "mount";
    const char *name = strerrorname_np(err);
    // mountOverlay names the step that failed: "mount /x/node/N: upperdir: Invalid argument (overlayfs: ...)"
    const char *stage = r->op == OP_OVERLAY && r->stage && strcmp(r->stage, "mount") != 0 ? r->stage : NULL;
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
  else r->op = op;
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

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &f);
  napi_set_named_property(env, exports, "mount", f);
  napi_create_function(env, "umount", NAPI_AUTO_LENGTH, js_umount, NULL, &f);
  napi_set_named_property(env, exports, "umount", f);
  napi_create_function(env, "mountOverlay", NAPI_AUTO_LENGTH, js_mount_overlay, NULL, &f);
  napi_set_named_property(env, exports, "mountOverlay", f);
  return exports;
}
