// A node's boot files in one call on libuv's thread pool: for each file, unless it is already there
// with this content, an exclusive temp file beside it (O_CREAT|O_EXCL|O_NOFOLLOW), write, fchmod,
// close, renameat over the name; for each link a temp symlink and renameat. All through one
// descriptor of the boot directory, opened with O_NOFOLLOW: nothing is written through a link.
//
// Why: done as synchronous calls from JavaScript, every syscall of every node in a storm ran on
// the daemon's main thread, one after the other; as async fs calls, each paid a thread-pool round
// trip. Here a node's files cost one round trip and none of the main thread's time.
//
// What is already at a name and is neither absent nor identical is not touched: the call stops
// there and says what it found (kind, inode, first bytes or link target), and the JavaScript side
// (provisioners/boot-files-apply.ts) decides whether it is pxebootd's to replace, then calls again
// with the inode it judged, which is replaced only if it is still that inode.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_NAME = 4096, MAX_DATA = 16 << 20, MAX_TEMPS = 8, HEAD = 512 };
enum { SAME = 0, WRITTEN = 1, FOUND = 2 };

typedef struct {
  char *name, *data; // data: the file's bytes, or the link's target
  size_t len;
  int is_link;
  unsigned mode;
  double expect_ino; // -1: none; else the inode the caller judged to be its own to replace
  char *temps[MAX_TEMPS];
  int ntemps;
  // results
  int state, err;
  const char *call;
  char kind; // FOUND: 'f' regular file, 'l' link, 'o' anything else
  double ino;
  char head[HEAD + 1];
  size_t head_len;
} op_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *dir;
  op_t *ops;
  uint32_t n, done;
  int dir_err;
  const char *dir_call;
} batch;

static void free_batch(batch *b) {
  for (uint32_t i = 0; i < b->n; i++) {
    free(b->ops[i].name);
    free(b->ops[i].data);
    for (int t = 0; t < b->ops[i].ntemps; t++) free(b->ops[i].temps[t]);
  }
  free(b->ops);
  free(b->dir);
  free(b);
}

static int mkdir_p(const char *dir, unsigned mode) {
  char buf[MAX_NAME];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *s = buf + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
    *s = '/';
  }
  return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

static int fail(op_t *o, const char *call) {
  o->err = errno;
  o->call = call;
  return -1;
}

// Is the regular file `name` exactly o->data? Opened without following a link or waiting on a FIFO.
static int same_file(int dfd, op_t *o) {
  int fd = openat(dfd, o->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  int same = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == o->len) {
    char *buf = malloc(o->len + 1);
    size_t got = 0;
    ssize_t n = 1;
    while (buf && got <= o->len && (n = read(fd, buf + got, o->len + 1 - got)) > 0) got += (size_t)n;
    same = buf && n >= 0 && got == o->len && memcmp(buf, o->data, o->len) == 0;
    free(buf);
  }
  close(fd);
  return same;
}

// What is at `name` (lstat `st`), for the caller to judge: the link's target or the file's first bytes.
static void describe(int dfd, op_t *o, const struct stat *st) {
  o->state = FOUND;
  o->ino = (double)st->st_ino;
  o->head_len = 0;
  if (S_ISLNK(st->st_mode)) {
    o->kind = 'l';
    ssize_t n = readlinkat(dfd, o->name, o->head, HEAD);
    o->head_len = n > 0 ? (size_t)n : 0;
  } else if (S_ISREG(st->st_mode)) {
    o->kind = 'f';
    int fd = openat(dfd, o->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat now;
    if (fd >= 0 && fstat(fd, &now) == 0 && S_ISREG(now.st_mode)) {
      ssize_t n = pread(fd, o->head, HEAD, 0);
      o->head_len = n > 0 ? (size_t)n : 0;
    }
    if (fd >= 0) close(fd);
  } else {
    o->kind = 'o';
  }
}

// Temp + rename of one file or link. 0, or -1 with o->err/o->call set.
static int replace(int dfd, op_t *o) {
  const char *tmp = NULL;
  int fd = -1;
  for (int t = 0; t < o->ntemps && tmp == NULL; t++) {
    if (o->is_link) {
      if (symlinkat(o->data, dfd, o->temps[t]) == 0) tmp = o->temps[t];
    } else {
      fd = openat(dfd, o->temps[t], O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, o->mode);
      if (fd >= 0) tmp = o->temps[t];
    }
    if (tmp == NULL && (errno != EEXIST || t == o->ntemps - 1)) return fail(o, o->is_link ? "symlink" : "open");
  }
  if (!o->is_link) {
    size_t put = 0;
    while (put < o->len) {
      ssize_t n = write(fd, o->data + put, o->len - put);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0) errno = EIO;
        fail(o, "write");
        break;
      }
      put += (size_t)n;
    }
    if (o->err == 0 && fchmod(fd, o->mode) != 0) fail(o, "fchmod");
    if (close(fd) != 0 && o->err == 0) fail(o, "close");
  }
  if (o->err == 0 && renameat(dfd, tmp, dfd, o->name) != 0) fail(o, "rename");
  if (o->err != 0) {
    unlinkat(dfd, tmp, 0);
    return -1;
  }
  return 0;
}

// One op: SAME, WRITTEN, FOUND (untouched), or -1 with o->err set.
static int apply(int dfd, op_t *o) {
  struct stat st;
  if (fstatat(dfd, o->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) return fail(o, "lstat");
  } else if (o->expect_ino < 0 || (double)st.st_ino != o->expect_ino) {
    if (o->is_link && S_ISLNK(st.st_mode) && (size_t)st.st_size == o->len) {
      char target[MAX_NAME];
      ssize_t n = readlinkat(dfd, o->name, target, sizeof target);
      if (n == (ssize_t)o->len && memcmp(target, o->data, o->len) == 0) return o->state = SAME;
    }
    if (!o->is_link && S_ISREG(st.st_mode) && (size_t)st.st_size == o->len && same_file(dfd, o)) return o->state = SAME;
    describe(dfd, o, &st);
    return FOUND;
  }
  if (replace(dfd, o) != 0) return -1;
  return o->state = WRITTEN;
}

static void execute(napi_env env, void *data) {
  (void)env;
  batch *b = data;
  int dfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0 && errno == ENOENT) {
    if (mkdir_p(b->dir, 0755) != 0) {
      b->dir_err = errno, b->dir_call = "mkdir";
      return;
    }
    dfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (dfd < 0) {
    b->dir_err = errno, b->dir_call = "open";
    return;
  }
  for (b->done = 0; b->done < b->n;) {
    int r = apply(dfd, &b->ops[b->done++]);
    if (r < 0 || r == FOUND) break; // the rest waits for the caller
  }
  close(dfd);
}

static void set_int(napi_env env, napi_value o, const char *key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, key, x);
}

static void set_str(napi_env env, napi_value o, const char *key, const char *s, size_t len) {
  napi_value x;
  napi_create_string_utf8(env, s, len, &x);
  napi_set_named_property(env, o, key, x);
}

static void set_errno(napi_env env, napi_value o, int err, const char *call) {
  const char *name = strerrorname_np(err);
  set_int(env, o, "errno", err);
  set_str(env, o, "code", name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH);
  set_str(env, o, "message", strerror(err), NAPI_AUTO_LENGTH);
  set_str(env, o, "syscall", call, NAPI_AUTO_LENGTH);
}

// Resolves {dir?: {errno, code, message, syscall}, results: [{state, ...}]}: one result per op
// done, in order; the last may be FOUND (kind, ino, head: a Buffer) or an error (errno, code, ...).
static void complete(napi_env env, napi_status status, void *data) {
  batch *b = data;
  napi_value out, results;
  napi_create_object(env, &out);
  if (status != napi_ok) b->dir_err = ECANCELED, b->dir_call = "queue";
  if (b->dir_err) {
    napi_value d;
    napi_create_object(env, &d);
    set_errno(env, d, b->dir_err, b->dir_call);
    napi_set_named_property(env, out, "dir", d);
  }
  napi_create_array_with_length(env, b->done, &results);
  for (uint32_t i = 0; i < b->done && !b->dir_err; i++) {
    op_t *o = &b->ops[i];
    napi_value r;
    napi_create_object(env, &r);
    set_int(env, r, "state", o->err ? -1 : o->state);
    if (o->err) set_errno(env, r, o->err, o->call);
    if (!o->err && o->state == FOUND) {
      char k[2] = {o->kind, 0};
      set_str(env, r, "kind", k, 1);
      set_int(env, r, "ino", o->ino);
      napi_value head;
      void *copy;
      napi_create_buffer_copy(env, o->head_len, o->head, &copy, &head);
      napi_set_named_property(env, r, "head", head);
    }
    napi_set_element(env, results, i, r);
  }
  napi_set_named_property(env, out, "results", results);
  napi_resolve_deferred(env, b->deferred, out);
  napi_delete_async_work(env, b->work);
  free_batch(b);
}

static napi_value type_error(napi_env env, const char *why) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", why);
  return NULL;
}

// A copy of a string argument that is one path component or a path: NULL on a bad one.
static char *copy_string(napi_env env, napi_value v, int component) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len >= MAX_NAME) return NULL;
  char *s = malloc(len + 1);
  if (s == NULL) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len || (component && (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0))) {
    free(s);
    return NULL;
  }
  return s;
}

// The bytes of a Buffer or string `v`, copied (data may hold any byte).
static char *copy_bytes(napi_env env, napi_value v, size_t *len) {
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (is_buf) {
    void *p;
    napi_get_buffer_info(env, v, &p, len);
    if (*len > MAX_DATA) return NULL;
    char *s = malloc(*len + 1);
    if (s) memcpy(s, p, *len);
    return s;
  }
  return NULL;
}

static napi_value prop(napi_env env, napi_value o, const char *key) {
  napi_value v = NULL;
  napi_get_named_property(env, o, key, &v);
  return v;
}

// apply(dir, ops): Promise<{dir?, results}>. dir: the boot directory's path (created 0755 with its
// parents when missing; never through a link at its last component). ops, done in order:
// {name, data: Buffer, link: boolean, mode, temps: [names], expectIno: number (-1 for none)}; name and
// temps are names in dir; for a link, data is its target.
static napi_value js_apply(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 2) return type_error(env, "apply(dir, ops)");
  uint32_t n = 0;
  bool is_arr = false;
  napi_is_array(env, argv[1], &is_arr);
  if (!is_arr || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > 1024) return type_error(env, "ops: expected an array of 1 to 1024 operations");
  batch *b = calloc(1, sizeof *b);
  if (b == NULL || (b->ops = calloc(n, sizeof *b->ops)) == NULL) {
    free(b);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  b->n = n;
  if ((b->dir = copy_string(env, argv[0], 0)) == NULL || b->dir[0] != '/') {
    free_batch(b);
    return type_error(env, "dir: expected an absolute path under 4096 bytes with no NUL byte");
  }
  for (uint32_t i = 0; i < n; i++) {
    op_t *o = &b->ops[i];
    napi_value v, temps;
    bool link = false;
    uint32_t mode = 0, nt = 0;
    napi_get_element(env, argv[1], i, &v);
    temps = prop(env, v, "temps");
    int ok = (o->name = copy_string(env, prop(env, v, "name"), 1)) != NULL && (o->data = copy_bytes(env, prop(env, v, "data"), &o->len)) != NULL &&
             napi_get_value_bool(env, prop(env, v, "link"), &link) == napi_ok && napi_get_value_uint32(env, prop(env, v, "mode"), &mode) == napi_ok && mode <= 07777 &&
             napi_get_value_double(env, prop(env, v, "expectIno"), &o->expect_ino) == napi_ok && napi_get_array_length(env, temps, &nt) == napi_ok && nt >= 1 &&
             nt <= MAX_TEMPS;
    o->is_link = link;
    o->mode = mode;
    if (ok && link) {
      o->data[o->len] = 0;
      ok = o->len > 0 && strlen(o->data) == o->len && o->len < MAX_NAME;
    }
    for (uint32_t t = 0; ok && t < nt; t++) {
      napi_value tv;
      napi_get_element(env, temps, t, &tv);
      ok = (o->temps[t] = copy_string(env, tv, 1)) != NULL;
      o->ntemps = (int)t + 1;
    }
    if (!ok) {
      free_batch(b);
      return type_error(env, "ops[i]: expected {name, data: Buffer, link, mode, temps, expectIno} with names that are one path component");
    }
  }
  napi_value promise, name;
  napi_create_promise(env, &b->deferred, &promise);
  napi_create_string_utf8(env, "pxebootd:bootfiles", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, b, &b->work);
  napi_queue_async_work(env, b->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "apply", NAPI_AUTO_LENGTH, js_apply, NULL, &f);
  napi_set_named_property(env, exports, "apply", f);
  return exports;
}
