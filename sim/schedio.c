/* schedio.c - a run described outside the process: schedule files, and the options a
 * test program takes from the environment.
 *
 * A schedule file is text:
 *
 *   kernsim-schedule 1
 *   # found by random, seed 0x1, schedule 7
 *   scenario NAME
 *   cpus N
 *   steps S
 *   choices DDDD...      (S characters, one a decision: a digit runs that CPU;
 *                         a letter delivers an interrupt to CPU 0 (a), 1 (b)...
 *                         and runs it; a capital runs a step of device 0 (A),
 *                         1 (B)...)
 *
 * Reading one checks every line and that it belongs to the scenario being run. */
#include "sched_internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *strategy_name(enum sim_strategy s)
{
    static const char *names[] = {"random", "pct", "dfs", "replay"};
    return (unsigned)s < 4 ? names[s] : "?";
}

int sim_schedfile_write(const char *path, const struct sim_explore_opts *o,
                        const struct sim_scenario *sc, uint64_t index, uint64_t steps)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "kernsim sched: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "kernsim-schedule 1\n# found by %s, seed 0x%lx, schedule %lu\nscenario %s\n"
            "cpus %u\nsteps %lu\nchoices ",
            strategy_name(o->strategy), (unsigned long)o->seed, (unsigned long)index, sc->name,
            sc->ncpus, (unsigned long)steps);
    for (uint64_t i = 0; i < steps; i++) {
        unsigned c = sim_strategy_choice(i);
        fputc(c < SIM_PICK_IRQ     ? '0' + (int)c
              : c < SIM_PICK_AGENT ? 'a' + (int)(c - SIM_PICK_IRQ)
                                   : 'A' + (int)(c - SIM_PICK_AGENT),
              f);
    }
    fputc('\n', f);
    return fclose(f) ? -1 : 0;
}

int sim_schedfile_read(const char *path, const struct sim_scenario *sc, uint64_t max_steps)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kernsim sched: cannot read schedule %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256], name[128] = "";
    unsigned cpus = 0;
    unsigned long steps = 0;
    bool magic = false, have_choices = false;
    int err = 0, c;
    uint64_t n = 0;
    uint8_t *choices = NULL;
    while (!err && !have_choices && fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (!strcmp(line, "kernsim-schedule 1\n"))
            magic = true;
        else if (magic &&
                 (sscanf(line, "scenario %127s", name) == 1 ||
                  sscanf(line, "cpus %u", &cpus) == 1 || sscanf(line, "steps %lu", &steps) == 1))
            ; /* a header line, read into name, cpus or steps */
        else if (magic && (!strcmp(line, "choices \n") || !strncmp(line, "choices ", 8))) {
            have_choices = true;
            fseek(f, -(long)strlen(line) + 8, SEEK_CUR);
        } else
            err = 1;
    }
    if (!err && (!magic || !have_choices || !steps || steps > max_steps))
        err = 1;
    if (!err && (strcmp(name, sc->name) || cpus != sc->ncpus)) {
        fprintf(stderr, "kernsim sched: %s is a schedule for '%s' on %u CPUs, not '%s' on %u\n",
                path, name, cpus, sc->name, sc->ncpus);
        fclose(f);
        return -1;
    }
    if (!err) {
        choices = malloc(steps);
        while (choices && n < steps && (c = fgetc(f)) != EOF &&
               ((c >= '0' && c < '0' + (int)cpus) || (c >= 'a' && c < 'a' + (int)cpus) ||
                (c >= 'A' && c < 'A' + SIM_PICK_AGENTS)))
            choices[n++] = (uint8_t)(c >= 'a'   ? SIM_PICK_IRQ + (c - 'a')
                                     : c >= 'A' ? SIM_PICK_AGENT + (c - 'A')
                                                : c - '0');
        c = fgetc(f);
        if (!choices || n != steps || (c != '\n' && c != EOF))
            err = 1;
    }
    fclose(f);
    if (err) {
        free(choices);
        fprintf(stderr, "kernsim sched: %s is not a valid schedule file\n", path);
        return -1;
    }
    sim_strategy_replay(choices, n);
    return 0;
}

/* An environment variable's number into *out, if it is set; false (said) if it is
 * set to something else. */
static bool env_number(const char *name, const char *value, uint64_t *out)
{
    if (!value)
        return true;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 0);
    if (errno || !*value || *end) {
        fprintf(stderr, "kernsim sched: %s=%s is not a number\n", name, value);
        return false;
    }
    *out = v;
    return true;
}

int sim_explore_opts_from_env(struct sim_explore_opts *out)
{
    struct sim_explore_opts copy = *out, *o = &copy; /* *out changes only if all parse */
    const char *s = getenv("KERNSIM_STRATEGY"), *seed = getenv("KERNSIM_SEED"),
               *n = getenv("KERNSIM_SCHEDULES");
    if (s) {
        if (!strcmp(s, "random"))
            o->strategy = SIM_RANDOM;
        else if (!strcmp(s, "pct"))
            o->strategy = SIM_PCT;
        else if (!strcmp(s, "dfs"))
            o->strategy = SIM_DFS;
        else if (!strncmp(s, "replay:", 7) && s[7])
            o->strategy = SIM_REPLAY, o->replay = s + 7;
        else {
            fprintf(stderr,
                    "kernsim sched: KERNSIM_STRATEGY=%s: expected random, pct, dfs or "
                    "replay:FILE\n",
                    s);
            return -1;
        }
    }
    if (!env_number("KERNSIM_SEED", seed, &o->seed) ||
        !env_number("KERNSIM_SCHEDULES", n, &o->schedules))
        return -1;
    *out = copy;
    return 0;
}
