# Sourced by the benchmarks: builds the tiny launcher that reports a command's own wait4(2)
# figures (its children included) as "wall user sys maxrss_kib", and sets $launcher to it (C when
# a compiler is around, else GNU time at 10 ms resolution, else `python`, which the harnesses
# then do with os.wait4). Needs $base, a directory for the built launcher.
read -r -d '' runstat_c <<'C' || true
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    struct timespec t0, t1;
    struct rusage ru;
    int status;
    if (argc < 3) { fprintf(stderr, "usage: runstat OUT COMMAND...\n"); return 125; }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 125; }
    if (pid == 0) { execvp(argv[2], argv + 2); perror(argv[2]); _exit(127); }
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 125; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *out = fopen(argv[1], "w");
    if (!out) { perror(argv[1]); return 125; }
    fprintf(out, "%.6f %ld.%06ld %ld.%06ld %ld\n",
            (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
            (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
    fclose(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
C
launcher=python
runstat="$base/runstat-$(printf '%s' "$runstat_c" | sha1sum | cut -c1-12)"
if [ -x "$runstat" ] || { command -v cc >/dev/null && printf '%s\n' "$runstat_c" | cc -O2 -x c -o "$runstat" - 2>/dev/null; }; then
    launcher=$runstat
elif command -v /usr/bin/time >/dev/null && /usr/bin/time -f '%M' -o /dev/null true 2>/dev/null; then
    launcher=/usr/bin/time
fi
