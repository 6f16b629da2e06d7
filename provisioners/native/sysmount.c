// mount(2) and umount2(2) for pxebootd's overlay roots, run on libuv's thread pool.
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

enum { OP_MOUNT, OP_UMOUNT };
enum { MAX_ARG = 4096 };

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int op;
  char *source, *target, *fstype, *data;
  unsigned long flags;
  int err;
} request;

static void free_request(request *r) {
  free(r->source);
  free(r->target);
  free(r->fstype);
  free(r->data);
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

static void execute(napi_env env, void *data) {
  (void)env;
  request *r = data;
  int rc = r->op == OP_MOUNT ? mount(r->source, r->target, r->fstype, r->flags, r->data) : umount2(r->target, (int)r->flags);
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
    const char *syscall = r->op == OP_MOUNT ? "mount" : "umount2";
    const char *name = strerrorname_np(err);
    char msg[MAX_ARG + 256];
    snprintf(msg, sizeof msg, "%s %s: %s", syscall, r->target, strerror(err));
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
  napi_create_string_utf8(env, r->op == OP_MOUNT ? "pxebootd:mount" : "pxebootd:umount2", NAPI_AUTO_LENGTH, &name);
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

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, js_mount, NULL, &f);
  napi_set_named_property(env, exports, "mount", f);
  napi_create_function(env, "umount", NAPI_AUTO_LENGTH, js_umount, NULL, &f);
  napi_set_named_property(env, exports, "umount", f);
  return exports;
}
