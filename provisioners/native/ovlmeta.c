// stripOrigin(upperFd): removes overlayfs's trusted.overlay.origin xattr from an upper layer's
// root and from every entry below it, on libuv's thread pool. Resolves to { entries, stripped }.
//
// Why: with index=on,nfs_export=on an upper layer records the file handle of the lower root it was
// made on (and of each lower file or directory it copied up). Moved onto another lower layer (a new
// image version, or a root_dir rebuilt in place), the mount fails with ESTALE ("failed to verify
// upper root origin"), and a copied-up directory whose origin no longer matches stops merging with
// the new lower. Without origin, overlayfs treats the upper's entries as its own and records fresh
// origins on the next mount. Node has no xattr API, and one setfattr process per file is too slow.
//
// The walk never follows a link: each name is reached relative to its parent's descriptor
// (directories by openat with O_NOFOLLOW, other entries through /proc/self/fd/N/NAME with
// lremovexattr), it stays on the upper's filesystem, and the caller's descriptor is only borrowed.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char ORIGIN[] = "trusted.overlay.origin";

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  dev_t dev;
  double entries, stripped;
  int err;
  char where[512];
} request;

// 0 when removed, 1 when there was none, -1 (errno set) on failure.
static int strip_rc(int rc) {
  if (rc == 0) return 0;
  if (errno == ENODATA || errno == ENOTSUP) return 1;
  return -1;
}

static void fail(request *r, const char *what, const char *name) {
  r->err = errno;
  snprintf(r->where, sizeof r->where, "%s %s", what, name);
}

// Strips every entry inside the open directory `dirfd` (not the directory itself), depth first.
static int walk(request *r, int dirfd) {
  int dup_fd = dup(dirfd);
  if (dup_fd < 0) return fail(r, "dup", "directory"), -1;
  DIR *d = fdopendir(dup_fd);
  if (d == NULL) {
    close(dup_fd);
    return fail(r, "fdopendir", "directory"), -1;
  }
  int rc = 0;
  struct dirent *e;
  char proc[64 + NAME_MAX];
  for (errno = 0; (e = readdir(d)) != NULL; errno = 0) {
    const char *n = e->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    struct stat st;
    if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      fail(r, "fstatat", n);
      rc = -1;
      break;
    }
    r->entries++;
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != r->dev) {
        errno = EXDEV;
        fail(r, "another filesystem (a mount inside the layer?) at", n);
        rc = -1;
        break;
      }
      int sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
      if (sub < 0) {
        fail(r, "openat", n);
        rc = -1;
        break;
      }
      int s = strip_rc(fremovexattr(sub, ORIGIN));
      if (s < 0) fail(r, "fremovexattr", n);
      else if (s == 0) r->stripped++;
      if (s < 0 || walk(r, sub) != 0) rc = -1;
      close(sub);
      if (rc) break;
    } else {
      snprintf(proc, sizeof proc, "/proc/self/fd/%d/%s", dirfd, n);
      int s = strip_rc(lremovexattr(proc, ORIGIN));
      if (s < 0) {
        fail(r, "lremovexattr", n);
        rc = -1;
        break;
      }
      if (s == 0) r->stripped++;
    }
  }
  if (rc == 0 && errno != 0) {
    fail(r, "readdir", "directory");
    rc = -1;
  }
  closedir(d);
  return rc;
}

static void execute(napi_env env, void *data) {
  (void)env;
  request *r = data;
  struct stat st;
  if (fstat(r->fd, &st) != 0) return fail(r, "fstat", "upper");
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return fail(r, "upper", "is not a directory");
  }
  r->dev = st.st_dev;
  int s = strip_rc(fremovexattr(r->fd, ORIGIN));
  if (s < 0) return fail(r, "fremovexattr", "upper root");
  if (s == 0) r->stripped++;
  walk(r, r->fd);
}

static void complete(napi_env env, napi_status status, void *data) {
  request *r = data;
  int err = status == napi_ok ? r->err : ECANCELED;
  if (err == 0) {
    napi_value out, v;
    napi_create_object(env, &out);
    napi_create_double(env, r->entries, &v);
    napi_set_named_property(env, out, "entries", v);
    napi_create_double(env, r->stripped, &v);
    napi_set_named_property(env, out, "stripped", v);
    napi_resolve_deferred(env, r->deferred, out);
  } else {
    const char *name = strerrorname_np(err);
    char msg[768];
    snprintf(msg, sizeof msg, "removing %s: %s: %s", ORIGIN, r->where, strerror(err));
    napi_value code, text, error, num;
    napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, code, text, &error);
    napi_create_int32(env, err, &num);
    napi_set_named_property(env, error, "errno", num);
    napi_reject_deferred(env, r->deferred, error);
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

// stripOrigin(upperFd): Promise<{ entries, stripped }>. upperFd is a directory the caller opened
// with O_NOFOLLOW and keeps open until this settles.
static napi_value js_strip_origin(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "stripOrigin(upperFd): expected an open directory descriptor");
    return NULL;
  }
  request *r = calloc(1, sizeof *r);
  if (r == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  r->fd = fd;
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "pxebootd:stripOrigin", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, r, &r->work);
  napi_queue_async_work(env, r->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "stripOrigin", NAPI_AUTO_LENGTH, js_strip_origin, NULL, &f);
  napi_set_named_property(env, exports, "stripOrigin", f);
  return exports;
}
