/* Test guest for HVM domains: an ordinary WASI program, unaware of Xen.
 * Usage: hvmtest.wasm COMMAND [ARGS...] (see main). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/socket.h>

extern char **environ;

static int hello(int argc, char **argv) {
  printf("hello from an unmodified WASI program\n");
  for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
  for (char **e = environ; *e; e++) printf("env %s\n", *e);
  fflush(stdout);
  fprintf(stderr, "to stderr\n");
  return 0;
}

static int cat_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) { printf("open %s: %s\n", path, strerror(errno)); return 1; }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
  fclose(f);
  return 0;
}

/* files IN OUT DIR: copy IN to OUT upper-cased, list DIR, mkdir DIR/made, rename, unlink. */
static int files(int argc, char **argv) {
  if (argc < 4) return 2;
  FILE *in = fopen(argv[1], "r");
  if (!in) { printf("open %s: %s\n", argv[1], strerror(errno)); return 3; }
  FILE *out = fopen(argv[2], "w");
  if (!out) { printf("create %s: %s\n", argv[2], strerror(errno)); return 4; }
  int c;
  while ((c = fgetc(in)) != EOF) fputc(c >= 'a' && c <= 'z' ? c - 32 : c, out);
  fclose(in);
  fclose(out);
  char made[512];
  snprintf(made, sizeof made, "%s/made", argv[3]);
  if (mkdir(made, 0755) != 0) printf("mkdir: %s\n", strerror(errno));
  char tmp[512], dst[512];
  snprintf(tmp, sizeof tmp, "%s/made/tmp.txt", argv[3]);
  snprintf(dst, sizeof dst, "%s/made/final.txt", argv[3]);
  FILE *t = fopen(tmp, "w");
  if (t) { fputs("renamed ok\n", t); fclose(t); }
  if (rename(tmp, dst) != 0) printf("rename: %s\n", strerror(errno));
  char gone[512];
  snprintf(gone, sizeof gone, "%s/gone.txt", argv[3]);
  t = fopen(gone, "w");
  if (t) fclose(t);
  if (unlink(gone) != 0) printf("unlink: %s\n", strerror(errno));
  DIR *d = opendir(argv[3]);
  if (!d) { printf("opendir: %s\n", strerror(errno)); return 5; }
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  struct stat st;
  if (stat(argv[2], &st) == 0) printf("wrote %s size=%lld entries=%d\n", argv[2], (long long)st.st_size, n);
  return cat_file(argv[2]);
}

/* escape PATH...: try to open each path, print "PATH: ok|ERRNO" */
static int escape(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int fd = open(argv[i], O_RDONLY);
    if (fd >= 0) {
      char buf[64] = {0};
      ssize_t n = read(fd, buf, sizeof buf - 1);
      printf("%s: ok %zd\n", argv[i], n);
      close(fd);
    } else {
      printf("%s: %s\n", argv[i], strerror(errno));
    }
  }
  return 0;
}

/* echo FD: accept one connection on the preopened listener FD, echo until EOF. */
static int echo(int argc, char **argv) {
  int lfd = argc > 1 ? atoi(argv[1]) : 3;
  printf("echo: waiting on fd %d\n", lfd);
  fflush(stdout);
  int c = accept(lfd, NULL, NULL);
  if (c < 0) { printf("accept: %s\n", strerror(errno)); return 1; }
  char buf[1024];
  ssize_t n;
  long total = 0;
  while ((n = read(c, buf, sizeof buf)) > 0) {
    total += n;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = write(c, buf + off, n - off);
      if (w < 0) { printf("write: %s\n", strerror(errno)); return 2; }
      off += w;
    }
  }
  close(c);
  printf("echo: done after %ld bytes\n", total);
  return 0;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static unsigned cpu(long rounds) {
  unsigned h = 2166136261u;
  unsigned x = 1;
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < 1000; i++) {
      x = x * 1103515245u + 12345u;
      h = (h ^ (x >> 16)) * 16777619u;
    }
  }
  return h;
}

static int fdwrite(long n) {
  long long t0 = now_ns();
  for (long i = 0; i < n; i++) write(1, "x", 1);
  fprintf(stderr, "\nfdwrite ns=%lld\n", now_ns() - t0);
  return 0;
}

/* filerw PATH MIB: write MIB MiB sequentially in 64 KiB blocks, read it back, check. */
static int filerw(const char *path, long mib) {
  static unsigned char buf[65536];
  long long t0 = now_ns();
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) { printf("open: %s\n", strerror(errno)); return 1; }
  for (long b = 0; b < mib * 16; b++) {
    memset(buf, (int)(b & 0xff), sizeof buf);
    if (write(fd, buf, sizeof buf) != sizeof buf) { printf("write: %s\n", strerror(errno)); return 2; }
  }
  close(fd);
  fd = open(path, O_RDONLY);
  if (fd < 0) return 3;
  for (long b = 0; b < mib * 16; b++) {
    size_t got = 0;
    while (got < sizeof buf) {
      ssize_t n = read(fd, buf + got, sizeof buf - got);
      if (n <= 0) { printf("short read\n"); return 4; }
      got += n;
    }
    if (buf[0] != (b & 0xff) || buf[sizeof buf - 1] != (b & 0xff)) { printf("bad data\n"); return 5; }
  }
  close(fd);
  printf("filerw ok %ld MiB ns=%lld\n", mib, now_ns() - t0);
  return 0;
}

/* Behaviours fixed after running the WASI testsuite (see README), in directory DIR. */
static int wasifix(const char *dir) {
  char a[256], b[256], l[256];
  snprintf(a, sizeof a, "%s/orig.txt", dir);
  snprintf(b, sizeof b, "%s/linked.txt", dir);
  snprintf(l, sizeof l, "%s/abs-link", dir);
  int fd = open(a, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0 || write(fd, "linked\n", 7) != 7) { printf("create: %s\n", strerror(errno)); return 1; }
  close(fd);
  if (link(a, b) != 0) { printf("link: %s\n", strerror(errno)); return 2; }
  char buf[16] = {0};
  fd = open(b, O_RDONLY);
  printf("open own hard link: %s\n", fd >= 0 && read(fd, buf, sizeof buf - 1) == 7 ? buf : strerror(errno));
  if (fd >= 0) close(fd);
  fd = open(dir, O_DIRECTORY | O_RDWR);
  printf("open dir read/write: %s\n", fd >= 0 ? "opened" : strerror(errno));
  if (fd >= 0) close(fd);
  printf("symlink to /: %s\n", symlink("/", l) == 0 ? "created" : strerror(errno));
  return 0;
}

/* Echoes stdin line by line until end of file; the exit code is the line count. */
static int lines(void) {
  char line[512];
  int n = 0;
  printf("lines: ready\n");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    n++;
    printf("got %d: %s", n, line);
    fflush(stdout);
  }
  printf("lines: eof after %d\n", n);
  return n;
}

int main(int argc, char **argv) {
  if (argc < 2) return hello(argc, argv);
  const char *cmd = argv[1];
  if (!strcmp(cmd, "hello")) return hello(argc, argv);
  if (!strcmp(cmd, "exit")) { printf("exiting with %s\n", argc > 2 ? argv[2] : "0"); return argc > 2 ? atoi(argv[2]) : 0; }
  if (!strcmp(cmd, "trap")) { printf("about to trap\n"); fflush(stdout); __builtin_trap(); }
  if (!strcmp(cmd, "lines")) return lines();
  if (!strcmp(cmd, "wasifix")) return wasifix(argv[2]);
  if (!strcmp(cmd, "cat")) return cat_file(argv[2]);
  if (!strcmp(cmd, "files")) return files(argc - 1, argv + 1);
  if (!strcmp(cmd, "escape")) return escape(argc - 1, argv + 1);
  if (!strcmp(cmd, "echo")) return echo(argc - 1, argv + 1);
  if (!strcmp(cmd, "cpu")) {
    long long t0 = now_ns();
    unsigned h = cpu(argc > 2 ? atol(argv[2]) : 100000);
    printf("cpu %u ns=%lld\n", h, now_ns() - t0);
    return 0;
  }
  if (!strcmp(cmd, "fdwrite")) return fdwrite(argc > 2 ? atol(argv[2]) : 100000);
  if (!strcmp(cmd, "filerw")) return filerw(argv[2], argc > 3 ? atol(argv[3]) : 64);
  printf("unknown command %s\n", cmd);
  return 64;
}
